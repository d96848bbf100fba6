"""Settings for the pytest suite: the configured stack, fast hashing, file-backed SQLite.

The test database is a file (not SQLite's in-memory default) so that worker processes
started by integration tests open the same database as the test itself.
"""

from __future__ import annotations

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import CELERY_BROKER_URL, DATABASES, REST_FRAMEWORK, VAR_DIR
from config.settings.celery import filesystem_transport_options

ATELIER_ENVIRONMENT = "test"
# Names this test session's own database file and broker folder. Worker processes that tests
# start inherit it from the environment, so they share the session's; two sessions on one
# machine share nothing.
TEST_SESSION = os.environ.setdefault("ATELIER_TEST_SESSION", str(os.getpid()))

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests fire hundreds of requests as one user (the quota race, schemathesis) and the throttle
# counts live in the process's cache for the whole session: rates out of reach here.
# tests/api/test_throttling.py lowers them again to see the 429.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": dict.fromkeys(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"),
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # pytest-django removes it at the end of the session.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{TEST_SESSION}.sqlite3")}

if CELERY_BROKER_URL.startswith("filesystem://"):
    # Stale demo messages and other sessions' messages stay out of the tests.
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_transport_options(
        VAR_DIR / "celery-test" / TEST_SESSION
    )
