"""Reading widths and depths off a checkpoint's tensor shapes, with participant-safe errors."""

from __future__ import annotations

from collections.abc import Mapping

from models.errors import MISSING_KEYS, SHAPE_MISMATCH, ErrorCode, ModelError, first_keys

Shapes = Mapping[str, tuple[int, ...]]


def tensor_shape(shapes: Shapes, key: str, *, rank: int, architecture: str) -> tuple[int, ...]:
    """The shape of `key`, which must exist with `rank` dimensions, all positive."""
    if key not in shapes:
        raise ModelError(
            ErrorCode.MISSING_KEYS,
            MISSING_KEYS.format(count=1, architecture=architecture, keys=first_keys([key])),
        )
    shape = tuple(shapes[key])
    if len(shape) != rank or min(shape, default=1) <= 0:
        raise ModelError(
            ErrorCode.SHAPE_MISMATCH,
            SHAPE_MISMATCH.format(
                key=key,
                found=list(shape),
                architecture=architecture,
                expected=f"{rank} positive dimensions",
            ),
        )
    return shape


def count_consecutive(shapes: Shapes, pattern: str, start: int = 0) -> int:
    """How many of `pattern.format(start)`, `pattern.format(start + 1)`, ... exist in a row."""
    count = 0
    while pattern.format(start + count) in shapes:
        count += 1
    return count
