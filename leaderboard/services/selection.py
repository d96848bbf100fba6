"""Selecting submissions for the final ranking, in phases whose rule ranks selections."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from competitions.models import Participation, Phase
from config.errors import ApplicationError
from leaderboard.models import Disqualification
from leaderboard.services.boards import leaderboard_participant_refresh
from submissions.models import Submission

SELECT_NOT_YOURS = "Only the participant who submitted it can select a submission."
SELECT_BASELINE = "Baselines are not ranked, so they cannot be selected."
SELECT_NOT_USED = (
    "The phase “{phase}” ranks each participant's {representation}; there is nothing to select."
)
SELECT_CLOSED = "Selections closed when the phase “{phase}” ended."
SELECT_NOT_SCORED = "Only scored submissions can be selected for the final ranking."
SELECT_DISQUALIFIED = "This submission was disqualified; it cannot be selected."
SELECT_LIMIT = (
    "You have already selected {limit} submission(s), the most this phase allows; "
    "unselect one first."
)


@transaction.atomic
def submission_final_select(
    *, submission: Submission, user: AbstractBaseUser, selected: bool
) -> Submission:
    """Select (or unselect) one of the user's scored submissions for the final ranking."""
    phase = submission.phase
    if submission.participant_id != user.pk:
        raise ApplicationError("selection_not_yours", SELECT_NOT_YOURS)
    if submission.is_baseline:
        raise ApplicationError("selection_baseline", SELECT_BASELINE)
    if phase.representation != Phase.Representation.SELECTED:
        representation = phase.get_representation_display().lower()
        raise ApplicationError(
            "selection_not_used",
            SELECT_NOT_USED.format(phase=phase.name, representation=representation),
        )
    if timezone.now() >= phase.ends_at:
        raise ApplicationError("selection_closed", SELECT_CLOSED.format(phase=phase.name))
    if selected:
        _check_selectable(submission, user)
    Submission.objects.filter(pk=submission.pk).update(selected_for_final=selected)
    submission.selected_for_final = selected
    leaderboard_participant_refresh(phase=phase, participant=user)
    return submission


def _check_selectable(submission: Submission, user: AbstractBaseUser) -> None:
    if submission.status != Submission.Status.SCORED:
        raise ApplicationError("selection_not_scored", SELECT_NOT_SCORED)
    if Disqualification.objects.filter(submission=submission).exists():
        raise ApplicationError("selection_disqualified", SELECT_DISQUALIFIED)
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
        raise ApplicationError(
            "selection_limit", SELECT_LIMIT.format(limit=submission.phase.max_selected)
        )
