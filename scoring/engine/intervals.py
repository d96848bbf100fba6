"""95 % bootstrap intervals over the test images of a leaderboard subset (README: Intervals).

A paired percentile bootstrap: one matrix of resampled image indices, drawn from a seeded
generator, serves every metric, so that a derived score such as the composite is computed from
metric means of the same resampled images. Every submission on a subset of N images gets the
same matrix (same seed, same N), which makes their intervals comparable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real

import numpy as np

INTERVAL_RESAMPLES = 1000
INTERVAL_SEED = 0
INTERVAL_LEVEL = 0.95

# Resamples turned into image counts at a time: bounds the memory of the counts matrix
# (128 × N floats) whatever the number of resamples.
_BLOCK = 128

BAD_RESAMPLES = "resamples must be at least 1, not {resamples}."
BAD_LEVEL = "level must lie strictly between 0 and 1, not {level}."
UNEVEN_LENGTHS = "Per-image values must cover the same images: {lengths}."

Derived = Callable[[Mapping[str, float]], float | None]


def bootstrap_intervals(
    per_image: Mapping[str, Sequence[float | None]],
    derived: Mapping[str, Derived] | None = None,
    *,
    resamples: int = INTERVAL_RESAMPLES,
    seed: int = INTERVAL_SEED,
    level: float = INTERVAL_LEVEL,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the mean of each per-image metric, and of each derived metric.

    `per_image` maps a metric to its values in image order; a metric with a missing or
    non-finite value (or none at all) gets no interval and is left out of the means the
    derived metrics see. `derived[name](means)` is evaluated on the metric means of every
    resample; its interval is taken over the resamples where it returned a finite number
    (none: no interval).
    """
    if resamples < 1:
        raise ValueError(BAD_RESAMPLES.format(resamples=resamples))
    if not 0.0 < level < 1.0:
        raise ValueError(BAD_LEVEL.format(level=level))
    columns = {name: np.asarray(values, dtype=np.float64) for name, values in per_image.items()}
    lengths = {name: len(column) for name, column in columns.items() if len(column)}
    if len(set(lengths.values())) > 1:
        raise ValueError(UNEVEN_LENGTHS.format(lengths=lengths))
    usable = {
        name: column
        for name, column in columns.items()
        if len(column) and bool(np.isfinite(column).all())
    }
    if not usable:
        return {}
    names = list(usable)
    means = _resampled_means(np.column_stack(list(usable.values())), resamples, seed)
    percentiles = [50.0 * (1.0 - level), 50.0 * (1.0 + level)]
    lows, highs = np.percentile(means, percentiles, axis=0)
    intervals = {
        name: (float(low), float(high)) for name, low, high in zip(names, lows, highs, strict=True)
    }
    rows = [dict(zip(names, row, strict=True)) for row in means.tolist()] if derived else []
    for name, function in (derived or {}).items():
        values = [value for value in map(function, rows) if _finite(value)]
        if values:
            low, high = np.percentile(np.asarray(values, dtype=np.float64), percentiles)
            intervals[name] = (float(low), float(high))
    return intervals


def intervals_read(stored: object, names: Iterable[str]) -> dict[str, tuple[float, float]]:
    """Intervals as a result row stores them (JSON: name → [low, high]) back as pairs, in the
    order of `names`; anything but two finite numbers with low ≤ high is left out."""
    if not isinstance(stored, Mapping):
        return {}
    intervals = {}
    for name in names:
        bounds = stored.get(name)
        if isinstance(bounds, list | tuple) and len(bounds) == 2:
            low, high = bounds
            if _finite(low) and _finite(high) and low <= high:
                intervals[name] = (float(low), float(high))
    return intervals


def _resampled_means(matrix: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Resamples × metrics: the metric means over each row of `default_rng(seed).integers(0,
    N, size=(resamples, N))`, as image counts times values (a matrix product, not a gather of
    resamples × N × metrics values).

    Values are taken relative to the first image's, so that a constant metric sums exact
    zeros and its interval is exactly [c, c], and large offsets do not cost precision."""
    count = matrix.shape[0]
    indices = np.random.default_rng(seed).integers(0, count, size=(resamples, count))
    origin = matrix[0]
    shifted = matrix - origin
    means = np.empty((resamples, matrix.shape[1]), dtype=np.float64)
    for start in range(0, resamples, _BLOCK):
        block = indices[start : start + _BLOCK]
        offsets = np.arange(block.shape[0])[:, None] * count
        counts = np.bincount((block + offsets).ravel(), minlength=block.size)
        means[start : start + block.shape[0]] = (
            counts.reshape(block.shape).astype(np.float64) @ shifted
        ) / count + origin
    return means


def _finite(value: object) -> bool:
    """A real, finite number (numpy's included), not None, NaN, ±∞ or a bool."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
