"""URLs of the REST API, /api/v1/."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from leaderboard import apis as leaderboard_apis
from submissions import apis as submission_apis

urlpatterns = [
    path(
        "challenges/<slug:slug>/submissions/",
        submission_apis.SubmissionCreateApi.as_view(),
        name="api_submission_create",
    ),
    path(
        "submissions/<uuid:pk>/",
        submission_apis.SubmissionDetailApi.as_view(),
        name="api_submission_detail",
    ),
    path(
        "submissions/<uuid:pk>/cancel/",
        submission_apis.SubmissionCancelApi.as_view(),
        name="api_submission_cancel",
    ),
    path(
        "challenges/<slug:slug>/leaderboard/",
        leaderboard_apis.LeaderboardApi.as_view(),
        name="api_leaderboard",
    ),
    path(
        "submissions/<uuid:pk>/final/",
        leaderboard_apis.SubmissionFinalSelectApi.as_view(),
        name="api_submission_final_select",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("", include("forum.api_urls")),
]
