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
from leaderboard.services.disqualification import (
    ALREADY_DISQUALIFIED,
    submission_disqualify,
    submission_requalify,
)
from leaderboard.services.selection import (
    SELECT_BASELINE,
    SELECT_CLOSED,
    SELECT_DISQUALIFIED,
    SELECT_LIMIT,
    SELECT_NOT_SCORED,
    SELECT_NOT_USED,
    SELECT_NOT_YOURS,
    submission_final_select,
)

__all__ = [
    "ALREADY_DISQUALIFIED",
    "SELECT_BASELINE",
    "SELECT_CLOSED",
    "SELECT_DISQUALIFIED",
    "SELECT_LIMIT",
    "SELECT_NOT_SCORED",
    "SELECT_NOT_USED",
    "SELECT_NOT_YOURS",
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
