"""Scoring profiles in the organizers' admin: metric settings, the judge, its training."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from competitions.admin_scoping import OrganizerScopedAdmin
from competitions.selectors import challenges_organized_by
from config.errors import ApplicationError
from scoring.models import ScoringProfile
from scoring.services import judge_upload, scoring_profile_get
from scoring.tasks import judge_train_enqueue

CURVE_WIDTH, CURVE_HEIGHT = 320, 80


class ScoringProfileForm(forms.ModelForm):
    judge_upload = forms.FileField(
        required=False,
        label="Upload a judge",
        help_text="A PatchGAN discriminator as .safetensors (pix2pix NLayerDiscriminator keys); "
        "it replaces the trained one and marks existing results stale.",
    )

    class Meta:
        model = ScoringProfile
        fields = ["prototypes", "frechet_epsilon", "gallery_size", "judge_steps", "judge_seed"]

    def clean_judge_upload(self) -> bytes | None:
        upload = self.cleaned_data.get("judge_upload")
        return upload.read() if upload else None


@admin.register(ScoringProfile)
class ScoringProfileAdmin(OrganizerScopedAdmin):
    form = ScoringProfileForm
    list_display = [
        "challenge",
        "judge_status",
        "heldout_accuracy",
        "judge_error",
        "prototypes",
        "judge_sha",
    ]
    list_select_related = ["challenge"]
    readonly_fields = [
        "challenge",
        "judge_status",
        "judge_error",
        "judge_check",
        "judge_sha256",
        "judge_uploaded",
        "judge_threshold",
        "heldout_accuracy",
        "training_curve",
        "judge_updated_at",
    ]
    actions = ["train_judge"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One profile per challenge, made for every organized challenge on the list page.
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        for challenge in challenges_organized_by(request.user).filter(scoring_profile=None):
            scoring_profile_get(challenge=challenge)
        return super().changelist_view(request, extra_context)

    @admin.display(description="judge")
    def judge_sha(self, obj: ScoringProfile) -> str:
        return obj.judge_sha256[:12]

    @admin.display(description="held-out accuracy")
    def heldout_accuracy(self, obj: ScoringProfile) -> str:
        accuracy = obj.judge_summary.get("heldout_accuracy")
        return "—" if accuracy is None else f"{accuracy:.3f}"

    @admin.display(description="held-out check")
    def judge_check(self, obj: ScoringProfile) -> str:
        """The gate: accuracy per kind of image, tiles, and the bar a judge must clear."""
        summary = obj.judge_summary
        if summary.get("heldout_accuracy") is None:
            return "—"
        by_set = summary.get("heldout_by_set") or {}
        rows = format_html_join(
            "", "<li>{}: {}</li>", ((name, f"{value:.3f}") for name, value in by_set.items())
        )
        return format_html(
            "balanced accuracy {} on {} tiles (needs {} on {}); deception threshold {}<ul>{}</ul>",
            f"{summary['heldout_accuracy']:.3f}",
            summary.get("heldout_tiles"),
            f"{settings.ATELIER_JUDGE_MIN_ACCURACY:.2f}",
            settings.ATELIER_JUDGE_MIN_TILES,
            f"{summary.get('deception_threshold', obj.judge_threshold):.3f}",
            rows,
        )

    @admin.display(description="training loss")
    def training_curve(self, obj: ScoringProfile) -> str:
        losses = obj.judge_summary.get("losses") or []
        if len(losses) < 2:
            return "—"
        low, high = min(losses), max(losses)
        span = (high - low) or 1.0
        points = " ".join(
            f"{CURVE_WIDTH * i / (len(losses) - 1):.1f},"
            f"{CURVE_HEIGHT - CURVE_HEIGHT * (loss - low) / span:.1f}"
            for i, loss in enumerate(losses)
        )
        return format_html(
            '<svg width="{}" height="{}" role="img" aria-label="loss from {} to {}">'
            '<polyline fill="none" stroke="#8a3ffc" stroke-width="1.5" points="{}"/></svg>'
            "<br>{} steps, loss {} → {}",
            CURVE_WIDTH,
            CURVE_HEIGHT,
            f"{losses[0]:.3f}",
            f"{losses[-1]:.3f}",
            points,
            len(losses),
            f"{losses[0]:.3f}",
            f"{losses[-1]:.3f}",
        )

    def save_model(
        self, request: HttpRequest, obj: ScoringProfile, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        data = form.cleaned_data.get("judge_upload")
        if data:
            try:
                judge_upload(challenge=obj.challenge, data=data)
            except ApplicationError as error:
                self.message_user(request, f"Judge refused: {error.message}", messages.ERROR)
                return
            else:
                self.message_user(
                    request,
                    "Judge uploaded; results scored with the old one are marked stale.",
                    messages.SUCCESS,
                )

    @admin.action(description="Train the judge again (on the scoring queue)")
    def train_judge(self, request: HttpRequest, queryset: QuerySet) -> None:
        for profile in queryset:
            judge_train_enqueue(profile=profile)
        self.message_user(request, f"{queryset.count()} judge(s) queued for training.")
