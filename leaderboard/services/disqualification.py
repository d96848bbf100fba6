"""Disqualification: an organizer takes a submission off the leaderboards, or puts it back."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from config.errors import refusal
from leaderboard import errors
from leaderboard.models import Disqualification
from leaderboard.services.boards import submission_boards_refresh
from submissions.models import Submission

logger = logging.getLogger(__name__)


@transaction.atomic
def submission_disqualify(
    *, submission: Submission, reason: str, by: AbstractBaseUser
) -> Disqualification:
    """Take a submission off the leaderboards for good, telling its participant why."""
    if Disqualification.objects.filter(submission=submission).exists():
        raise refusal(errors.ALREADY_DISQUALIFIED)
    disqualification = Disqualification(submission=submission, reason=reason.strip(), decided_by=by)
    disqualification.full_clean()
    disqualification.save()
    submission_boards_refresh(submission)
    logger.info("submission %s disqualified by %s", submission.pk, by.get_username())
    return disqualification


@transaction.atomic
def submission_requalify(*, submission: Submission) -> None:
    """Undo a disqualification: the submission ranks again."""
    Disqualification.objects.filter(submission=submission).delete()
    submission_boards_refresh(submission)
