"""Tasks of the `scoring` queue (thin: load by id, call the service)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from competitions.models import Challenge
from scoring.services import judge_train
from submissions.pipeline import submission_score as submission_score_service


@shared_task(name="scoring.tasks.submission_score", bind=True)
def submission_score(self, submission_id: str) -> str:  # type: ignore[no-untyped-def]
    return submission_score_service(submission_id=submission_id, worker=self.request.hostname)


@shared_task(name="scoring.tasks.judge_train")
def judge_train_task(challenge_id: int) -> str:
    challenge = Challenge.objects.get(pk=challenge_id)
    return judge_train(challenge=challenge).judge_status


@shared_task(name="scoring.tasks.baseline_train")
def baseline_train_task(challenge_id: int, user_id: int, steps: int) -> str:
    from django.contrib.auth import get_user_model

    from competitions.training import baseline_settings
    from scoring.baseline import baseline_train_and_submit

    challenge = Challenge.objects.get(pk=challenge_id)
    user = get_user_model().objects.get(pk=user_id)
    submission = baseline_train_and_submit(
        challenge=challenge,
        user=user,
        settings=baseline_settings(challenge=challenge, steps=steps),
        device=settings.ATELIER_SCORING_DEVICE,
    )
    return str(submission.pk)
