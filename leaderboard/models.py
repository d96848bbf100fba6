"""Materialised leaderboards: one entry per phase × leaderboard × participant (or baseline)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from competitions.models import Phase
from scoring.models import Leaderboard, Result
from submissions.models import Submission


class LeaderboardEntry(models.Model):
    """A row of a leaderboard, written only by `leaderboard.services`.

    Ranks are not stored: `sort_key` orders the rows (ranking.order_bytes), and selectors
    number the participants' rows in the query, so that a new result rewrites one row instead
    of renumbering everyone below it.
    """

    class Selection(models.TextChoices):
        BEST = "best", "Best submission"
        LATEST = "latest", "Latest submission"
        SELECTED = "selected", "Selected for the final ranking"
        AUTO = "auto", "None selected: the best public submissions stand in"
        BASELINE = "baseline", "Baseline"

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="leaderboard_entries")
    leaderboard = models.CharField(max_length=10, choices=Leaderboard.choices)
    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="leaderboard_entries"
    )
    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="+")
    is_baseline = models.BooleanField(default=False)
    selection = models.CharField(max_length=10, choices=Selection.choices)
    # The rule's number: the composite, the primary metric, the weighted score or the average
    # rank; None when the result lacks a metric the rule needs.
    score = models.FloatField(null=True, blank=True)
    sort_key = models.BinaryField(max_length=128)
    # The participant's eligible scored submissions in the phase, and the latest of them.
    submission_count = models.PositiveIntegerField()
    last_submitted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["phase", "leaderboard", "submission"], name="entry_unique_submission"
            ),
            models.UniqueConstraint(
                fields=["phase", "leaderboard", "participant"],
                condition=Q(is_baseline=False),
                name="entry_unique_participant",
            ),
        ]
        indexes = [
            models.Index(fields=["phase", "leaderboard", "sort_key"], name="entry_order"),
            models.Index(
                fields=["phase", "leaderboard", "is_baseline", "sort_key"], name="entry_rank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phase} {self.leaderboard}: {self.participant_id}"


class LeaderboardSummary(models.Model):
    """One phase × leaderboard as a whole: the rule it was ranked by, the chart."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="leaderboard_summaries")
    leaderboard = models.CharField(max_length=10, choices=Leaderboard.choices)
    # {"kind", "metrics", "weights", "representation", "max_selected"} at the last recompute.
    rule = models.JSONField(default=dict)
    # The best score over time: [[ISO time, value, submission id], ...], improvements only.
    history = models.JSONField(default=list)
    # [[baseline description, chart value], ...]: drawn as reference lines on the chart.
    baselines = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["phase", "leaderboard"], name="summary_unique_board")
        ]

    def __str__(self) -> str:
        return f"{self.phase} {self.leaderboard} leaderboard"


class Disqualification(models.Model):
    """An organizer's decision that a submission never appears on a leaderboard."""

    submission = models.OneToOneField(
        Submission, on_delete=models.CASCADE, related_name="disqualification"
    )
    reason = models.TextField(help_text="Shown to the participant on their submission's page.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Disqualification of {self.submission_id}"
