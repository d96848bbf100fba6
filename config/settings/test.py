"""Settings for the pytest suite: the configured stack, fast hashing, file-backed SQLite.

The test database is a file (not SQLite's in-memory default) so that worker processes
started by integration tests open the same database as the test itself.
"""

from __future__ import annotations

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import CELERY_BROKER_URL, DATABASES, VAR_DIR
from config.settings.celery import filesystem_transport_options

ATELIER_ENVIRONMENT = "test"

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per test session, so two sessions on one machine never share (or delete)
    # each other's database; pytest-django removes it at the end.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

if CELERY_BROKER_URL.startswith("filesystem://"):
    # Test workers get their own broker folders: stale demo messages stay out of the tests.
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_transport_options(VAR_DIR / "celery-test")
