"""Top-level URL configuration."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("config.api_urls")),
    path("", include("submissions.urls")),
    # Before competitions: its catch-all challenge tab URL would take /leaderboard/.
    path("", include("leaderboard.urls")),
    path("", include("forum.urls")),
    path("", include("competitions.urls")),
]
