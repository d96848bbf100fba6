"""Architectures whose config inference misbehaves, for tests of the validation child.

Validation calls an architecture's `infer_config` on the checkpoint's shapes; these sleep, die
or fail there, inside the child, as a parser tripping over a hostile file might. The child
rebuilds an entry by importing this module by name, as it does `tests.models.faulty`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from models.architectures import (
    Architecture,
    Inputs,
    Role,
    register_architecture,
    unregister_architecture,
)
from models.io_range import IORange
from models.zoo.shapes import Shapes
from tests.models import faulty

SLEEP_S = 3600.0


def sleep(shapes: Shapes) -> dict[str, Any]:
    time.sleep(SLEEP_S)
    return {}


def segfault(shapes: Shapes) -> dict[str, Any]:
    os.kill(os.getpid(), signal.SIGSEGV)
    return {}


def killed(shapes: Shapes) -> dict[str, Any]:
    """What the kernel's out-of-memory killer does."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def divide_by_zero(shapes: Shapes) -> dict[str, Any]:
    return {"width": len(shapes) // 0}


def _entry(name: str, infer_config: Callable[[Shapes], dict[str, Any]]) -> Architecture:
    return Architecture(
        name=name,
        description=f"test-only architecture: {name}",
        role=Role.GENERATOR,
        io_range=IORange.UNIT,
        inputs=Inputs.CONTENT,
        build=faulty.build_greyscale,
        infer_config=infer_config,
    )


FAULTY_VALIDATION = {
    "sleep": _entry("test_validation_sleep", sleep),
    "segfault": _entry("test_validation_segfault", segfault),
    "killed": _entry("test_validation_killed", killed),
    "divide_by_zero": _entry("test_validation_divide_by_zero", divide_by_zero),
}


@contextmanager
def registered() -> Iterator[dict[str, str]]:
    """The entries registered, by fault; gone from the registry afterwards."""
    for entry in FAULTY_VALIDATION.values():
        register_architecture(entry)
    try:
        yield {fault: entry.name for fault, entry in FAULTY_VALIDATION.items()}
    finally:
        for entry in FAULTY_VALIDATION.values():
            unregister_architecture(entry.name)
