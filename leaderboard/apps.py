from __future__ import annotations

from django.apps import AppConfig

from competitions.signals import participation_decided, phase_ranking_changed
from submissions.signals import submission_scored


class LeaderboardConfig(AppConfig):
    name = "leaderboard"
    verbose_name = "Leaderboards"

    def ready(self) -> None:
        # The receivers use models, which exist only once every app is loaded.
        from leaderboard import receivers

        submission_scored.connect(receivers.on_submission_scored, dispatch_uid="leaderboard")
        participation_decided.connect(
            receivers.on_participation_decided, dispatch_uid="leaderboard"
        )
        phase_ranking_changed.connect(
            receivers.on_phase_ranking_changed, dispatch_uid="leaderboard"
        )
