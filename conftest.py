"""Suite-wide fixtures: real services checked up front, private media, users with roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from pytest_django.fixtures import Settings

from competitions.models import Challenge
from tests import services
from tests.factories import UserFactory, make_challenge, make_organizer
from tests.models.checkpoint_files import save_wide_legacy_pth


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ATELIER_REQUIRE_SERVICES=1 an unreachable PostgreSQL or Redis fails the run.

    Without it, tests that need them skip; with it, nothing may skip for that reason.
    """
    if not settings.ATELIER_REQUIRE_SERVICES:
        return
    problems = [p for p in (services.postgres_problem(), services.redis_problem()) if p]
    if problems:
        pytest.exit("ATELIER_REQUIRE_SERVICES=1 but: " + "; ".join(problems), returncode=3)


@pytest.fixture(autouse=True)
def _private_media(settings: Settings, tmp_path: Path) -> None:
    """Every test writes media into its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def organizer() -> User:
    return make_organizer("organizer-a")


@pytest.fixture
def other_organizer() -> User:
    return make_organizer("organizer-b")


@pytest.fixture
def participant() -> User:
    return UserFactory(username="participant")


@pytest.fixture
def outsider() -> User:
    return UserFactory(username="outsider")


@pytest.fixture
def superuser() -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def challenge(organizer: User) -> Challenge:
    """Challenge A: published, open registration, organized by ``organizer``."""
    return make_challenge(slug="challenge-a", organizers=(organizer,))


@pytest.fixture
def other_challenge(other_organizer: User) -> Challenge:
    """Challenge B: published, organized by ``other_organizer`` only."""
    return make_challenge(slug="challenge-b", organizers=(other_organizer,))


@pytest.fixture(scope="session")
def wide_legacy_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """27 MB in torch.save's legacy format (validation reads it whole), made once a session."""
    return save_wide_legacy_pth(tmp_path_factory.mktemp("wide"))
