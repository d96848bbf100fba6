"""The forum's REST endpoints, included by config/api_urls.py under /api/v1/."""

from __future__ import annotations

from django.urls import path

from forum import apis

urlpatterns = [
    path(
        "challenges/<slug:slug>/forum/threads/",
        apis.ThreadListApi.as_view(),
        name="api_forum_threads",
    ),
    path(
        "challenges/<slug:slug>/forum/threads/<int:pk>/",
        apis.ThreadDetailApi.as_view(),
        name="api_forum_thread",
    ),
    path(
        "challenges/<slug:slug>/forum/threads/<int:pk>/posts/",
        apis.PostListApi.as_view(),
        name="api_forum_posts",
    ),
]
