from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ForumConfig(AppConfig):
    name = "forum"
    verbose_name = "Forum"

    def ready(self) -> None:
        from accounts.roles import organizers_group_ensure

        # The competitions app fills the organizers group when its own permissions exist;
        # the forum's are created after that on a fresh database, so fill it again here.
        post_migrate.connect(organizers_group_ensure, sender=self)
