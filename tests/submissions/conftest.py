"""Checkpoint files for submission tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.architectures import register_architecture, unregister_architecture
from tests.models import faulty
from tests.models.checkpoint_files import random_network, save_safetensors


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-4 TransformerNet with random weights, as a participant would upload it."""
    folder = tmp_path_factory.mktemp("checkpoints")
    return save_safetensors(
        random_network("transformer_net", {"width": 4}).state_dict(), folder / "tiny.safetensors"
    )


@pytest.fixture
def faulty_generators() -> Iterator[None]:
    """The misbehaving test generators of tests/models/faulty.py, registered for one test."""
    for entry in faulty.FAULTY.values():
        register_architecture(entry)
    yield
    for entry in faulty.FAULTY.values():
        unregister_architecture(entry.name)


@pytest.fixture(scope="session")
def faulty_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faulty") / "faulty.safetensors"
    return save_safetensors(faulty.Faulty().state_dict(), path)
