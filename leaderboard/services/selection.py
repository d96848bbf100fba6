"""Selecting submissions for the final ranking, in phases whose rule ranks selections."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from competitions.models import Participation, Phase
from config.errors import refusal
from leaderboard import errors
from leaderboard.models import Disqualification
from leaderboard.services.boards import leaderboard_participant_refresh
from submissions.models import Submission


@transaction.atomic
def submission_final_select(
    *, submission: Submission, user: AbstractBaseUser, selected: bool
) -> Submission:
    """Select (or unselect) one of the user's scored submissions for the final ranking."""
    phase = submission.phase
    if submission.participant_id != user.pk:
        raise refusal(errors.SELECT_NOT_YOURS)
    if submission.is_baseline:
        raise refusal(errors.SELECT_BASELINE)
    if phase.representation != Phase.Representation.SELECTED:
        representation = phase.get_representation_display().lower()
        raise refusal(errors.SELECT_NOT_USED, phase=phase.name, representation=representation)
    if timezone.now() >= phase.ends_at:
        raise refusal(errors.SELECT_CLOSED, phase=phase.name)
    if selected:
        _check_selectable(submission, user)
    Submission.objects.filter(pk=submission.pk).update(selected_for_final=selected)
    submission.selected_for_final = selected
    leaderboard_participant_refresh(phase=phase, participant=user)
    return submission


def _check_selectable(submission: Submission, user: AbstractBaseUser) -> None:
    if submission.status != Submission.Status.SCORED:
        raise refusal(errors.SELECT_NOT_SCORED)
    if Disqualification.objects.filter(submission=submission).exists():
        raise refusal(errors.SELECT_DISQUALIFIED)
    # Serialise this participant's selections: two requests at once cannot pass the limit.
    Participation.objects.select_for_update().filter(
        user=user, challenge_id=submission.phase.challenge_id
    ).first()
    used = (
        Submission.objects.filter(
            phase=submission.phase,
            participant=user,
            selected_for_final=True,
            disqualification__isnull=True,
        )
        .exclude(pk=submission.pk)
        .count()
    )
    if used >= submission.phase.max_selected:
        raise refusal(errors.SELECT_LIMIT, limit=submission.phase.max_selected)
