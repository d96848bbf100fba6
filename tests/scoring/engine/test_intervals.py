"""Bootstrap intervals: known data gives known bounds, recomputed here with numpy directly."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

import numpy as np
import pytest

from scoring import engine
from scoring.engine.intervals import (
    INTERVAL_LEVEL,
    INTERVAL_RESAMPLES,
    INTERVAL_SEED,
    bootstrap_intervals,
    intervals_read,
)
from scoring.engine.scorer import composite_of as engine_composite_of


def resampled_means(values: list[float], *, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """The contract, written the obvious way: one index matrix, a gather, a mean per row."""
    indices = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    return np.asarray(values, dtype=np.float64)[indices].mean(axis=1)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    low, high = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


BASELINES = {"style_distance": 1.3, "palette_distance": 0.2}


def composite_of(means: Mapping[str, float]) -> float | None:
    """The engine's composite of a judged result whose unchanged photos score BASELINES."""
    return engine_composite_of(means, baselines=BASELINES, judged=True)


PER_IMAGE = {
    "content_distance": [0.21, 0.35, 0.18, 0.52, 0.40, 0.27, 0.33, 0.61],
    "style_distance": [1.10, 0.95, 1.40, 1.02, 0.88, 1.25, 1.31, 0.97],
    "palette_distance": [0.12, 0.09, 0.22, 0.15, 0.08, 0.11, 0.19, 0.10],
    "judge_realism": [0.62, 0.71, 0.55, 0.80, 0.67, 0.59, 0.74, 0.69],
    "memorization_rate": [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
}


@pytest.mark.parametrize("count", [1, 7, 1000])
def test_constant_values_give_a_point_interval(count: int) -> None:
    constants = {"content_distance": 0.1, "style_distance": 1 / 3, "deception_rate": 1.0}
    intervals = bootstrap_intervals(
        {name: [value] * count for name, value in constants.items()},
        {"composite": lambda means: means["content_distance"] + means["style_distance"]},
    )
    assert intervals == {
        **{name: (value, value) for name, value in constants.items()},
        "composite": (0.1 + 1 / 3, 0.1 + 1 / 3),
    }


def test_two_point_data_gives_the_percentiles_of_the_resampled_means() -> None:
    values = [1.0, 3.0]
    intervals = bootstrap_intervals({"style_distance": values}, seed=7)
    means = resampled_means(values, seed=7)
    # Two images: every resampled mean is 1, 2 or 3; each occurs in a fixed-seed draw.
    assert set(means.tolist()) == {1.0, 2.0, 3.0}
    assert intervals == {"style_distance": percentile_interval(means)}


def test_each_metric_is_bootstrapped_over_the_same_resampled_images() -> None:
    intervals = bootstrap_intervals(PER_IMAGE, seed=3)
    for name, values in PER_IMAGE.items():
        expected = percentile_interval(resampled_means(values, seed=3))
        assert intervals[name] == pytest.approx(expected, rel=1e-12, abs=1e-15), name
        assert intervals[name][0] <= float(np.mean(values)) <= intervals[name][1]


def test_the_composite_interval_is_the_composite_of_resampled_means() -> None:
    intervals = bootstrap_intervals(PER_IMAGE, {"composite": composite_of})
    means = {name: resampled_means(values) for name, values in PER_IMAGE.items()}
    composites = (
        (1 + means["content_distance"])
        * (1 + means["style_distance"] / BASELINES["style_distance"])
        * (1 + means["palette_distance"] / BASELINES["palette_distance"])
        * (2 - means["judge_realism"])
        * (1 + 9 * means["memorization_rate"])
    )
    assert intervals["composite"] == pytest.approx(percentile_interval(composites), rel=1e-12)
    point = composite_of({name: float(np.mean(values)) for name, values in PER_IMAGE.items()})
    assert intervals["composite"][0] < point < intervals["composite"][1]


def test_a_derived_metric_uses_the_resamples_where_it_is_finite() -> None:
    values = [0.0, 1.0, 2.0, 3.0, 4.0]
    means = resampled_means(values)

    def capped(resample: Mapping[str, float]) -> float | None:
        mean = resample["x"]
        return None if mean > 2.5 else math.nan if mean < 1.0 else mean * 10

    intervals = bootstrap_intervals({"x": values}, {"capped": capped})
    kept = means[(means >= 1.0) & (means <= 2.5)] * 10
    assert intervals["capped"] == pytest.approx(percentile_interval(kept), rel=1e-12)
    never = bootstrap_intervals({"x": values}, {"never": lambda resample: None})
    assert "never" not in never


def test_missing_or_non_finite_values_give_no_interval() -> None:
    per_image = {
        **PER_IMAGE,
        "judge_realism": [0.5, None, 0.6, 0.7, 0.5, 0.6, 0.7, 0.5],
        "deception_rate": [1.0, 0.0, math.nan, 1.0, 1.0, 0.0, 1.0, 1.0],
        "palette_distance": [0.1, 0.2, 0.3, math.inf, 0.1, 0.2, 0.3, 0.4],
        "style_distance": [],
    }
    seen: list[set[str]] = []

    def spy(resample: Mapping[str, float]) -> float | None:
        seen.append(set(resample))
        return composite_of(resample)

    intervals = bootstrap_intervals(per_image, {"composite": spy})
    assert set(intervals) == {"content_distance", "memorization_rate"}
    # The derived metric sees only the metrics that have every value, every time.
    assert len(seen) == INTERVAL_RESAMPLES
    assert all(keys == {"content_distance", "memorization_rate"} for keys in seen)
    assert bootstrap_intervals({}) == {}
    assert bootstrap_intervals({"x": [None, None]}, {"composite": composite_of}) == {}


def test_the_same_seed_gives_the_same_intervals() -> None:
    first = bootstrap_intervals(PER_IMAGE, {"composite": composite_of}, seed=11)
    again = bootstrap_intervals(PER_IMAGE, {"composite": composite_of}, seed=11)
    other = bootstrap_intervals(PER_IMAGE, {"composite": composite_of}, seed=12)
    assert first == again
    assert first != other


def test_the_defaults_are_a_fixed_seed_1000_resamples_and_95_percent() -> None:
    assert INTERVAL_RESAMPLES >= 1000
    assert INTERVAL_LEVEL == 0.95
    assert INTERVAL_SEED == 0
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(bootstrap_intervals).parameters.items()
    }
    assert defaults["resamples"] == INTERVAL_RESAMPLES
    assert defaults["seed"] == INTERVAL_SEED
    assert defaults["level"] == INTERVAL_LEVEL
    calls = []
    bootstrap_intervals({"x": [1.0, 2.0]}, {"y": lambda resample: calls.append(1) or 1.0})
    assert len(calls) == INTERVAL_RESAMPLES
    assert engine.bootstrap_intervals is bootstrap_intervals


def test_the_level_sets_the_percentiles() -> None:
    values = PER_IMAGE["content_distance"]
    low, high = bootstrap_intervals({"content_distance": values}, level=0.5)["content_distance"]
    expected = np.percentile(resampled_means(values), [25, 75])
    assert (low, high) == pytest.approx(tuple(expected), rel=1e-12)
    wide_low, wide_high = bootstrap_intervals({"content_distance": values})["content_distance"]
    assert wide_low < low < high < wide_high


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="same images"):
        bootstrap_intervals({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="resamples must be at least 1"):
        bootstrap_intervals({"a": [1.0]}, resamples=0)
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        bootstrap_intervals({"a": [1.0]}, level=1.0)


def test_ten_metrics_of_ten_thousand_images() -> None:
    rng = np.random.default_rng(5)
    per_image = {f"metric_{index}": rng.random(10_000).tolist() for index in range(10)}

    def derived(means: Mapping[str, float]) -> float:
        return means["metric_0"] * means["metric_1"] + means["metric_2"]

    intervals = bootstrap_intervals(per_image, {"composite": derived})
    assert len(intervals) == 11
    expected = percentile_interval(resampled_means(per_image["metric_7"]))
    assert intervals["metric_7"] == pytest.approx(expected, rel=1e-12)


def test_stored_intervals_read_back_as_pairs() -> None:
    stored = {
        "composite": [1.5, 1.75],
        "content_distance": [0, 1],
        "judge_realism": [0.9, 0.1],  # low above high: not an interval
        "style_distance": [1.0],
        "deception_rate": [None, 1.0],
        "unknown": [0.0, 1.0],
    }
    names = ("content_distance", "style_distance", "judge_realism", "deception_rate", "composite")
    assert intervals_read(stored, names) == {
        "content_distance": (0.0, 1.0),
        "composite": (1.5, 1.75),
    }
    assert intervals_read(None, names) == {}
