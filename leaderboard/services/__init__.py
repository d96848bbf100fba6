"""Writes for leaderboards, one module per concern: the boards' recomputation (`boards`),
disqualification (`disqualification`) and the final selection (`selection`)."""

from __future__ import annotations

from leaderboard.services.boards import (
    eligible_results,
    leaderboard_participant_refresh,
    leaderboard_recompute,
    leaderboard_submission_update,
    participation_leaderboards_refresh,
    submission_boards_refresh,
)
from leaderboard.services.disqualification import submission_disqualify, submission_requalify
from leaderboard.services.selection import submission_final_select

__all__ = [
    "eligible_results",
    "leaderboard_participant_refresh",
    "leaderboard_recompute",
    "leaderboard_submission_update",
    "participation_leaderboards_refresh",
    "submission_boards_refresh",
    "submission_disqualify",
    "submission_final_select",
    "submission_requalify",
]
