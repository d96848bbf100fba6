"""Palette distance: how far an image's colours are from the style's, in CIELAB.

A style is as much its colours as its strokes, and colour needs no learned weights: the
distance is the sliced Wasserstein distance between the image's pixel colours and the style's,
in CIELAB (D65), where Euclidean distance approximates perceived difference (ΔE*ab 1976).
Every pixel is projected on a fixed set of directions of Lab space; along each direction the
two distributions are compared by their quantile functions (the 1-D Wasserstein-2 distance is
the L2 distance between quantile functions); the distance is the root mean square over
directions and quantiles, divided by 100 (the L* range), so 0.1 is about ten ΔE units.

The directions are the first `DIRECTIONS` points of a Fibonacci lattice on the half sphere
(deterministic, no random draw, nearly evenly spread); the quantiles are `QUANTILES` evenly
spaced probabilities. A set of style images is one distribution whose quantile function along
each direction is the mean of theirs: the Wasserstein barycenter, which for 1-D distributions
is exactly that average.
"""

from __future__ import annotations

import math

import torch

DIRECTIONS = 32
QUANTILES = 64
# Palettes are read from at most this many pixels per image (a 128×128 grid).
MAX_PIXELS = 128 * 128
# sRGB (IEC 61966-2-1) to linear light, then to CIE XYZ under D65, normalised by the white.
_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)
_EPSILON = (6 / 29) ** 3
L_RANGE = 100.0


def srgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """CIELAB (L* in [0, 100]) of a B×3×H×W batch of sRGB values in [0, 1], in float64."""
    rgb = images.double()
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_SRGB_TO_XYZ, dtype=torch.float64, device=images.device)
    white = torch.tensor(_D65_WHITE, dtype=torch.float64, device=images.device)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear) / white.view(1, 3, 1, 1)
    f = torch.where(
        xyz > _EPSILON, xyz.clamp_min(_EPSILON) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29
    )
    lightness = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([lightness, a, b], dim=1)


def projection_directions(count: int = DIRECTIONS) -> torch.Tensor:
    """3×count unit vectors: a Fibonacci lattice on the upper half sphere (z ≥ 0)."""
    golden = math.pi * (3 - math.sqrt(5))
    index = torch.arange(count, dtype=torch.float64)
    z = 1 - (index + 0.5) / count
    radius = torch.sqrt(1 - z * z)
    angle = golden * index
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle), z])


def palette_quantiles(images: torch.Tensor) -> torch.Tensor:
    """Each image's quantile functions along the fixed Lab directions: B×QUANTILES×DIRECTIONS.

    Above MAX_PIXELS pixels the colours are those of a regular grid (every s-th pixel of every
    s-th row, the smallest s that fits): a sample of the whole picture, never a blend of
    neighbours, so the cost stays that of a 128-pixel image (sorting every pixel of a batch of
    256-pixel images cost a quarter of the metric network's forward pass).
    """
    stride = math.ceil(math.sqrt(images.shape[-2] * images.shape[-1] / MAX_PIXELS))
    sample = images[:, :, ::stride, ::stride]
    lab = srgb_to_lab(sample).flatten(2).transpose(1, 2)  # B×pixels×3
    projected = (lab @ projection_directions().to(lab.device)).float().transpose(1, 2)
    ordered, _ = projected.contiguous().sort(dim=2)  # B×directions×pixels: sorts run along rows
    pixels = ordered.shape[2]
    positions = ((torch.arange(QUANTILES, dtype=torch.float64) + 0.5) / QUANTILES * pixels).long()
    return ordered[:, :, positions.to(ordered.device)].transpose(1, 2).double().cpu()


def palette_distances(quantiles: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sliced Wasserstein-2 distance / 100 of each image (B) to each target (T): B×T float64."""
    difference = quantiles.unsqueeze(1) - targets.unsqueeze(0).to(quantiles.device)
    return difference.pow(2).mean(dim=(2, 3)).sqrt() / L_RANGE
