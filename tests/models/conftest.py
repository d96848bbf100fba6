"""Fixtures of the models/ tests: no Django, no database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from models.architectures import register_architecture, unregister_architecture
from tests.models import faulty
from tests.models.checkpoint_files import (
    GENERATOR_CASES,
    example_inputs,
    export_program,
    random_network,
    save_safetensors,
)

REALWORLD = Path(__file__).resolve().parents[2] / ".." / "shared" / "realworld"


@pytest.fixture(scope="module")
def faulty_architectures() -> Iterator[dict[str, str]]:
    """Register the misbehaving test generators for one test module.

    Yields fault name → architecture name; the registry is back to the production entries once
    the module is done.
    """
    for entry in faulty.FAULTY.values():
        register_architecture(entry)
    yield {fault: entry.name for fault, entry in faulty.FAULTY.items()}
    for entry in faulty.FAULTY.values():
        unregister_architecture(entry.name)


@pytest.fixture(scope="session")
def faulty_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weights every faulty generator loads: its single scale."""
    path = tmp_path_factory.mktemp("faulty") / "faulty.safetensors"
    return save_safetensors(faulty.Faulty().state_dict(), path)


@pytest.fixture(scope="session")
def program_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The .pt2 file of a generator case, exported once per session (exporting takes seconds)."""
    folder = tmp_path_factory.mktemp("programs")
    cache: dict[str, Path] = {}

    def exported(case: str) -> Path:
        if case not in cache:
            architecture, config = GENERATOR_CASES[case]
            network = random_network(architecture, config)
            inputs = example_inputs(architecture)
            cache[case] = export_program(network, inputs, folder / f"{case}.pt2")
        return cache[case]

    return exported


@pytest.fixture(scope="session")
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"the real-world fixtures are not at {REALWORLD}")
    return REALWORLD
