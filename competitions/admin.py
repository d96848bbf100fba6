"""The organizers' tool: challenges, phases, image sets and participants in the admin.

Organizers are staff users in the "organizers" group; every queryset here is narrowed to the
challenges they organize (superusers see all), so the organizer of one challenge never sees
another's data, not even in a filter's list of choices.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from accounts.roles import ORGANIZERS_GROUP
from competitions import selectors
from competitions.admin_scoping import OrganizedChallengeFilter, OrganizerScopedAdmin
from competitions.forms import BundleImportForm, ChallengeImageAddForm
from competitions.models import (
    SHARED_SCORING_QUEUE,
    Challenge,
    ChallengeImage,
    Participation,
    Phase,
    field_bounds,
)
from competitions.services import (
    baseline_request,
    challenge_archive,
    challenge_bundle_import,
    challenge_delete,
    challenge_image_add,
    challenge_image_delete,
    challenge_leaderboards_recompute,
    challenge_organizer_add,
    challenge_phases_hide,
    challenge_phases_reveal,
    challenge_publish,
    challenge_resolution_check,
    challenge_update,
    participation_decide,
    phase_ranking_update,
)
from competitions.training import DEFAULT_STEPS
from config.errors import ApplicationError

admin.site.site_header = "Atelier administration"
admin.site.site_title = "Atelier admin"
admin.site.index_title = "Challenges and participants"


# Changing any of these reorders the phase's leaderboards.
RANKING_FIELDS = {"ranking_rule", "ranking_metrics", "representation", "max_selected"}


class PhaseInlineForm(forms.ModelForm):
    """The leaderboard settings may be left out of a submitted form: their defaults apply.

    The model's validators judge every value; its bounds also go into the number inputs, so
    the browser says so before the form is sent.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in RANKING_FIELDS:
            self.fields[name].required = False
        for name, field in self.fields.items():
            if isinstance(field, forms.IntegerField):
                low, high = field_bounds(Phase, name)
                field.widget.attrs.update(min=low, max=high)


class PhaseInline(admin.TabularInline):
    model = Phase
    form = PhaseInlineForm
    extra = 0
    fields = [
        "name",
        "starts_at",
        "ends_at",
        *Phase.LIMIT_FIELDS,
        "quota_counts_failed",
        "quota_counts_cancelled",
        "ranking_rule",
        "ranking_metrics",
        "representation",
        "max_selected",
        "private_revealed_at",
    ]
    readonly_fields = ["private_revealed_at"]


class ChallengeAdminForm(forms.ModelForm):
    class Meta:
        model = Challenge
        fields = [
            "title",
            "slug",
            "summary",
            "organizers",
            "task_kind",
            "resolution",
            "public_fraction",
            "registration",
            "scoring_queue",
            "description",
            "rules",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Left out of a submitted form, the shared queue applies.
        self.fields["scoring_queue"].required = False

    def clean_scoring_queue(self) -> str:
        return self.cleaned_data["scoring_queue"] or SHARED_SCORING_QUEUE

    def clean_resolution(self) -> int:
        resolution = self.cleaned_data["resolution"]
        try:
            challenge_resolution_check(challenge=self.instance, new_resolution=resolution)
        except ApplicationError as error:
            raise forms.ValidationError(error.message, code=error.code) from error
        return resolution


@admin.register(Challenge)
class ChallengeAdmin(OrganizerScopedAdmin):
    form = ChallengeAdminForm
    challenge_lookup = ""
    change_list_template = "admin/competitions/challenge/change_list.html"
    inlines = [PhaseInline]
    list_display = [
        "title",
        "slug",
        "status",
        "task_kind",
        "registration",
        "resolution",
        "content_images",
        "style_images",
        "approved_participants",
        "pending_participants",
    ]
    list_filter = ["status", "task_kind", "registration"]
    search_fields = ["title", "slug", "summary"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["status", "published_at", "created_at", "updated_at", "image_sets"]
    filter_horizontal = ["organizers"]
    actions = [
        "publish",
        "archive",
        "reveal_private",
        "hide_private",
        "recompute_leaderboards",
        "train_baseline",
    ]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "status", "organizers"]}),
        ("Task", {"fields": ["task_kind", "resolution", "public_fraction", "registration"]}),
        ("Scoring", {"fields": ["scoring_queue"]}),
        ("Texts (markdown)", {"fields": ["description", "rules"]}),
        ("Images", {"fields": ["image_sets"]}),
        ("History", {"fields": ["published_at", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                content_count=Count("images", filter=Q(images__kind="content"), distinct=True),
                style_count=Count("images", filter=Q(images__kind="style"), distinct=True),
                approved_count=Count(
                    "participations", filter=Q(participations__status="approved"), distinct=True
                ),
                pending_count=Count(
                    "participations", filter=Q(participations__status="pending"), distinct=True
                ),
            )
        )

    @admin.display(description="content", ordering="content_count")
    def content_images(self, obj: Challenge) -> int:
        return obj.content_count

    @admin.display(description="styles", ordering="style_count")
    def style_images(self, obj: Challenge) -> int:
        return obj.style_count

    @admin.display(description="participants", ordering="approved_count")
    def approved_participants(self, obj: Challenge) -> int:
        return obj.approved_count

    @admin.display(description="pending", ordering="pending_count")
    def pending_participants(self, obj: Challenge) -> int:
        return obj.pending_count

    @admin.display(description="image sets")
    def image_sets(self, obj: Challenge) -> str:
        if obj.pk is None:
            return "Add images after saving, or import a whole bundle instead."
        counts = selectors.image_counts(obj)
        base = reverse("admin:competitions_challengeimage_changelist")
        rows = [
            (
                f"{base}?challenge={obj.pk}&kind={kind}&split={split}",
                f"{kind} / {split}",
                counts[f"{kind}_{split}"],
            )
            for kind in ChallengeImage.Kind
            for split in ChallengeImage.Split
        ]
        table = format_html_join("", '<li><a href="{}">{}</a>: {}</li>', rows)
        boards = format_html(
            "<li>hidden content on the public leaderboard: {}, on the private: {}</li>",
            counts["leaderboard_public"],
            counts["leaderboard_private"],
        )
        return format_html("<ul>{}{}</ul>", table, boards)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        if db_field.name == "organizers":
            kwargs["queryset"] = (
                db_field.related_model.objects.filter(
                    Q(is_superuser=True) | Q(is_staff=True, groups__name=ORGANIZERS_GROUP)
                )
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Challenge, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            challenge_update(challenge=obj, changed=set(form.changed_data))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # After the form's organizers are saved, or they would replace the creator.
        super().save_related(request, form, formsets, change)
        if not change:
            challenge_organizer_add(challenge=form.instance, creator=request.user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is not Phase:
            return
        for phase_form in formset.forms:
            changed = RANKING_FIELDS & set(phase_form.changed_data)
            if changed and phase_form.instance.pk and phase_form not in formset.deleted_forms:
                phase_ranking_update(phase=phase_form.instance)

    def delete_model(self, request: HttpRequest, obj: Challenge) -> None:
        challenge_delete(challenge=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for challenge in queryset:
            challenge_delete(challenge=challenge)

    @admin.action(description="Publish the selected challenges")
    def publish(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, challenge_publish, "published")

    @admin.action(description="Archive the selected challenges")
    def archive(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, challenge_archive, "archived")

    @admin.action(description="Reveal the private leaderboards of ended phases")
    def reveal_private(self, request: HttpRequest, queryset: QuerySet) -> None:
        for challenge in queryset:
            revealed = challenge_phases_reveal(challenge=challenge)
            if not revealed:
                self.message_user(
                    request, f"{challenge.title}: no ended phase left to reveal.", messages.WARNING
                )
            for phase in revealed:
                self.message_user(
                    request,
                    f"{challenge.title}: private leaderboard of {phase.name} revealed.",
                    messages.SUCCESS,
                )

    @admin.action(description="Hide the revealed private leaderboards again")
    def hide_private(self, request: HttpRequest, queryset: QuerySet) -> None:
        for challenge in queryset:
            for phase in challenge_phases_hide(challenge=challenge):
                self.message_user(
                    request,
                    f"{challenge.title}: private leaderboard of {phase.name} hidden.",
                    messages.SUCCESS,
                )

    @admin.action(description="Recompute the leaderboards")
    def recompute_leaderboards(self, request: HttpRequest, queryset: QuerySet) -> None:
        for challenge in queryset:
            challenge_leaderboards_recompute(challenge=challenge)
            self.message_user(request, f"{challenge.title}: recomputed.", messages.SUCCESS)

    @admin.action(description="Train and submit a baseline (on the scoring queue)")
    def train_baseline(self, request: HttpRequest, queryset: QuerySet) -> None:
        for challenge in queryset:
            try:
                baseline_request(challenge=challenge, user=request.user, steps=DEFAULT_STEPS)
            except ApplicationError as error:
                self.message_user(request, f"{challenge.title}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{challenge.title}: baseline training queued ({DEFAULT_STEPS} steps); "
                    "it appears as a baseline submission when done.",
                    messages.SUCCESS,
                )

    def _apply(self, request: HttpRequest, queryset: QuerySet, service: Any, verb: str) -> None:
        for challenge in queryset:
            try:
                service(challenge=challenge)
            except ApplicationError as error:
                self.message_user(request, f"{challenge.title}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{challenge.title}: {verb}.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_bundle_view),
                name="competitions_challenge_import",
            )
        ]
        return urls + super().get_urls()

    def import_bundle_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = (
            BundleImportForm(request.POST, request.FILES)
            if request.method == "POST"
            else BundleImportForm()
        )
        if request.method == "POST" and form.is_valid():
            try:
                challenge = _import_uploaded_bundle(form.cleaned_data["bundle"], request.user)
            except ApplicationError as error:
                form.add_error("bundle", f"{error.message} [{error.code}]")
            else:
                self.message_user(
                    request, f"Imported “{challenge.title}” ({challenge.status}).", messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse("admin:competitions_challenge_change", args=[challenge.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import a challenge bundle",
        }
        return TemplateResponse(request, "admin/competitions/challenge/import.html", context)


def _import_uploaded_bundle(upload: Any, user: Any) -> Challenge:
    """Spool the upload to a private temporary file and import it."""
    with tempfile.TemporaryDirectory(prefix="atelier-upload-") as workdir:
        target = Path(workdir) / "bundle.zip"
        with target.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        organizer = None if user.is_superuser else user
        return challenge_bundle_import(source=target, organizer=organizer)


@admin.register(ChallengeImage)
class ChallengeImageAdmin(OrganizerScopedAdmin):
    list_display = [
        "thumbnail",
        "original_name",
        "challenge",
        "kind",
        "split",
        "leaderboard",
        "size_bytes",
        "short_sha256",
        "created_at",
    ]
    list_display_links = ["thumbnail", "original_name"]
    list_filter = [OrganizedChallengeFilter, "kind", "split", "leaderboard"]
    search_fields = ["original_name", "sha256"]
    list_select_related = ["challenge"]
    list_per_page = 60
    readonly_fields = [
        "preview",
        "challenge",
        "kind",
        "split",
        "leaderboard",
        "original_name",
        "sha256",
        "size_bytes",
        "created_at",
    ]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = ChallengeImageAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["challenge", "kind", "split", "upload"]
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Images are immutable: normalised once, hashed, partitioned. Delete and re-add.
        return False

    @admin.display(description="")
    def thumbnail(self, obj: ChallengeImage) -> str:
        return format_html(
            '<img src="{}?thumb=1" width="64" height="64" alt="" loading="lazy">',
            reverse("challenge_image", kwargs={"slug": obj.challenge.slug, "pk": obj.pk}),
        )

    @admin.display(description="image")
    def preview(self, obj: ChallengeImage) -> str:
        return format_html(
            '<img src="{}" style="max-width:100%;width:{}px" alt="">',
            reverse("challenge_image", kwargs={"slug": obj.challenge.slug, "pk": obj.pk}),
            obj.challenge.resolution,
        )

    @admin.display(description="sha256")
    def short_sha256(self, obj: ChallengeImage) -> str:
        return obj.sha256[:12]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        created = challenge_image_add(
            challenge=form.cleaned_data["challenge"],
            kind=form.cleaned_data["kind"],
            split=form.cleaned_data["split"],
            normalised=form.normalised,
            name=form.cleaned_data["upload"].name,
        )
        obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: ChallengeImage) -> None:
        challenge_image_delete(image=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for image in queryset:
            challenge_image_delete(image=image)


@admin.register(Participation)
class ParticipationAdmin(OrganizerScopedAdmin):
    list_display = ["user", "challenge", "status", "rules_accepted_at", "created_at", "decided_by"]
    list_filter = ["status", OrganizedChallengeFilter]
    search_fields = ["user__username", "user__email", "challenge__slug", "challenge__title"]
    list_select_related = ["user", "challenge", "decided_by"]
    readonly_fields = [
        "user",
        "challenge",
        "status",
        "rules_accepted_at",
        "created_at",
        "decided_at",
        "decided_by",
    ]
    actions = ["approve", "reject", "ban"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Participants join themselves, accepting the rules; nobody joins on their behalf.
        return False

    @admin.action(description="Approve the selected participants")
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, Participation.Status.APPROVED)

    @admin.action(description="Reject the selected participants")
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, Participation.Status.REJECTED)

    @admin.action(description="Ban the selected participants")
    def ban(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, Participation.Status.BANNED)

    def _decide(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        count = 0
        for participation in queryset:
            participation_decide(
                participation=participation, status=status, decided_by=request.user
            )
            count += 1
        self.message_user(request, f"{count} participant(s) now {status}.", messages.SUCCESS)
