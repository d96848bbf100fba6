"""Clients for API tests: anonymous, or authenticated with a real token header."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from competitions.models import Challenge
from competitions.services import participation_join
from tests.models.checkpoint_files import random_network, save_safetensors


def token_client(user: User | None = None) -> APIClient:
    """A client that sends ``Authorization: Token KEY`` as scripts do (anonymous without user)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api() -> Callable[[User | None], APIClient]:
    return token_client


@pytest.fixture
def joined(challenge: Challenge, participant: User) -> User:
    """``participant``, approved in challenge A."""
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return participant


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-4 TransformerNet with random weights: a checkpoint the platform accepts."""
    folder = tmp_path_factory.mktemp("api-checkpoints")
    return save_safetensors(
        random_network("transformer_net", {"width": 4}).state_dict(), folder / "tiny.safetensors"
    )
