"""Value ranges of generator inputs and outputs, and conversion from and to float RGB in [0, 1].

The platform hands every generator float RGB in [0, 1] and scores float RGB in [0, 1]; each
architecture has its own native range (TransformerNet works in 0..255, the CycleGAN and pix2pix
generators in -1..1), which a submission may override.
"""

from __future__ import annotations

from enum import StrEnum

import torch


class IORange(StrEnum):
    """A generator's native pixel range; the values are the API's `io_range` strings."""

    UNIT = "0-1"
    BYTE = "0-255"
    SIGNED = "-1-1"

    @property
    def bounds(self) -> tuple[float, float]:
        return _BOUNDS[self]


_BOUNDS = {IORange.UNIT: (0.0, 1.0), IORange.BYTE: (0.0, 255.0), IORange.SIGNED: (-1.0, 1.0)}


def to_model_range(images: torch.Tensor, io_range: IORange) -> torch.Tensor:
    """Map images in [0, 1] to the generator's native range."""
    low, high = io_range.bounds
    if io_range is IORange.UNIT:
        return images
    return images * (high - low) + low


def from_model_range(output: torch.Tensor, io_range: IORange) -> torch.Tensor:
    """Map a generator's output to [0, 1], clamping as the reference scripts do when saving."""
    low, high = io_range.bounds
    if io_range is not IORange.UNIT:
        output = (output - low) / (high - low)
    return output.clamp(0.0, 1.0)
