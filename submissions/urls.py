from __future__ import annotations

from django.urls import path

from submissions import views

urlpatterns = [
    path("challenges/<slug:slug>/submit/", views.challenge_submit, name="challenge_submit"),
    path("challenges/<slug:slug>/submissions/", views.my_submissions, name="my_submissions"),
    path("submissions/<uuid:pk>/", views.submission_detail, name="submission_detail"),
    path("submissions/<uuid:pk>/status.json", views.submission_status, name="submission_status"),
    path("submissions/<uuid:pk>/cancel/", views.submission_cancel_view, name="submission_cancel"),
    path(
        "submissions/<uuid:pk>/gallery/<int:position>.png",
        views.submission_gallery_image,
        name="submission_gallery_image",
    ),
]
