"""Each metric of DESIGN.md section 6 against small cases computed by hand."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from models.perceptual import STYLE_TAPS, gram_matrices
from scoring.engine import ErrorCode, ScoringError
from scoring.engine.errors import FRECHET_IMAGINARY
from scoring.engine.metrics import (
    METRIC_DIRECTIONS,
    METRICS,
    STYLE_KEYS,
    Direction,
    PatchStatistics,
    composite,
    content_distances,
    frechet_distance,
    is_number,
    layouts,
    memorized,
    mirrored,
    paired_style_distances,
    squared_norms,
    structural_signatures,
    style_distances,
    style_statistics,
)
from tests.scoring.engine.helpers import smooth_images


def test_gram_matrix_of_a_known_tensor() -> None:
    # F has C=2 channels over H·W = 1·2 positions: rows (1, 2) and (3, 4).
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / (2 * 1 * 2)
    assert torch.equal(gram_matrices(features), expected)


def test_gram_matrix_is_the_same_for_channels_last_features() -> None:
    features = torch.rand(2, 5, 4, 3, generator=torch.Generator().manual_seed(0))
    expected = gram_matrices(features.contiguous())
    channels_last = gram_matrices(features.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(channels_last, expected)


def test_a_layout_is_the_centred_unit_norm_cell_average() -> None:
    # One channel, 4×4 at resolution 32: cells of 16 pixels make a 2×2 grid of 2×2 blocks.
    features = torch.tensor([[[[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0], [5.0] * 4, [5.0] * 4]]])
    expected = torch.tensor([[-2.5, -0.5, 1.5, 1.5]], dtype=torch.float64) / math.sqrt(11)
    torch.testing.assert_close(layouts(features, 32), expected)
    flat = torch.full((1, 1, 4, 4), 7.0)
    assert layouts(flat, 32).abs().max().item() == 0.0


def test_content_distance_is_one_minus_the_cosine_of_the_layouts() -> None:
    scene = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    reference = layouts(scene, 64)
    assert content_distances(layouts(scene, 64), reference).item() == pytest.approx(0.0)
    # Brighter or with more contrast, the scene is the same scene.
    assert content_distances(layouts(3 * scene + 1, 64), reference).item() == pytest.approx(0.0)
    assert content_distances(layouts(-scene, 64), reference).item() == pytest.approx(2.0)
    flat = torch.full_like(scene, 0.5)
    assert content_distances(layouts(flat, 64), reference).item() == 1.0


def test_style_distance_averages_bounded_relative_errors_over_the_statistics() -> None:
    statistics = {"a": torch.tensor([[[2.0]]]), "b": torch.tensor([[1.0, 0.0]])}
    targets = {"a": torch.tensor([[[1.0]], [[2.0]]]), "b": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    norms = {"a": torch.tensor([1.0, 4.0], dtype=torch.float64)}
    norms["b"] = torch.tensor([1.0, 1.0], dtype=torch.float64)
    distances = style_distances(statistics, targets, norms)
    # Target 0: a (2−1)² / (4 + 1) = 0.2, b 0. Target 1: a 0, b (1 + 1) / (1 + 1) = 1, the
    # most two non-negative statistics can differ. Mean over the 2 statistics.
    assert distances.tolist() == [[0.1, 0.5]]
    # A statistic neither side has (zero on both) is no difference.
    statistics["c"] = torch.zeros(1, 2)
    targets["c"], norms["c"] = torch.zeros(2, 2), torch.zeros(2, dtype=torch.float64)
    assert style_distances(statistics, targets, norms).tolist() == [[0.2 / 3, 1 / 3]]


def test_style_statistics_are_the_covariance_and_the_mean_of_each_tap() -> None:
    # One channel pair over 1×2 positions: rows (1, 2) and (3, 4); means 1.5 and 3.5.
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    statistics = style_statistics([dict.fromkeys(STYLE_TAPS, features)])
    assert tuple(statistics) == STYLE_KEYS
    # E[f fᵀ] − μμᵀ = [[¼, ¼], [¼, ¼]], scaled by 1/C like a Gram matrix.
    expected = torch.full((1, 2, 2), 0.25) / 2
    torch.testing.assert_close(statistics["relu3_1.covariance"], expected)
    torch.testing.assert_close(statistics["relu3_1.mean"], torch.tensor([[1.5, 3.5]]))
    # An ensemble gets one statistic per member, side by side.
    both = style_statistics([dict.fromkeys(STYLE_TAPS, features)] * 2)
    assert both["relu1_1.covariance"].shape == (1, 2, 2, 2)
    assert both["relu1_1.mean"].shape == (1, 2, 2)


def test_a_flat_image_of_the_style_colour_is_far_from_a_textured_style() -> None:
    """The covariance of a flat image is zero, so its half of the style distance is whole
    (each of its terms 1) whatever its colour: a flat colour is no painting, however well it
    matches on average."""
    generator = torch.Generator().manual_seed(0)
    texture = torch.relu(torch.randn(1, 8, 16, 16, generator=generator) + 2.0)
    flat = texture.mean(dim=(2, 3), keepdim=True).expand_as(texture)
    target = style_statistics([dict.fromkeys(STYLE_TAPS, texture)])
    norms = {key: squared_norms(value) for key, value in target.items()}
    own = style_distances(target, target, norms).item()
    flat_distance = style_distances(
        style_statistics([dict.fromkeys(STYLE_TAPS, flat)]), target, norms
    ).item()
    assert own == 0.0
    assert flat_distance == pytest.approx(0.5, abs=1e-4)
    # The uncentred Gram matrix, mostly the mean's outer product, barely tells them apart.
    gram, flat_gram = gram_matrices(texture), gram_matrices(flat)
    assert (squared_norms(gram - flat_gram) / squared_norms(gram)).item() < 0.1


def test_paired_style_distance_compares_each_output_with_its_own_target() -> None:
    grams = {"a": torch.tensor([[[1.0]], [[3.0]]])}
    targets = {"a": torch.tensor([[[1.0]], [[2.0]]])}
    norms = {"a": torch.tensor([1.0, 4.0], dtype=torch.float64)}
    pairs = torch.tensor([1, 1])
    # (1 − 2)² / (1 + 4) and (3 − 2)² / (9 + 4).
    assert paired_style_distances(grams, targets, norms, pairs).tolist() == pytest.approx(
        [1 / 5, 1 / 13]
    )


def test_frechet_distance_of_two_gaussians_has_its_closed_form() -> None:
    # Diagonal covariances commute: (Σa Σb)^½ = diag(√(σa σb)).
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    variances_a, variances_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 4 + np.sum(variances_a + variances_b - 2 * np.sqrt(variances_a * variances_b))
    distance = frechet_distance(mean_a, np.diag(variances_a), mean_b, np.diag(variances_b))
    assert distance == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_of_rotated_gaussians() -> None:
    # Σa = R diag(1, 4) Rᵀ and Σb = R diag(9, 1) Rᵀ share eigenvectors: Tr root = 3 + 2.
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    covariance_a = rotation @ np.diag([1.0, 4.0]) @ rotation.T
    covariance_b = rotation @ np.diag([9.0, 1.0]) @ rotation.T
    zero = np.zeros(2)
    distance = frechet_distance(zero, covariance_a, zero, covariance_b)
    assert distance == pytest.approx(5 + 10 - 2 * 5, rel=1e-9)


def test_frechet_distance_regularises_a_singular_product(caplog: pytest.LogCaptureFixture) -> None:
    covariance = np.diag([1.0, 0.0])
    with caplog.at_level(logging.INFO, logger="scoring.engine.metrics"):
        distance = frechet_distance(np.zeros(2), covariance, np.zeros(2), covariance)
    assert distance == pytest.approx(0.0, abs=1e-5)
    assert "singular covariance product" in caplog.text


def test_frechet_distance_refuses_a_large_imaginary_component() -> None:
    # Not covariances, but the check must hold whatever the numerics: sqrt(−1) = i.
    with pytest.raises(ScoringError) as caught:
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0]))
    assert caught.value.code == ErrorCode.FRECHET_IMAGINARY
    assert caught.value.message == FRECHET_IMAGINARY.format(value=1.0)


def test_patch_statistics_match_numpy() -> None:
    rows = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    statistics = PatchStatistics()
    for chunk in torch.split(rows, 64):
        statistics.add(chunk)
    mean, covariance = statistics.mean_and_covariance()
    np.testing.assert_allclose(mean.numpy(), rows.double().mean(dim=0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(covariance.numpy(), np.cov(rows.double().numpy().T), rtol=1e-10)


def test_structural_signature_is_zero_mean_unit_norm_luminance() -> None:
    images = smooth_images(3, 64)
    signatures = structural_signatures(images)
    assert signatures.shape == (3, 32 * 32)
    assert signatures.dtype == torch.float64
    torch.testing.assert_close(signatures.sum(dim=1), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(signatures.norm(dim=1), torch.ones(3, dtype=torch.float64))


def test_structural_signature_ignores_colour_and_brightness_shifts() -> None:
    image = smooth_images(1, 64)
    shifted = (image * 0.5 + 0.2).clamp(0, 1)
    correlation = structural_signatures(image) @ structural_signatures(shifted).T
    assert float(correlation) == pytest.approx(1.0)


def test_flat_image_has_no_structure() -> None:
    assert torch.equal(structural_signatures(torch.full((1, 3, 32, 32), 0.5)), torch.zeros(1, 1024))


def _memorized(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> bool:
    styles = torch.cat([style, mirrored(style)])
    return bool(
        memorized(
            structural_signatures(output),
            structural_signatures(content),
            structural_signatures(styles),
        )[0]
    )


def test_memorization_flags_a_verbatim_and_a_mirrored_copy_of_a_style_image() -> None:
    content, style = smooth_images(1, 64, seed=1), smooth_images(1, 64, seed=2)
    assert _memorized(style, content, style)
    assert _memorized(mirrored(style), content, style)


def test_memorization_spares_a_stylised_photo() -> None:
    content, style = smooth_images(1, 64, seed=1), smooth_images(1, 64, seed=2)
    stylised = (0.7 * content + 0.3 * style).clamp(0, 1)
    assert not _memorized(stylised, content, style)


def test_memorization_needs_more_than_the_threshold() -> None:
    content, style = smooth_images(1, 64, seed=1), smooth_images(1, 64, seed=2)
    noise = smooth_images(1, 64, seed=3)
    # Mostly the style image, but correlated only about 0.7 with it and little with the photo.
    partial = (0.55 * style + 0.45 * noise).clamp(0, 1)
    correlation = float(structural_signatures(partial) @ structural_signatures(style).T)
    assert 0.5 < correlation < 0.8
    assert not _memorized(partial, content, style)


def test_memorization_needs_more_than_the_correlation_with_the_own_photo() -> None:
    # A photo that already looks like the style image: returning it is not copying the style.
    style = smooth_images(1, 64, seed=2)
    content = (style + 0.05 * smooth_images(1, 64, seed=4)).clamp(0, 1)
    output = (content + 0.02 * smooth_images(1, 64, seed=5)).clamp(0, 1)
    signatures = structural_signatures(torch.cat([output, content, style]))
    assert float(signatures[0] @ signatures[2]) > 0.8
    assert float(signatures[0] @ signatures[1]) > float(signatures[0] @ signatures[2])
    assert not _memorized(output, content, style)


def test_memorization_without_public_style_images() -> None:
    signatures = structural_signatures(smooth_images(2, 32))
    assert memorized(signatures, signatures, torch.zeros(0, 1024)).tolist() == [False, False]


def _composite(**values: float) -> float:
    baselines = {"style_baseline": 0.5, "palette_baseline": 0.2}
    return composite(**{"memorization_rate": 0.0, **baselines, **values})


def test_default_composite() -> None:
    # Style and palette are measured against the unchanged photos' distances (the baselines).
    at_baseline = {"content_distance": 0.0, "style_distance": 0.5, "palette_distance": 0.2}
    assert _composite(**at_baseline) == pytest.approx(4.0)
    assert _composite(**at_baseline, judge_realism=0.0) == pytest.approx(8.0)
    half = {"content_distance": 0.5, "style_distance": 0.25, "palette_distance": 0.1}
    assert _composite(**half, judge_realism=0.5) == pytest.approx(1.5 * 1.5 * 1.5 * 1.5)
    assert _composite(**half, judge_realism=0.5, memorization_rate=0.5) == pytest.approx(
        1.5**4 * 5.5
    )
    perfect = {"content_distance": 0.0, "style_distance": 0.0, "palette_distance": 0.0}
    assert _composite(**perfect, judge_realism=1.0) == 1.0


def test_no_attempt_ranks_below_a_real_stylisation() -> None:
    """The unchanged photo keeps its content perfectly and fails on style and palette."""
    identity = _composite(
        content_distance=0.0, style_distance=0.5, palette_distance=0.2, judge_realism=0.1
    )
    stylised = _composite(
        content_distance=0.6, style_distance=0.1, palette_distance=0.06, judge_realism=0.8
    )
    assert stylised < identity


def test_a_baseline_of_zero_does_not_divide_by_zero() -> None:
    value = composite(
        content_distance=0.1,
        style_distance=0.1,
        palette_distance=0.1,
        memorization_rate=0.0,
        style_baseline=0.0,
        palette_baseline=0.0,
    )
    assert math.isfinite(value)


def test_every_metric_has_a_direction() -> None:
    assert METRICS[0] == "content_distance"
    assert METRICS[-1] == "composite"
    assert METRIC_DIRECTIONS["judge_realism"] is Direction.HIGHER
    assert METRIC_DIRECTIONS["deception_rate"] is Direction.HIGHER
    assert METRIC_DIRECTIONS["palette_distance"] is Direction.LOWER
    lower = {name for name, way in METRIC_DIRECTIONS.items() if way is Direction.LOWER}
    assert lower == set(METRICS) - {"judge_realism", "deception_rate"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, True), (0, True), (None, False), (math.nan, False), (math.inf, False), (True, False)],
)
def test_is_number(value: object, expected: bool) -> None:
    assert is_number(value) is expected
