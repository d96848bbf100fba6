"""Template helpers for leaderboard features on other apps' pages."""

from __future__ import annotations

from django import template

from submissions.models import Submission
from submissions.selectors import AnyUser, FinalSelection, final_selection

register = template.Library()


@register.simple_tag
def final_selection_of(submission: Submission, user: AnyUser) -> FinalSelection:
    """`{% final_selection_of submission user as selection %}` on the submission page."""
    return final_selection(submission=submission, user=user)
