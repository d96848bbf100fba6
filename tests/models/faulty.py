"""Misbehaving generators for the runner's tests, registered only by tests/models/conftest.py.

The runner sends an architecture entry to its child process by pickling, so the child imports
this module by name (`tests.models.faulty`) to rebuild the entry; nothing here ever enters the
production registry.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.architectures import Architecture, Inputs, Role
from models.io_range import IORange
from models.zoo.shapes import Shapes

SLEEP_S = 3600.0
# Four times the runner tests' 256 MiB limit, and harmless should a limit ever fail to apply.
HOG_BYTES = 1 << 30
# Where a sleeper writes its process id, when the variable is set (in its caller's environment
# when the forkserver started).
PID_FILE_VARIABLE = "ATELIER_TEST_SLEEPER_PID_FILE"


class Faulty(nn.Module):
    """One learnable scale, so a checkpoint exists; subclasses misbehave in `fault`."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fault(x * self.scale)

    def fault(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Sleeper(Faulty):
    def fault(self, x: torch.Tensor) -> torch.Tensor:
        if pid_file := os.environ.get(PID_FILE_VARIABLE):
            Path(pid_file).write_text(str(os.getpid()))
        time.sleep(SLEEP_S)
        return x


class Hog(Faulty):
    def fault(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.ones(HOG_BYTES, dtype=torch.uint8).sum()


class Shrinker(Faulty):
    def fault(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::2, ::2]


class Greyscale(Faulty):
    def fault(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True)


class NaNs(Faulty):
    def fault(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


class Suicide(Faulty):
    def fault(self, x: torch.Tensor) -> torch.Tensor:
        os.kill(os.getpid(), signal.SIGKILL)
        return x


def no_config(shapes: Shapes) -> dict[str, Any]:
    return {}


def build_sleeper(config: Mapping[str, Any]) -> nn.Module:
    return Sleeper()


def build_hog(config: Mapping[str, Any]) -> nn.Module:
    return Hog()


def build_shrinker(config: Mapping[str, Any]) -> nn.Module:
    return Shrinker()


def build_greyscale(config: Mapping[str, Any]) -> nn.Module:
    return Greyscale()


def build_nans(config: Mapping[str, Any]) -> nn.Module:
    return NaNs()


def build_suicide(config: Mapping[str, Any]) -> nn.Module:
    return Suicide()


def _entry(name: str, build: Any) -> Architecture:
    return Architecture(
        name=name,
        description=f"test-only generator: {name}",
        role=Role.GENERATOR,
        io_range=IORange.UNIT,
        inputs=Inputs.CONTENT,
        build=build,
        infer_config=no_config,
    )


FAULTY = {
    "sleeper": _entry("test_sleeper", build_sleeper),
    "hog": _entry("test_hog", build_hog),
    "shrinker": _entry("test_shrinker", build_shrinker),
    "greyscale": _entry("test_greyscale", build_greyscale),
    "nans": _entry("test_nans", build_nans),
    "suicide": _entry("test_suicide", build_suicide),
}
