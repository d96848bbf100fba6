"""With ATELIER_REQUIRE_SERVICES=1 an unreachable PostgreSQL or Redis fails the whole run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# Port 9 (discard) has nothing listening on these machines: connections are refused at once.
DEAD_POSTGRES = "postgres://postgres@127.0.0.1:9/postgres"
DEAD_REDIS = "redis://127.0.0.1:9/0"
LIVE_POSTGRES = os.environ.get("DATABASE_URL", DEAD_POSTGRES)
LIVE_REDIS = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")


def run_suite_with(**services: str) -> subprocess.CompletedProcess[str]:
    """Run one quick test in a fresh pytest with services required and only ``services`` set."""
    # A fresh session of its own: no services, and not this session's database either.
    dropped = ("DATABASE_URL", "CELERY_BROKER_URL", "ATELIER_TEST_SESSION")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/config/test_settings.py::test_embedded_defaults_need_no_server",
        ],
        env={**env, "ATELIER_REQUIRE_SERVICES": "1", **services},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreachable_database_fails_the_run() -> None:
    result = run_suite_with(DATABASE_URL=DEAD_POSTGRES, CELERY_BROKER_URL=LIVE_REDIS)
    assert result.returncode == 3
    assert "ATELIER_REQUIRE_SERVICES=1 but: PostgreSQL does not answer" in result.stdout


def test_unreachable_broker_fails_the_run() -> None:
    result = run_suite_with(DATABASE_URL=LIVE_POSTGRES, CELERY_BROKER_URL=DEAD_REDIS)
    assert result.returncode == 3
    assert "Redis does not answer" in result.stdout


def test_embedded_stack_does_not_count_as_the_services() -> None:
    result = run_suite_with()
    assert result.returncode == 3
    assert "DATABASE_URL is not PostgreSQL" in result.stdout
    assert "CELERY_BROKER_URL is not Redis" in result.stdout
