"""Organizer baselines: train a generator on a challenge's public data and submit it.

The baseline is what a participant gets from the starter kit: the same trainer
(models/training), the same public photos and style images, the metric network the scorer
uses. It is submitted like any checkpoint, flagged `is_baseline`, by an organizer, and scored
by the pipeline; it never counts against a quota. Organizers ask for one in the admin
(`competitions.services.baseline_request` sends the task below by its name) or with
`manage.py train_baseline`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from celery import shared_task
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from competitions.errors import BASELINE_ORGANIZERS_ONLY
from competitions.models import Challenge, ChallengeImage
from competitions.selectors import user_organizes
from competitions.services import BASELINE_TASK
from competitions.training import baseline_settings
from config.errors import ApplicationError, refusal
from models.training import (
    StepLosses,
    TrainingError,
    TrainingResult,
    TrainingSettings,
    loss_network,
    train,
)
from scoring.services import images_load
from submissions import errors
from submissions.models import Submission
from submissions.services import submission_create

logger = logging.getLogger(__name__)

DESCRIPTION = "Baseline: {architecture} width {width}, {steps} steps of the starter-kit trainer"


def baseline_train(
    *,
    challenge: Challenge,
    settings: TrainingSettings,
    output_dir: Path,
    device: str = "cpu",
    progress: Callable[[StepLosses, int], None] | None = None,
    resume: bool = False,
) -> TrainingResult:
    """Train on the challenge's public photos and style images with the trainer's VGG19 loss
    network (the configured weights file, else a seeded random VGG19);
    `resume` continues the run saved in `output_dir` up to the new `settings.steps`."""
    public = challenge.images.filter(split=ChallengeImage.Split.PUBLIC).order_by("sha256")
    content = list(public.filter(kind=ChallengeImage.Kind.CONTENT))
    styles = list(public.filter(kind=ChallengeImage.Kind.STYLE))
    if not content or not styles:
        raise refusal(errors.NO_TRAINING_IMAGES)
    try:
        return train(
            settings,
            list(images_load(content)),
            list(images_load(styles)),
            output_dir=output_dir,
            device=device,
            vgg=loss_network(
                vgg_weights=django_settings.ATELIER_VGG19_WEIGHTS or None,
                vgg_seed=settings.vgg_seed,
            ),
            progress=progress,
            resume=resume,
        )
    except TrainingError as error:
        raise ApplicationError(error.code, error.message) from error


def baseline_train_and_submit(
    *,
    challenge: Challenge,
    user: AbstractBaseUser,
    settings: TrainingSettings | None = None,
    device: str = "cpu",
    progress: Callable[[StepLosses, int], None] | None = None,
) -> Submission:
    """Train a baseline and submit it as `user` (an organizer of the challenge)."""
    if not user_organizes(user, challenge):
        raise refusal(BASELINE_ORGANIZERS_ONLY)
    settings = settings or baseline_settings(challenge=challenge)
    with tempfile.TemporaryDirectory(prefix="atelier-baseline-") as folder:
        result = baseline_train(
            challenge=challenge,
            settings=settings,
            output_dir=Path(folder),
            device=device,
            progress=progress,
        )
        assert result.checkpoint is not None
        submission = submission_create(
            user=user,
            challenge=challenge,
            checkpoint_path=result.checkpoint,
            checkpoint_name=f"baseline-{result.architecture}.safetensors",
            architecture=result.architecture,
            io_range=str(result.io_range),
            description=DESCRIPTION.format(
                architecture=result.architecture, width=settings.width, steps=settings.steps
            ),
            is_baseline=True,
        )
    logger.info("baseline %s submitted for %s", submission.pk, challenge.slug)
    return submission


def baseline_user(*, challenge: Challenge, username: str | None) -> AbstractBaseUser:
    """The named user, or the challenge's first organizer (by id)."""
    users = get_user_model().objects
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise refusal(errors.UNKNOWN_USER, username=username)
        return user
    organizer = challenge.organizers.order_by("pk").first()
    if organizer is None:
        raise refusal(errors.NO_ORGANIZER)
    return organizer


@shared_task(name=BASELINE_TASK)
def baseline_train_task(challenge_id: int, user_id: int, steps: int) -> str:
    """On the `scoring` queue: train the challenge's baseline and submit it as the user."""
    challenge = Challenge.objects.get(pk=challenge_id)
    submission = baseline_train_and_submit(
        challenge=challenge,
        user=get_user_model().objects.get(pk=user_id),
        settings=baseline_settings(challenge=challenge, steps=steps),
        device=django_settings.ATELIER_SCORING_DEVICE,
    )
    return str(submission.pk)
