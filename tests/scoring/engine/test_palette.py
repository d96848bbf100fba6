"""Palette distance: CIELAB conversion, quantile functions, sliced Wasserstein distance."""

from __future__ import annotations

import pytest
import torch

from scoring.engine.palette import (
    DIRECTIONS,
    MAX_PIXELS,
    QUANTILES,
    palette_distances,
    palette_quantiles,
    projection_directions,
    srgb_to_lab,
)


def test_lab_of_white_black_and_primaries() -> None:
    colours = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    lab = srgb_to_lab(colours.view(3, 3, 1, 1)).view(3, 3)
    white = torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(lab[0], white, atol=1e-4, rtol=0)
    torch.testing.assert_close(lab[1], torch.zeros(3, dtype=torch.float64), atol=1e-4, rtol=0)
    # sRGB red: L* 53.24, a* 80.09, b* 67.20 (the published values, to 0.01).
    torch.testing.assert_close(
        lab[2], torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=0.01, rtol=0
    )


def test_directions_are_unit_vectors_on_the_upper_half_sphere() -> None:
    directions = projection_directions()
    assert directions.shape == (3, DIRECTIONS)
    torch.testing.assert_close(directions.norm(dim=0), torch.ones(DIRECTIONS, dtype=torch.float64))
    assert bool((directions[2] >= 0).all())


def test_a_flat_image_is_its_colour_projected_at_every_quantile() -> None:
    grey = torch.full((1, 3, 8, 8), 0.5)
    quantiles = palette_quantiles(grey)
    assert quantiles.shape == (1, QUANTILES, DIRECTIONS)
    expected = srgb_to_lab(grey[:, :, :1, :1]).view(1, 3) @ projection_directions()
    torch.testing.assert_close(quantiles, expected.expand(1, QUANTILES, DIRECTIONS))


def test_distance_of_two_flat_images_is_their_lab_difference_over_100() -> None:
    # Two greys differ only in L* (the first Lab axis): along direction d the quantiles differ
    # by ΔL·d₁, so the root mean square over directions is ΔL·√(mean d₁²), divided by 100.
    dark, light = torch.full((1, 3, 4, 4), 0.2), torch.full((1, 3, 4, 4), 0.6)
    delta = (srgb_to_lab(light) - srgb_to_lab(dark))[0, 0, 0, 0].item()
    first = projection_directions()[0]
    expected = delta * first.pow(2).mean().sqrt().item() / 100
    distance = palette_distances(palette_quantiles(dark), palette_quantiles(light))
    assert distance.shape == (1, 1)
    assert distance.item() == pytest.approx(expected, rel=1e-5)
    assert palette_distances(palette_quantiles(dark), palette_quantiles(dark)).item() == 0.0


def test_large_images_are_read_on_a_regular_grid_of_pixels() -> None:
    side = 256
    assert side * side > MAX_PIXELS
    images = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    # 256² pixels are four times MAX_PIXELS: every second pixel of every second row.
    grid = images[:, :, ::2, ::2]
    torch.testing.assert_close(palette_quantiles(images), palette_quantiles(grid))
    # Pixels off the grid are not read: rearranging them changes nothing.
    shuffled = images.clone()
    shuffled[:, :, 1::2] = shuffled[:, :, 1::2].flip(-1)
    torch.testing.assert_close(palette_quantiles(shuffled), palette_quantiles(images))
