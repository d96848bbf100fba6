"""Disqualifications in the organizers' admin: a submission taken off the leaderboards."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from competitions.admin_scoping import OrganizerScopedAdmin
from competitions.selectors import challenges_organized_by
from leaderboard.models import Disqualification
from leaderboard.services import submission_disqualify, submission_requalify
from submissions.models import Submission


@admin.register(Disqualification)
class DisqualificationAdmin(OrganizerScopedAdmin):
    challenge_lookup = "submission__phase__challenge"
    list_display = ["short_id", "participant", "phase", "reason", "decided_by", "created_at"]
    list_select_related = ["submission__participant", "submission__phase__challenge", "decided_by"]
    search_fields = ["submission__id", "submission__participant__username", "reason"]
    raw_id_fields = ["submission"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["submission", "reason"]
        return ["submission", "reason", "decided_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else ["submission", "decided_by", "created_at"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        if db_field.name == "submission":
            organized = challenges_organized_by(request.user).values("pk")
            kwargs["queryset"] = Submission.objects.filter(phase__challenge__in=organized)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="submission")
    def short_id(self, obj: Disqualification) -> str:
        return str(obj.submission_id)[:8]

    @admin.display(description="participant")
    def participant(self, obj: Disqualification) -> str:
        return obj.submission.participant.get_username()

    @admin.display(description="phase")
    def phase(self, obj: Disqualification) -> str:
        return str(obj.submission.phase)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            # Only the reason can change, and it moves nobody on a leaderboard.
            super().save_model(request, obj, form, change)
            return
        created = submission_disqualify(
            submission=form.cleaned_data["submission"],
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
        obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Disqualification) -> None:
        submission_requalify(submission=obj.submission)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for disqualification in queryset.select_related("submission__phase"):
            submission_requalify(submission=disqualification.submission)
