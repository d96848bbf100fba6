"""Emails about submissions (console backend by default; SMTP through EMAIL_URL)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail, send_mass_mail

from submissions.models import Submission

logger = logging.getLogger(__name__)

SCORED_SUBJECT = "Your submission to {challenge} is scored"
FAILED_SUBJECT = "Your submission to {challenge} failed"
SCORED_BODY = """Your submission "{description}" to {challenge} ({phase}) is scored.

See its scores and gallery at {url}
"""
FAILED_BODY = """Your submission "{description}" to {challenge} ({phase}) failed.

{code}: {message}

Details: {url}
"""
ORGANIZER_SUBJECT = "Scoring failed on the platform's side: {challenge}"
ORGANIZER_BODY = """A submission to {challenge} failed for an infrastructure reason after
{attempts} attempts; it is not the participant's fault.

Submission: {id} by {participant}
Last error: {error}
"""


def _site_url(path: str) -> str:
    return settings.ATELIER_SITE_URL.rstrip("/") + path


def notify_participant(*, submission_id: object) -> None:
    """Tell the participant their submission is scored or failed (never the private scores)."""
    submission = Submission.objects.select_related("phase__challenge", "participant").get(
        pk=submission_id
    )
    if not submission.participant.email:
        return
    fields = {
        "challenge": submission.phase.challenge.title,
        "phase": submission.phase.name,
        "description": submission.description or submission.checkpoint_name,
        "url": _site_url(submission.get_absolute_url()),
        "code": submission.error_code,
        "message": submission.error_message,
    }
    scored = submission.status == Submission.Status.SCORED
    subject = (SCORED_SUBJECT if scored else FAILED_SUBJECT).format(**fields)
    body = (SCORED_BODY if scored else FAILED_BODY).format(**fields)
    try:
        send_mail(subject, body, None, [submission.participant.email])
    except OSError:
        logger.exception("could not email %s about %s", submission.participant, submission.pk)


def notify_infrastructure_failure(*, submission_id: object, error: str) -> None:
    """Tell the challenge's organizers that the platform, not a participant, failed."""
    submission = Submission.objects.select_related("phase__challenge", "participant").get(
        pk=submission_id
    )
    challenge = submission.phase.challenge
    recipients = [user.email for user in challenge.organizers.all() if user.email]
    if not recipients:
        return
    body = ORGANIZER_BODY.format(
        challenge=challenge.title,
        attempts=submission.attempts,
        id=submission.pk,
        participant=submission.participant,
        error=error[:500],
    )
    message = (ORGANIZER_SUBJECT.format(challenge=challenge.title), body, None, recipients)
    try:
        send_mass_mail([message])
    except OSError:
        logger.exception("could not email the organizers of %s", challenge.slug)
