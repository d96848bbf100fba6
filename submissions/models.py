"""Submissions: a participant's checkpoint, its way through the scoring queue, its outcome."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from competitions.models import Phase


class Submission(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SCORED = "scored", "Scored"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    FINAL_STATUSES = (Status.SCORED, Status.FAILED, Status.CANCELLED)

    # Unguessable: submission pages and API URLs carry the id.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="submissions")
    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions"
    )
    description = models.CharField(max_length=500, blank=True)
    is_baseline = models.BooleanField(
        default=False, help_text="An organizer's reference; never counts against a quota."
    )
    selected_for_final = models.BooleanField(default=False)

    architecture = models.CharField(max_length=50)
    config = models.JSONField(default=dict, blank=True)
    io_range = models.CharField(max_length=8)
    checkpoint = models.FileField(max_length=255)
    checkpoint_name = models.CharField(max_length=255, help_text="The uploaded file's name.")
    checkpoint_format = models.CharField(max_length=20)
    checkpoint_sha256 = models.CharField(max_length=64)
    checkpoint_size = models.PositiveBigIntegerField()
    param_count = models.PositiveBigIntegerField()

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage = models.CharField(max_length=100, blank=True)
    progress = models.FloatField(default=0.0)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    # Organizer-only: the worker's steps with timings, and internal error details.
    log = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    deadline = models.DateTimeField(null=True, blank=True)
    # Written with every progress update: a running submission whose heartbeat stops has lost
    # its worker, whatever its deadline says.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    scoring_fingerprint = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["phase", "participant", "created_at"]),
            models.Index(fields=["status", "deadline"]),
            models.Index(fields=["status", "enqueued_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1),
                name="submission_progress_fraction",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(error_code=""),
                name="submission_failed_has_error_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} · {self.architecture} · {self.status}"

    def get_absolute_url(self) -> str:
        return reverse("submission_detail", kwargs={"pk": self.pk})

    @property
    def challenge(self):  # type: ignore[no-untyped-def]
        return self.phase.challenge

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES
