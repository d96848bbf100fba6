"""The forum's pages, under /challenges/<slug>/forum/."""

from __future__ import annotations

urlpatterns: list = []
