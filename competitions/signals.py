"""What competitions announce to the apps above them (ARCHITECTURE.md, "Upward notices")."""

from __future__ import annotations

from django.dispatch import Signal

# A participation was approved, rejected or banned; arguments: `participation`. The
# leaderboard refreshes the participant's rows in every phase of the challenge.
participation_decided = Signal()
# What orders a phase's boards changed (its ranking settings), or an organizer asked for the
# boards to be rebuilt; arguments: `phase`. The leaderboard recomputes the phase's boards.
phase_ranking_changed = Signal()
