"""Tasks of the `scoring` queue that belong to the scoring app (thin: load by id, call the
service), and how to queue them. Scoring a submission and training a baseline are
`submissions.lifecycle.score` and `submissions.baseline.train`."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from competitions.models import Challenge
from scoring.models import ScoringProfile
from scoring.services import judge_train


@shared_task(name="scoring.tasks.judge_train")
def judge_train_task(challenge_id: int) -> str:
    challenge = Challenge.objects.get(pk=challenge_id)
    return judge_train(challenge=challenge).judge_status


def judge_train_enqueue(*, profile: ScoringProfile) -> None:
    """Mark the challenge's judge as training and queue its training on the `scoring` queue,
    once the caller's transaction commits."""
    ScoringProfile.objects.filter(pk=profile.pk).update(
        judge_status=ScoringProfile.JudgeStatus.TRAINING
    )
    transaction.on_commit(
        lambda: judge_train_task.apply_async(
            args=[profile.challenge_id], queue=profile.challenge.scoring_queue
        ),
        robust=True,
    )
