"""Forum moderation in the organizers' admin, narrowed to the challenges they organize."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from competitions.admin_scoping import OrganizedChallengeFilter, OrganizerScopedAdmin
from competitions.selectors import challenges_organized_by, user_organizes
from forum import errors, services
from forum.models import ForumBan, Post, Thread


@admin.register(Thread)
class ThreadAdmin(OrganizerScopedAdmin):
    list_display = [
        "title",
        "challenge",
        "author",
        "is_announcement",
        "is_pinned",
        "is_locked",
        "is_hidden",
        "last_activity_at",
    ]
    list_filter = ["is_pinned", "is_locked", "is_hidden", OrganizedChallengeFilter]
    search_fields = ["title", "author__username"]
    list_select_related = ["challenge", "author"]
    fields = [
        "challenge",
        "title",
        "author",
        "is_announcement",
        "is_pinned",
        "is_locked",
        "is_hidden",
        "created_at",
        "last_activity_at",
    ]
    readonly_fields = ["challenge", "author", "is_announcement", "created_at", "last_activity_at"]
    actions = ["pin", "unpin", "lock", "unlock", "hide", "unhide"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Threads start on the site, with their first post.
        return False

    def save_model(self, request: HttpRequest, obj: Thread, form: Any, change: bool) -> None:
        services.thread_moderate(
            thread=obj,
            by=request.user,
            pinned=obj.is_pinned,
            locked=obj.is_locked,
            hidden=obj.is_hidden,
            title=obj.title if "title" in form.changed_data else None,
        )

    def _apply(self, request: HttpRequest, queryset: QuerySet, action: str) -> None:
        for thread in queryset.select_related("challenge"):
            services.thread_moderate_action(thread=thread, by=request.user, action=action)
        self.message_user(request, f"{queryset.count()} thread(s): {action}.", messages.SUCCESS)

    @admin.action(description="Pin the selected threads")
    def pin(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "pin")

    @admin.action(description="Unpin the selected threads")
    def unpin(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "unpin")

    @admin.action(description="Lock the selected threads")
    def lock(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "lock")

    @admin.action(description="Unlock the selected threads")
    def unlock(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "unlock")

    @admin.action(description="Hide the selected threads")
    def hide(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "hide")

    @admin.action(description="Show the selected threads again")
    def unhide(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "unhide")


@admin.register(Post)
class PostAdmin(OrganizerScopedAdmin):
    challenge_lookup = "thread__challenge"
    list_display = ["pk", "thread", "author", "by_organizer", "is_hidden", "created_at"]
    list_filter = ["is_hidden", "by_organizer"]
    search_fields = ["body_markdown", "author__username", "thread__title"]
    list_select_related = ["thread", "author"]
    fields = [
        "thread",
        "author",
        "by_organizer",
        "body_markdown",
        "is_hidden",
        "hidden_by",
        "created_at",
        "edited_at",
    ]
    readonly_fields = [
        "thread",
        "author",
        "by_organizer",
        "body_markdown",
        "hidden_by",
        "created_at",
        "edited_at",
    ]
    actions = ["hide", "unhide"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Post, form: Any, change: bool) -> None:
        # Only the hidden flag can change here; the text stays the author's.
        services.post_hide(post=obj, by=request.user, hidden=obj.is_hidden)

    @admin.action(description="Hide the selected posts")
    def hide(self, request: HttpRequest, queryset: QuerySet) -> None:
        for post in queryset.select_related("thread__challenge"):
            services.post_hide(post=post, by=request.user, hidden=True)

    @admin.action(description="Show the selected posts again")
    def unhide(self, request: HttpRequest, queryset: QuerySet) -> None:
        for post in queryset.select_related("thread__challenge"):
            services.post_hide(post=post, by=request.user, hidden=False)


class ForumBanForm(forms.ModelForm):
    class Meta:
        model = ForumBan
        fields = ["challenge", "user", "reason"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        challenge, user = cleaned.get("challenge"), cleaned.get("user")
        if challenge is not None and user is not None and user_organizes(user, challenge):
            code, message = errors.BAN_ORGANIZER
            raise forms.ValidationError(message, code=code)
        return cleaned


@admin.register(ForumBan)
class ForumBanAdmin(OrganizerScopedAdmin):
    form = ForumBanForm
    list_display = ["user", "challenge", "reason", "banned_by", "created_at"]
    list_filter = [OrganizedChallengeFilter]
    search_fields = ["user__username", "reason"]
    list_select_related = ["user", "challenge", "banned_by"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["challenge", "user", "reason"]
        return ["challenge", "user", "reason", "banned_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else ["challenge", "user", "banned_by", "created_at"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        if db_field.name == "user":
            # Only people who take part in one of the organizer's challenges: the list of
            # every account on the platform is nobody's business.
            organized = challenges_organized_by(request.user).values("pk")
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(participations__challenge__in=organized)
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ForumBan, form: Any, change: bool) -> None:
        saved = services.forum_ban(
            challenge=obj.challenge, user=obj.user, reason=obj.reason, by=request.user
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: ForumBan) -> None:
        services.forum_unban(ban=obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for ban in queryset.select_related("challenge"):
            services.forum_unban(ban=ban, by=request.user)
