"""K style prototypes: k-means over Gram vectors, deterministic, nearest prototype wins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scoring.engine import ErrorCode, ScoringError
from scoring.engine.errors import DEGENERATE_STYLE, TOO_MANY_PROTOTYPES
from scoring.engine.metrics import squared_norms, style_distances
from scoring.engine.prototypes import farthest_first, style_prototypes


def _grams(*values: tuple[float, float]) -> dict[str, torch.Tensor]:
    """Two one-channel "layers" per style image: Gram matrices of shape 1×1."""
    first = torch.tensor([[[a]] for a, _ in values])
    second = torch.tensor([[[b]] for _, b in values])
    return {"a": first, "b": second}


# Two clusters: images 0-2 near (1, 1), images 3-4 near (10, 10).
CLUSTERED = _grams((1.0, 1.0), (1.2, 0.8), (0.8, 1.2), (10.0, 10.0), (10.4, 9.6))


def test_one_prototype_is_the_mean_of_all_style_images() -> None:
    prototypes = style_prototypes(CLUSTERED, 1)
    assert prototypes["a"].flatten().tolist() == pytest.approx([23.4 / 5])
    assert prototypes["b"].flatten().tolist() == pytest.approx([22.6 / 5])


def test_two_prototypes_are_the_two_cluster_means() -> None:
    prototypes = style_prototypes(CLUSTERED, 2)
    pairs = zip(prototypes["a"].flatten().tolist(), prototypes["b"].flatten().tolist(), strict=True)
    found = sorted(pairs)
    assert found == [pytest.approx((1.0, 1.0)), pytest.approx((10.2, 9.8))]


def test_nearest_prototype_wins() -> None:
    prototypes = style_prototypes(CLUSTERED, 2)
    norms = {tap: squared_norms(target) for tap, target in prototypes.items()}
    outputs = _grams((1.0, 1.0), (10.2, 9.8))
    distances = style_distances(outputs, prototypes, norms)
    # Each output sits exactly on one prototype: its style distance (the minimum) is zero.
    assert distances.amin(dim=1).tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert distances.amax(dim=1).min() > 0.5


def test_prototypes_are_deterministic() -> None:
    first = style_prototypes(CLUSTERED, 2)
    second = style_prototypes(CLUSTERED, 2)
    assert all(torch.equal(first[tap], second[tap]) for tap in first)


def test_farthest_first_starts_near_the_mean_and_spreads_out() -> None:
    data = np.array([[0.0], [1.0], [2.0], [10.0]])
    # The mean is 3.25: the nearest row is 2.0; then the farthest from it, 10.0; then 0.0.
    assert farthest_first(data, 3).flatten().tolist() == [2.0, 10.0, 0.0]


def test_more_prototypes_than_distinct_style_images_is_refused() -> None:
    duplicated = _grams((1.0, 1.0), (1.0, 1.0), (5.0, 5.0))
    with pytest.raises(ScoringError) as caught:
        style_prototypes(duplicated, 3)
    assert caught.value.code == ErrorCode.TOO_MANY_PROTOTYPES
    assert caught.value.message == TOO_MANY_PROTOTYPES.format(k=3, found=2)


def test_prototypes_of_an_ensemble_keep_each_members_gram() -> None:
    """With members×C×C Grams per image, the mean prototype is the mean of each block."""
    generator = torch.Generator().manual_seed(0)
    grams = {
        "relu1_1": torch.rand(4, 3, 2, 2, generator=generator),
        "relu2_1": torch.rand(4, 3, 5, 5, generator=generator),
    }
    prototypes = style_prototypes(grams, 1)
    for tap, values in grams.items():
        assert prototypes[tap].shape == (1, *values.shape[1:])
        assert torch.allclose(prototypes[tap][0], values.mean(dim=0), atol=1e-6)


def test_a_statistic_no_style_image_has_stays_zero_and_none_at_all_is_refused() -> None:
    generator = torch.Generator().manual_seed(0)
    statistics = {
        "relu1_1.mean": torch.rand(3, 4, generator=generator),
        "relu5_1.covariance": torch.zeros(3, 4, 4),
    }
    prototypes = style_prototypes(statistics, 2)
    assert torch.equal(prototypes["relu5_1.covariance"], torch.zeros(2, 4, 4))
    with pytest.raises(ScoringError) as caught:
        style_prototypes({key: torch.zeros_like(value) for key, value in statistics.items()}, 1)
    assert caught.value.code == ErrorCode.DEGENERATE_REFERENCE
    assert caught.value.message == DEGENERATE_STYLE
