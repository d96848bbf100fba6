"""The leaderboard's answers to what the apps below it announce (ARCHITECTURE.md, "Upward
notices"): connected in `LeaderboardConfig.ready`."""

from __future__ import annotations

from typing import Any

from competitions.models import Participation, Phase
from leaderboard.services import (
    leaderboard_recompute,
    leaderboard_submission_update,
    participation_leaderboards_refresh,
)


def on_submission_scored(*, submission_id: object, **_: Any) -> None:
    leaderboard_submission_update(submission_id=submission_id)


def on_participation_decided(*, participation: Participation, **_: Any) -> None:
    participation_leaderboards_refresh(participation=participation)


def on_phase_ranking_changed(*, phase: Phase, **_: Any) -> None:
    leaderboard_recompute(phase=phase)
