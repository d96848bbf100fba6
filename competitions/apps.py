from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CompetitionsConfig(AppConfig):
    name = "competitions"
    verbose_name = "Challenges"

    def ready(self) -> None:
        from accounts.roles import organizers_group_ensure

        # Permissions only exist after migrate has created them, so the group is kept in
        # step here rather than in a data migration.
        post_migrate.connect(organizers_group_ensure, sender=self)
