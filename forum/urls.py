"""The forum's pages, under /challenges/<slug>/forum/ (the challenge page's Forum tab)."""

from __future__ import annotations

from django.urls import path

from forum import views

urlpatterns = [
    path("challenges/<slug:slug>/forum/", views.thread_list, name="forum_threads"),
    path("challenges/<slug:slug>/forum/new/", views.thread_new, name="forum_thread_new"),
    path("challenges/<slug:slug>/forum/<int:pk>/", views.thread_detail, name="forum_thread"),
    path(
        "challenges/<slug:slug>/forum/<int:pk>/reply/",
        views.thread_reply,
        name="forum_thread_reply",
    ),
    path(
        "challenges/<slug:slug>/forum/<int:pk>/moderate/",
        views.thread_moderate,
        name="forum_thread_moderate",
    ),
    path(
        "challenges/<slug:slug>/forum/posts/<int:pk>/edit/",
        views.post_edit,
        name="forum_post_edit",
    ),
    path(
        "challenges/<slug:slug>/forum/posts/<int:pk>/moderate/",
        views.post_moderate,
        name="forum_post_moderate",
    ),
]
