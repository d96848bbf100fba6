"""Forum fixtures: a participant who joined challenge A, and helpers to act as someone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from competitions.models import Challenge
from competitions.services import participation_join
from forum.selectors import ForumViewer, forum_viewer_for
from tests.factories import UserFactory


def joined(challenge: Challenge, username: str) -> User:
    user = UserFactory(username=username)
    participation_join(user=user, challenge=challenge, accept_rules=True)
    return user


def viewer(challenge: Challenge, user) -> ForumViewer:  # type: ignore[no-untyped-def]
    return forum_viewer_for(challenge=challenge, user=user)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member(challenge: Challenge) -> User:
    """An approved participant of challenge A."""
    return joined(challenge, "member")
