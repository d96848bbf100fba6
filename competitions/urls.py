from __future__ import annotations

from django.urls import path

from competitions import views

urlpatterns = [
    path("", views.home, name="home"),
    path("challenges/<slug:slug>/", views.challenge_detail, name="challenge_detail"),
    path("challenges/<slug:slug>/join/", views.challenge_join, name="challenge_join"),
    path(
        "challenges/<slug:slug>/data.zip",
        views.challenge_data_download,
        name="challenge_data_download",
    ),
    path(
        "challenges/<slug:slug>/starter-kit.zip",
        views.challenge_starter_kit,
        name="challenge_starter_kit",
    ),
    path(
        "challenges/<slug:slug>/images/<int:pk>.png",
        views.challenge_image,
        name="challenge_image",
    ),
    path("client/atelier.py", views.client_download, name="client_download"),
    path("challenges/<slug:slug>/<str:tab>/", views.challenge_detail, name="challenge_tab"),
]
