"""python manage.py seed_demo: demo accounts and the demo challenge (idempotent)."""

from __future__ import annotations

from typing import Any

import environ
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.services import DEMO_SEED, TRAINING_STEPS, demo_seed

DEFAULT_PASSWORD = "atelier-demo"


class Command(BaseCommand):
    help = (
        "Create the demo organizer and participants, the demo challenge and its leaderboard "
        "entries (three lengths of one starter-kit run, identity and blur baselines, a flat "
        "colour), where missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=DEMO_SEED, help="Image seed.")
        parser.add_argument(
            "--training-steps",
            type=int,
            default=TRAINING_STEPS,
            help="Steps of the longest demo training run (the others are shares of it).",
        )
        parser.add_argument(
            "--no-entries",
            action="store_true",
            help="Submit nothing: no trained entries, no baselines.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with production settings (the demo accounts have known passwords).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.ATELIER_ENVIRONMENT == "production" and not options["force"]:
            raise CommandError(
                "seed_demo creates accounts with a known password; "
                "refusing under production settings without --force."
            )
        password = environ.Env().str("ATELIER_DEMO_PASSWORD", default=DEFAULT_PASSWORD)
        steps = None if options["no_entries"] else options["training_steps"]
        if steps is not None:
            self.stdout.write(f"Training the demo entries if missing (up to {steps} steps)…")
        result = demo_seed(password=password, seed=options["seed"], training_steps=steps)
        challenge = result.challenge
        verb = "Created" if result.created_challenge else "Found"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} the demo challenge “{challenge.title}” ({challenge.slug}).")
        )
        self.stdout.write(f"  organizer   / {result.password}   (staff: /admin/)")
        self.stdout.write(f"  participant / {result.password}")
        for submission in result.submissions:
            self.stdout.write(
                f"  queued: {submission.participant.username}: {submission.description} "
                f"({submission.pk})"
            )
