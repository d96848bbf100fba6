from __future__ import annotations

from django.apps import AppConfig


class LeaderboardConfig(AppConfig):
    name = "leaderboard"
    verbose_name = "Leaderboards"

    def ready(self) -> None:
        from competitions.roles import ORGANIZER_PERMISSIONS

        # Organizers disqualify submissions of their challenges in the admin.
        ORGANIZER_PERMISSIONS.append(
            ("leaderboard", "disqualification", ("view", "add", "change", "delete"))
        )
