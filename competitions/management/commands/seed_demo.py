"""python manage.py seed_demo: demo accounts and the demo challenge (idempotent)."""

from __future__ import annotations

from typing import Any

import environ
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from competitions.demo import BASELINE_STEPS, DEMO_SEED, demo_seed

DEFAULT_PASSWORD = "atelier-demo"


class Command(BaseCommand):
    help = (
        "Create the demo organizer and participant, the demo challenge and its two baselines "
        "(identity and trained), where missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=DEMO_SEED, help="Image seed.")
        parser.add_argument(
            "--baseline-steps",
            type=int,
            default=BASELINE_STEPS,
            help="Training steps of the demo's trained baseline.",
        )
        parser.add_argument(
            "--no-baseline",
            action="store_true",
            help="Submit no baselines (neither the identity nor the trained one).",
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
        steps = None if options["no_baseline"] else options["baseline_steps"]
        if steps is not None:
            self.stdout.write(f"Training the demo baseline if missing ({steps} steps)…")
        result = demo_seed(password=password, seed=options["seed"], baseline_steps=steps)
        challenge = result.challenge
        verb = "Created" if result.created_challenge else "Found"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} the demo challenge “{challenge.title}” ({challenge.slug}).")
        )
        self.stdout.write(f"  organizer   / {result.password}   (staff: /admin/)")
        self.stdout.write(f"  participant / {result.password}")
        for submission in result.baselines:
            self.stdout.write(f"  baseline queued: {submission.description} ({submission.pk})")
