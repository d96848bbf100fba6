"""One intra-op thread for the training tests: tiny networks gain nothing from a second one,
and on a busy two-core machine the threads' synchronisation costs ten times the work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
