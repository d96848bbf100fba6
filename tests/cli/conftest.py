"""The `atelier` client run as a participant runs it: a separate process talking HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from tests.models.checkpoint_files import random_network, save_safetensors

ROOT = Path(__file__).resolve().parents[2]
# The console script `pip install -e .` puts beside the interpreter.
CONSOLE_SCRIPT = Path(sys.executable).parent / "atelier"


def run_cli(
    *arguments: str,
    env: dict[str, str],
    timeout: float = 60,
    script: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`python atelier_cli.py ...` (or the installed `atelier` script), output captured."""
    command = [str(CONSOLE_SCRIPT)] if script else [sys.executable, str(ROOT / "atelier_cli.py")]
    return subprocess.run(
        [*command, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    """The live server runs in this process and counts API requests in its cache; users of
    earlier tests may share ids with this one's, so every test starts from zero."""
    cache.clear()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no token and no configuration file: each test adds what it needs.

    HOME points at an empty folder so that a developer's own ~/.config/atelier stays out.
    """
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ATELIER_") and key not in ("DJANGO_SETTINGS_MODULE",)
    }
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def participant_token(participant: User) -> str:
    return Token.objects.create(user=participant).key


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-4 TransformerNet with random weights: scored in seconds on a CPU."""
    folder = tmp_path_factory.mktemp("cli-checkpoints")
    return save_safetensors(
        random_network("transformer_net", {"width": 4}).state_dict(), folder / "tiny.safetensors"
    )
