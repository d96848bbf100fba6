"""python manage.py import_challenge PATH: import a challenge bundle (zip or folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from competitions.services import challenge_bundle_import
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Import a challenge bundle: a zip or folder with challenge.toml and image folders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The bundle (zip file or folder).")
        parser.add_argument(
            "--organizer", help="Username of a user to make an organizer of the challenge."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder.")
        organizer = None
        if options["organizer"]:
            organizer = get_user_model().objects.filter(username=options["organizer"]).first()
            if organizer is None:
                raise CommandError(f"No user named {options['organizer']!r}.")

        def progress(done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                self.stdout.write(f"  images checked: {done}/{total}")

        try:
            challenge = challenge_bundle_import(source=path, organizer=organizer, progress=progress)
        except ApplicationError as error:
            raise CommandError(f"{error.message} [{error.code}]") from error
        images = challenge.images.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported “{challenge.title}” ({challenge.slug}): {images} images, "
                f"{challenge.phases.count()} phase(s), status {challenge.status}."
            )
        )
