"""The forum's REST endpoints, included by config/api_urls.py under /api/v1/."""

from __future__ import annotations

urlpatterns: list = []
