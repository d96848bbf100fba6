"""Local development: DEBUG on, everything embedded (SQLite, filesystem broker)."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import env

ATELIER_ENVIRONMENT = "local"

DEBUG = env.bool("DJANGO_DEBUG", default=True)
