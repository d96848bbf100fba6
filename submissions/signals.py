"""What submissions announce to the apps above them (ARCHITECTURE.md, "Upward notices")."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once the transaction that recorded a submission's results has committed; arguments:
# `submission_id`. The leaderboard brings the phase's boards up to date.
submission_scored = Signal()
