"""Challenges, their phases and image sets, and who takes part."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
    RegexValidator,
)
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from config.markdown import MarkdownTooComplex, markdown_render_safe, markdown_to_safe_html
from leaderboard.ranking import RankingRuleError, ranking_rule_parse
from models.checkpoints import CheckpointLimits
from models.onnx_graph import OnnxLimits

# What an organizer may set, in one place: full_clean() enforces it on every write (the admin's
# forms, the bundle importer, the services), and the bundle importer quotes it in its messages.
MIN_RESOLUTION = 32
MAX_RESOLUTION = 1024
# Quotas: ample for any challenge, and far from overflowing whatever adds or multiplies them.
MAX_COUNT = 1_000_000
COUNT_VALIDATORS = (MinValueValidator(1), MaxValueValidator(MAX_COUNT))
MAX_SELECTED = 100

DATE_OUT_OF_RANGE = (
    "%(value)s is outside the dates this site can store: years 1 to 9999 once converted to UTC."
)
MARKDOWN_TOO_LONG = "At most {limit:,} characters of markdown; this text has {length:,}."


def max_time_limit_s() -> int:
    return settings.ATELIER_MAX_TIME_LIMIT_S


def max_generator_params() -> int:
    return settings.ATELIER_MAX_GENERATOR_PARAMS


# The queue every challenge's scoring runs on unless it names its own.
SHARED_SCORING_QUEUE = "scoring"
SCORING_QUEUE_PATTERN = r"^scoring(\.[a-z0-9][a-z0-9_-]{0,62})?$"
validate_scoring_queue = RegexValidator(
    SCORING_QUEUE_PATTERN,
    "A scoring queue is “scoring”, or “scoring.” followed by lower-case letters, digits, "
    "hyphens or underscores (at most 63), starting with a letter or digit.",
    code="invalid_scoring_queue",
)


def max_checkpoint_bytes() -> int:
    # No request body larger than this is read, so a larger checkpoint could never arrive.
    return settings.ATELIER_MAX_UPLOAD_BYTES


def validate_datetime_in_utc_range(value: dt.datetime) -> None:
    """Refuse a date-time that leaves Python's years 1 to 9999 once converted to UTC.

    The database stores UTC, so saving 9999-12-31T23:59:59-10:00 raised OverflowError.
    """
    aware = value if timezone.is_aware(value) else timezone.make_aware(value)
    try:
        aware.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError(
            DATE_OUT_OF_RANGE, code="date_out_of_range", params={"value": value.isoformat()}
        ) from None


def validate_markdown_length(value: str) -> None:
    limit = settings.ATELIER_MARKDOWN_MAX_CHARS
    if len(value) > limit:
        raise ValidationError(
            MARKDOWN_TOO_LONG.format(limit=limit, length=len(value)), code="markdown_too_long"
        )


def field_bounds(model: type[models.Model], name: str) -> tuple[float, float]:
    """The lowest and highest value a numeric field's validators accept."""
    low, high = -math.inf, math.inf
    for validator in model._meta.get_field(name).validators:
        if isinstance(validator, (MinValueValidator, MaxValueValidator)):
            limit = validator.limit_value
            limit = limit() if callable(limit) else limit
            if isinstance(validator, MinValueValidator):
                low = max(low, limit)
            else:
                high = min(high, limit)
    return low, high


class Challenge(models.Model):
    class TaskKind(models.TextChoices):
        SINGLE_STYLE = "single_style", "Single style"
        ARBITRARY_STYLE = "arbitrary_style", "Arbitrary style"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    class Registration(models.TextChoices):
        OPEN = "open", "Open: anyone who accepts the rules"
        APPROVAL = "approval", "Approval: an organizer approves each participant"

    slug = models.SlugField(max_length=64, unique=True)
    # NUL passes SQLite but PostgreSQL refuses it mid-transaction; refuse it here instead.
    title = models.CharField(max_length=200, validators=[ProhibitNullCharactersValidator()])
    summary = models.CharField(
        max_length=300, blank=True, validators=[ProhibitNullCharactersValidator()]
    )
    description = models.TextField(
        blank=True,
        help_text="Markdown.",
        validators=[validate_markdown_length, ProhibitNullCharactersValidator()],
    )
    rules = models.TextField(
        blank=True,
        help_text="Markdown. Participants accept these to join.",
        validators=[validate_markdown_length, ProhibitNullCharactersValidator()],
    )
    # Rendered and sanitised once, when the challenge is saved; pages show them as they are.
    description_html = models.TextField(blank=True, editable=False)
    rules_html = models.TextField(blank=True, editable=False)
    task_kind = models.CharField(
        max_length=20, choices=TaskKind.choices, default=TaskKind.SINGLE_STYLE
    )
    resolution = models.PositiveSmallIntegerField(
        default=256,
        validators=[MinValueValidator(MIN_RESOLUTION), MaxValueValidator(MAX_RESOLUTION)],
        help_text="Images are stored and scored as RGB squares of this many pixels a side.",
    )
    public_fraction = models.FloatField(
        default=0.3,
        validators=[MinValueValidator(0.01), MaxValueValidator(0.99)],
        help_text="Share of the hidden content images scored on the public leaderboard; "
        "the rest decide the private leaderboard.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    scoring_queue = models.CharField(
        max_length=72,
        default=SHARED_SCORING_QUEUE,
        validators=[validate_scoring_queue],
        help_text="Where its scoring runs: “scoring”, the platform's workers, or "
        "“scoring.<name>”, served only by workers started with -Q scoring.<name> (the "
        "organizers' own machines; README, “Bring your own scoring worker”).",
    )
    registration = models.CharField(
        max_length=10, choices=Registration.choices, default=Registration.OPEN
    )
    organizers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="organized_challenges", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_datetime_in_utc_range]
    )

    # Each markdown field, and the field its rendered HTML is stored in.
    MARKDOWN_FIELDS = (("description", "description_html"), ("rules", "rules_html"))

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(public_fraction__gt=0) & Q(public_fraction__lt=1),
                name="challenge_public_fraction_open_interval",
            ),
            models.CheckConstraint(
                condition=Q(resolution__gte=MIN_RESOLUTION) & Q(resolution__lte=MAX_RESOLUTION),
                name="challenge_resolution_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The stored HTML follows its markdown on every write, whichever path made it (admin,
        # bundle, fixtures), so a page never renders markdown. Text refused by clean() that is
        # saved anyway is shown as plain text.
        update_fields = kwargs.get("update_fields")
        for source, target in self.MARKDOWN_FIELDS:
            if update_fields is None or source in update_fields:
                self._markdown_render(source, target, markdown_to_safe_html)
                if update_fields is not None:
                    kwargs["update_fields"] = update_fields = {*update_fields, target}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("challenge_detail", kwargs={"slug": self.slug})

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    def clean(self) -> None:
        """Render the markdown now: text too complex to render is refused with the reason."""
        errors = {}
        for source, target in self.MARKDOWN_FIELDS:
            if len(getattr(self, source)) > settings.ATELIER_MARKDOWN_MAX_CHARS:
                continue  # its validator refuses it; rendering it would only take time
            try:
                self._markdown_render(source, target, markdown_render_safe)
            except MarkdownTooComplex as error:
                errors[source] = str(error)
        if errors:
            raise ValidationError(errors)

    def _markdown_render(self, source: str, target: str, render: Callable[[str], str]) -> None:
        """Store the HTML of one markdown field, unless it was rendered from this text already
        (by clean(), just before save())."""
        text = getattr(self, source)
        rendered_from = self.__dict__.setdefault("_markdown_rendered_from", {})
        if rendered_from.get(source) != text:
            setattr(self, target, render(text))
            rendered_from[source] = text


class Phase(models.Model):
    class RankingRule(models.TextChoices):
        COMPOSITE = "composite", "Default composite"
        PRIMARY = "primary", "One metric, then tie-breakers"
        WEIGHTED = "weighted", "Weighted composite of chosen metrics"
        AVERAGE_RANK = "average_rank", "Average rank over chosen metrics"

    class Representation(models.TextChoices):
        BEST = "best", "Best submission"
        LATEST = "latest", "Latest submission"
        SELECTED = "selected", "Submissions selected for the final ranking"

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="phases")
    name = models.CharField(max_length=100, validators=[ProhibitNullCharactersValidator()])
    starts_at = models.DateTimeField(validators=[validate_datetime_in_utc_range])
    ends_at = models.DateTimeField(validators=[validate_datetime_in_utc_range])
    max_per_day = models.PositiveIntegerField(
        default=5,
        validators=COUNT_VALIDATORS,
        help_text="Submissions per participant in any rolling 24 hours.",
    )
    max_total = models.PositiveIntegerField(
        default=100,
        validators=COUNT_VALIDATORS,
        help_text="Submissions per participant over the whole phase.",
    )
    max_running = models.PositiveIntegerField(
        default=1,
        validators=COUNT_VALIDATORS,
        help_text="Submissions per participant queued or running at once.",
    )
    time_limit_s = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(1), MaxValueValidator(max_time_limit_s)],
        help_text="Wall-clock limit for generating all outputs of one submission.",
    )
    max_params = models.PositiveBigIntegerField(
        default=20_000_000,
        validators=[MinValueValidator(1), MaxValueValidator(max_generator_params)],
        help_text="Largest generator accepted, in parameters.",
    )
    max_checkpoint_bytes = models.PositiveBigIntegerField(
        default=200 * 1024 * 1024,
        validators=[MinValueValidator(1), MaxValueValidator(max_checkpoint_bytes)],
        help_text="Largest checkpoint file accepted, in bytes.",
    )
    quota_counts_failed = models.BooleanField(
        default=False,
        help_text="Failed submissions count against the daily and total quotas.",
    )
    quota_counts_cancelled = models.BooleanField(
        default=False,
        help_text="Cancelled submissions count against the daily and total quotas.",
    )
    ranking_rule = models.CharField(
        max_length=20, choices=RankingRule.choices, default=RankingRule.COMPOSITE
    )
    ranking_metrics = models.CharField(
        max_length=300,
        blank=True,
        help_text="Metrics the rule uses, comma-separated, in order: the primary metric first "
        "and then its tie-breakers; for the weighted composite metric:weight (weight 1 when "
        "left out). Ignored by the default composite.",
    )
    representation = models.CharField(
        max_length=10,
        choices=Representation.choices,
        default=Representation.BEST,
        help_text="Which of a participant's submissions stands for them on the leaderboards.",
    )
    max_selected = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SELECTED)],
        help_text="Submissions a participant may select for the final ranking.",
    )
    private_revealed_at = models.DateTimeField(
        null=True,
        blank=True,
        validators=[validate_datetime_in_utc_range],
        help_text="When the organizers revealed the private leaderboard (after the phase).",
    )

    # The submission quotas and limits an organizer sets for a phase. The bundle manifest and
    # the admin list exactly these, with the defaults and bounds of the fields above.
    LIMIT_FIELDS = (
        "max_per_day",
        "max_total",
        "max_running",
        "time_limit_s",
        "max_params",
        "max_checkpoint_bytes",
    )

    class Meta:
        ordering = ["challenge", "starts_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "name"], name="phase_unique_name"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="phase_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.challenge.slug}: {self.name}"

    def clean(self) -> None:
        try:
            ranking_rule_parse(kind=self.ranking_rule, spec=self.ranking_metrics)
        except RankingRuleError as error:
            raise ValidationError({"ranking_metrics": str(error)}) from error

    @property
    def private_revealed(self) -> bool:
        """Everyone may see the private leaderboard: the phase ended and it was revealed."""
        return self.private_revealed_at is not None and timezone.now() >= self.ends_at

    def checkpoint_limits(self) -> CheckpointLimits:
        """What a checkpoint submitted to this phase may be: its size and parameter limits,
        and the settings' bounds on ONNX graphs."""
        return CheckpointLimits(
            max_bytes=self.max_checkpoint_bytes,
            max_params=self.max_params,
            onnx=OnnxLimits(
                max_nodes=settings.ATELIER_ONNX_MAX_NODES,
                max_initializers=settings.ATELIER_ONNX_MAX_INITIALIZERS,
            ),
        )

    def is_open(self, at: dt.datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.starts_at <= at < self.ends_at

    @property
    def state(self) -> str:
        now = timezone.now()
        if now < self.starts_at:
            return "upcoming"
        return "open" if now < self.ends_at else "closed"


class ChallengeImage(models.Model):
    """One normalised image (RGB PNG, resolution × resolution) of a challenge."""

    class Kind(models.TextChoices):
        CONTENT = "content", "Content photo"
        STYLE = "style", "Style artwork"
        # Never shown to participants: images that are not this style, for the judge to learn
        # against (other artworks, textures, failed stylisations).
        NEGATIVE = "negative", "Judge negative (not this style)"

    class Split(models.TextChoices):
        PUBLIC = "public", "Public (downloadable)"
        HIDDEN = "hidden", "Hidden (never leaves the server)"

    class Leaderboard(models.TextChoices):
        NONE = "", "—"
        PUBLIC = "public", "Public leaderboard"
        PRIVATE = "private", "Private leaderboard"

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="images")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    split = models.CharField(max_length=10, choices=Split.choices)
    leaderboard = models.CharField(
        max_length=10,
        choices=Leaderboard.choices,
        blank=True,
        default=Leaderboard.NONE,
        help_text="For hidden content images: which leaderboard they score.",
    )
    file = models.FileField(max_length=255)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["challenge", "kind", "split", "original_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["challenge", "kind", "sha256"], name="image_unique_per_challenge"
            ),
            # Only hidden content images are scored, so only they belong to a leaderboard.
            models.CheckConstraint(
                condition=Q(leaderboard="") | Q(kind="content", split="hidden"),
                name="image_leaderboard_only_hidden_content",
            ),
            # Judge negatives are the platform's instrument, never part of the public data.
            models.CheckConstraint(
                condition=~Q(kind="negative") | Q(split="hidden"),
                name="image_negative_hidden",
            ),
        ]
        indexes = [models.Index(fields=["challenge", "kind", "split"])]

    def __str__(self) -> str:
        return f"{self.kind}/{self.split}/{self.original_name}"


class Participation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        BANNED = "banned", "Banned"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    challenge = models.ForeignKey(
        Challenge, on_delete=models.CASCADE, related_name="participations"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rules_accepted_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "challenge"], name="participation_unique_user_challenge"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.challenge.slug} ({self.status})"

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED
