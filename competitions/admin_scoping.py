"""The admin's narrowing to an organizer's own challenges, for every app's admin pages.

Organizers are staff users in the "organizers" group; the admin of each app derives from
OrganizerScopedAdmin, so the organizer of one challenge never sees another's data, not even in
a filter's list of choices (OrganizedChallengeFilter). Superusers see all.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from competitions import selectors


class OrganizedChallengeFilter(admin.SimpleListFilter):
    """A challenge filter that lists only the challenges the viewer organizes."""

    title = "challenge"
    parameter_name = "challenge"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        organized = selectors.challenges_organized_by(request.user).order_by("title")
        return [(str(challenge.pk), challenge.title) for challenge in organized]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(challenge_id=self.value()) if self.value() else queryset


class OrganizerScopedAdmin(admin.ModelAdmin):
    """Narrows the admin to objects of challenges the user organizes."""

    challenge_lookup = "challenge"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        organized = selectors.challenges_organized_by(request.user).values("pk")
        field = f"{self.challenge_lookup}__in" if self.challenge_lookup else "pk__in"
        return queryset.filter(**{field: organized})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        if db_field.name == "challenge":
            kwargs["queryset"] = selectors.challenges_organized_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _organizes(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._organizes(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._organizes(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._organizes(request, obj)
