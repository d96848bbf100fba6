"""Submissions in the organizers' admin: follow, cancel and rescore."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from competitions import selectors as competition_selectors
from competitions.admin_scoping import OrganizerScopedAdmin
from config.errors import ApplicationError
from submissions.lifecycle import submission_cancel, submission_rescore
from submissions.models import Submission


class SubmissionChallengeFilter(admin.SimpleListFilter):
    title = "challenge"
    parameter_name = "challenge"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        organized = competition_selectors.challenges_organized_by(request.user).order_by("title")
        return [(str(challenge.pk), challenge.title) for challenge in organized]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(phase__challenge_id=self.value()) if self.value() else queryset


@admin.register(Submission)
class SubmissionAdmin(OrganizerScopedAdmin):
    challenge_lookup = "phase__challenge"
    list_display = [
        "short_id",
        "participant",
        "phase",
        "architecture",
        "status",
        "stage",
        "attempts",
        "is_baseline",
        "created_at",
    ]
    list_filter = ["status", SubmissionChallengeFilter, "is_baseline", "architecture"]
    search_fields = ["id", "participant__username", "description", "checkpoint_sha256"]
    list_select_related = ["participant", "phase__challenge"]
    actions = ["rescore", "cancel"]
    readonly_fields = [
        "id",
        "phase",
        "participant",
        "description",
        "is_baseline",
        "selected_for_final",
        "architecture",
        "config",
        "io_range",
        "checkpoint_name",
        "checkpoint_format",
        "checkpoint_sha256",
        "checkpoint_size",
        "param_count",
        "status",
        "stage",
        "progress",
        "error_code",
        "error_message",
        "attempts",
        "worker",
        "deadline",
        "heartbeat_at",
        "enqueued_at",
        "created_at",
        "started_at",
        "finished_at",
        "worker_log",
    ]
    exclude = ["checkpoint", "log", "scoring_fingerprint"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Submissions, baselines included, come through the submit form or the API.
        return False

    @admin.display(description="id")
    def short_id(self, obj: Submission) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="worker log")
    def worker_log(self, obj: Submission) -> str:
        rows = ((str(entry),) for entry in obj.log)
        return format_html("<ol>{}</ol>", format_html_join("", "<li><code>{}</code></li>", rows))

    @admin.action(description="Rescore the selected submissions")
    def rescore(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, submission_rescore, "queued for rescoring")

    @admin.action(description="Cancel the selected submissions")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, submission_cancel, "cancelled")

    def _apply(self, request: HttpRequest, queryset: QuerySet, service: Any, verb: str) -> None:
        done = 0
        for submission in queryset:
            try:
                service(submission=submission, by=request.user)
            except ApplicationError as error:
                self.message_user(
                    request, f"{str(submission.pk)[:8]}: {error.message}", messages.WARNING
                )
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} submission(s) {verb}.", messages.SUCCESS)
