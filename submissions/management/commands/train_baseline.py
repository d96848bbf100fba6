"""python manage.py train_baseline SLUG: train the starter-kit baseline and submit it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from competitions.models import Challenge
from competitions.training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CROP,
    DEFAULT_STEPS,
    DEFAULT_WIDTH,
    baseline_settings,
)
from config.errors import ApplicationError
from models.training.cli import ProgressBar
from submissions.baseline import baseline_train, baseline_train_and_submit, baseline_user


class Command(BaseCommand):
    help = (
        "Train a baseline generator on a challenge's public data with the starter-kit trainer "
        "and submit it as a baseline (or only write the checkpoint with --out)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the challenge")
        parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
        parser.add_argument("--width", type=int, default=DEFAULT_WIDTH)
        parser.add_argument("--crop", type=int, default=DEFAULT_CROP)
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--user", help="submit as this organizer (default: the first one)")
        parser.add_argument(
            "--out", type=Path, help="only train, writing checkpoint and samples to this folder"
        )
        parser.add_argument("--device", default=settings.ATELIER_SCORING_DEVICE)

    def handle(self, *args: Any, **options: Any) -> None:
        challenge = Challenge.objects.filter(slug=options["slug"]).first()
        if challenge is None:
            raise CommandError(f"There is no challenge “{options['slug']}”.")
        training = baseline_settings(
            challenge=challenge,
            steps=options["steps"],
            width=options["width"],
            crop=options["crop"],
            batch_size=options["batch_size"],
            seed=options["seed"],
        )
        progress = ProgressBar()
        try:
            if options["out"]:
                result = baseline_train(
                    challenge=challenge,
                    settings=training,
                    output_dir=options["out"],
                    device=options["device"],
                    progress=progress,
                )
                self.stdout.write(f"Checkpoint written to {result.checkpoint}.")
                return
            user = baseline_user(challenge=challenge, username=options["user"])
            submission = baseline_train_and_submit(
                challenge=challenge,
                user=user,
                settings=training,
                device=options["device"],
                progress=progress,
            )
        except ApplicationError as error:
            raise CommandError(f"{error.message} ({error.code})") from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Baseline submission {submission.pk} queued for {challenge.slug} "
                f"({training.steps} steps, width {training.width})."
            )
        )
