"""URLs of the REST API, /api/v1/."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from competitions import apis as competition_apis
from leaderboard import apis as leaderboard_apis
from scoring import apis as scoring_apis
from submissions import apis as submission_apis

urlpatterns = [
    path("challenges/", competition_apis.ChallengeListApi.as_view(), name="api_challenge_list"),
    path(
        "challenges/<slug:slug>/",
        competition_apis.ChallengeDetailApi.as_view(),
        name="api_challenge_detail",
    ),
    path(
        "challenges/<slug:slug>/join/",
        competition_apis.ChallengeJoinApi.as_view(),
        name="api_challenge_join",
    ),
    path(
        "challenges/<slug:slug>/scoring/",
        scoring_apis.ChallengeScoringApi.as_view(),
        name="api_challenge_scoring",
    ),
    path(
        "challenges/<slug:slug>/phases/",
        submission_apis.PhaseListApi.as_view(),
        name="api_phase_list",
    ),
    # GET lists the caller's own submissions, POST uploads a new one.
    path(
        "challenges/<slug:slug>/submissions/",
        submission_apis.ChallengeSubmissionsApi.as_view(),
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
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("", include("forum.api_urls")),
]
