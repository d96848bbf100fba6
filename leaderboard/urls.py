from __future__ import annotations

from django.urls import path

from leaderboard import views

urlpatterns = [
    path(
        "challenges/<slug:slug>/leaderboard/",
        views.leaderboard_page,
        name="challenge_leaderboard",
    ),
    path(
        "challenges/<slug:slug>/leaderboard.csv",
        views.leaderboard_csv,
        name="leaderboard_csv",
    ),
    path(
        "challenges/<slug:slug>/leaderboard/gallery/<uuid:pk>/<int:position>.png",
        views.leaderboard_gallery_image,
        name="leaderboard_gallery_image",
    ),
    path(
        "submissions/<uuid:pk>/final/",
        views.submission_final_select_view,
        name="submission_final_select",
    ),
]
