"""Scoring profiles (metric settings and the judge), reference caches, results, galleries."""

from __future__ import annotations

from django.db import models

from competitions.models import Challenge, ChallengeImage


class ScoringProfile(models.Model):
    """How one challenge is scored: prototypes, Fréchet ε, the gallery, and the judge."""

    class JudgeStatus(models.TextChoices):
        NONE = "none", "Not trained yet"
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed (not used)"

    challenge = models.OneToOneField(
        Challenge, on_delete=models.CASCADE, related_name="scoring_profile"
    )
    prototypes = models.PositiveSmallIntegerField(
        default=1,
        help_text="K: style prototypes found by k-means over the style images (single style).",
    )
    frechet_epsilon = models.FloatField(
        default=1e-6, help_text="ε added to singular covariances in judge_fd."
    )
    gallery_size = models.PositiveSmallIntegerField(
        default=6, help_text="Public content photos each submission stylises for its gallery."
    )
    judge_steps = models.PositiveIntegerField(default=600)
    judge_seed = models.PositiveIntegerField(default=0)
    judge_status = models.CharField(
        max_length=10, choices=JudgeStatus.choices, default=JudgeStatus.NONE
    )
    judge_file = models.FileField(max_length=255, blank=True)
    judge_sha256 = models.CharField(max_length=64, blank=True)
    judge_uploaded = models.BooleanField(
        default=False, help_text="Uploaded by an organizer rather than trained here."
    )
    # Training curve, held-out accuracies and settings: what the organizer sees.
    judge_summary = models.JSONField(default=dict, blank=True)
    judge_threshold = models.FloatField(
        default=0.5,
        help_text="Deception threshold: the judge probability above which at most 5 % of "
        "held-out photos fall (calibrated when the judge is trained or checked).",
    )
    judge_error = models.TextField(blank=True)
    judge_updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Scoring of {self.challenge.slug}"


class Leaderboard(models.TextChoices):
    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private"


class ReferenceCache(models.Model):
    """The stored reference features of one challenge × leaderboard subset."""

    challenge = models.ForeignKey(
        Challenge, on_delete=models.CASCADE, related_name="reference_caches"
    )
    leaderboard = models.CharField(max_length=10, choices=Leaderboard.choices)
    key = models.CharField(max_length=64)
    file = models.FileField(max_length=255)
    built_at = models.DateTimeField(auto_now=True)
    build_seconds = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["challenge", "leaderboard"], name="reference_cache_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.challenge_id} {self.leaderboard} references {self.key[:12]}"


class Result(models.Model):
    """One submission's scores on one leaderboard subset; one float column per metric."""

    # By label: `submissions` sits above this app (ARCHITECTURE.md); a result is deleted with
    # its submission.
    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.CASCADE, related_name="results"
    )
    leaderboard = models.CharField(max_length=10, choices=Leaderboard.choices)
    content_distance = models.FloatField(null=True, blank=True)
    style_distance = models.FloatField(null=True, blank=True)
    palette_distance = models.FloatField(null=True, blank=True)
    judge_realism = models.FloatField(null=True, blank=True)
    deception_rate = models.FloatField(null=True, blank=True)
    judge_fd = models.FloatField(null=True, blank=True)
    memorization_rate = models.FloatField(null=True, blank=True)
    params = models.FloatField(null=True, blank=True)
    ms_per_image = models.FloatField(null=True, blank=True)
    runtime_ratio = models.FloatField(null=True, blank=True)
    composite = models.FloatField(null=True, blank=True)
    # Why a metric is missing, by name; the engine's fingerprint, judge and cache identity.
    missing = models.JSONField(default=dict, blank=True)
    # Metric → values in image order (hidden images by position only, never by name), and
    # metric → [low, high], the 95 % bootstrap interval over the images (engine: Intervals).
    per_image = models.JSONField(default=dict, blank=True)
    intervals = models.JSONField(default=dict, blank=True)
    fingerprint = models.JSONField(default=dict)
    judge_sha256 = models.CharField(max_length=64, blank=True)
    references_key = models.CharField(max_length=64)
    images = models.PositiveIntegerField()
    calibrated = models.BooleanField(default=False)
    # Set when the judge or the images changed after scoring: a rescore would give other numbers.
    stale = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "leaderboard"], name="result_unique_per_board"
            )
        ]

    def __str__(self) -> str:
        return f"{self.submission_id} {self.leaderboard}"


class GalleryImage(models.Model):
    """A submission's output for one public content photo (never a hidden one)."""

    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.CASCADE, related_name="gallery"
    )
    position = models.PositiveSmallIntegerField()
    content_image = models.ForeignKey(
        ChallengeImage, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    style_image = models.ForeignKey(
        ChallengeImage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file = models.FileField(max_length=255)

    class Meta:
        ordering = ["submission", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "position"], name="gallery_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.submission_id} gallery {self.position}"


class WorkerQueue(models.Model):
    """A worker seen consuming a queue: written by the worker while it runs (scoring.presence),
    read to tell a participant that a challenge's own queue has nobody serving it."""

    hostname = models.CharField(max_length=200)
    queue = models.CharField(max_length=200)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hostname", "queue"], name="worker_queue_unique")
        ]
        indexes = [models.Index(fields=["queue", "seen_at"])]

    def __str__(self) -> str:
        return f"{self.hostname} on {self.queue}"
