"""Fixtures of the scoring engine tests: no Django, no database; small networks and images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scoring.engine import Judge, JudgeSettings, MetricNetwork, judge_train
from tests.scoring.engine.helpers import REALWORLD, smooth_images, stripes

TINY = 32


@pytest.fixture(scope="session")
def tiny_network() -> MetricNetwork:
    """A seeded random texture network of width 4: the real scales at a fraction of the cost."""
    return MetricNetwork.random(seed=0, width=4)


@pytest.fixture(scope="session")
def content() -> torch.Tensor:
    return smooth_images(6, TINY, seed=1)


@pytest.fixture(scope="session")
def style() -> torch.Tensor:
    return stripes(2, TINY, period=4)


@pytest.fixture(scope="session")
def tiny_judge(content: torch.Tensor, style: torch.Tensor) -> Judge:
    settings = JudgeSettings(steps=20, width=4, n_layers=2, crop=16, batch_size=4)
    return judge_train(style, content, settings).judge


@pytest.fixture(scope="session")
def other_judge(content: torch.Tensor, style: torch.Tensor) -> Judge:
    """The same training with another seed: another judge file."""
    settings = JudgeSettings(steps=20, seed=1, width=4, n_layers=2, crop=16, batch_size=4)
    return judge_train(style, content, settings).judge


@pytest.fixture(scope="session")
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"the real-world fixtures are not at {REALWORLD}")
    return REALWORLD
