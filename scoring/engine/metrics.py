"""The metrics of DESIGN.md section 6 as pure functions of features, signatures and statistics.

Per-image quantities come back as float64 tensors; the scorer averages them. Sums that decide
a number (squared errors, Gram norms, patch statistics) are taken in float64, so the rounding
of float32 features does not pile up over a million terms.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TypeGuard

import numpy as np
import scipy.linalg
import torch
from torch.nn import functional

from models.perceptual import STYLE_TAPS, gram_matrices
from scoring.engine.errors import FRECHET_IMAGINARY, ErrorCode, ScoringError

logger = logging.getLogger(__name__)


class Direction(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"


# Every metric a result carries, in the order of DESIGN.md section 6, with which way is better.
METRIC_DIRECTIONS: dict[str, Direction] = {
    "content_distance": Direction.LOWER,
    "style_distance": Direction.LOWER,
    "palette_distance": Direction.LOWER,
    "judge_realism": Direction.HIGHER,
    "deception_rate": Direction.HIGHER,
    "judge_fd": Direction.LOWER,
    "memorization_rate": Direction.LOWER,
    "params": Direction.LOWER,
    "ms_per_image": Direction.LOWER,
    "runtime_ratio": Direction.LOWER,
    "composite": Direction.LOWER,
}
METRICS = tuple(METRIC_DIRECTIONS)

# What each metric measures, in a sentence the pages show next to its name.
METRIC_HELP: dict[str, str] = {
    "composite": "Default ranking score, lower is better: content kept × style and palette "
    "reached (relative to the unchanged photo) × the judge's realism × the memorization penalty.",
    "content_distance": "How far the output's scene layout is from the photo's (0: the same "
    "scene, about 1: none of it).",
    "style_distance": "How far the output's texture statistics (feature covariance and mean) "
    "are from the style's, 0 to 1.",
    "palette_distance": "How far the output's colours are from the style's (CIELAB, ~ΔE/100).",
    "judge_realism": "How much the challenge's judge believes the output is in the style.",
    "deception_rate": "Share of outputs the judge takes for the style (above its threshold, "
    "calibrated so that at most 5 % of unchanged photos pass).",
    "judge_fd": "Fréchet distance of judge features between outputs and style images.",
    "memorization_rate": "Share of outputs that copy a style image instead of the photo.",
    "params": "Parameters of the generator.",
    "ms_per_image": "Generator time per image on the scoring worker.",
    "runtime_ratio": "Generator time ÷ metric-network time on the same worker.",
}

SIGNATURE_SIZE = 32
COVARIANCE = "covariance"
MEAN = "mean"
# The style statistics: each style tap's feature covariance and mean (see style_statistics).
STYLE_KEYS = tuple(f"{tap}.{part}" for tap in STYLE_TAPS for part in (COVARIANCE, MEAN))
# Content layouts average the layout tap over cells of this many pixels, at least 2×2 cells.
LAYOUT_CELL = 16
MIN_LAYOUT_CELLS = 2
FLAT_LAYOUT_NORM = 1e-6
MEMORIZATION_THRESHOLD = 0.8
MEMORIZATION_PENALTY = 9.0
# Rec. 601 luma, the usual definition of luminance for RGB photos.
LUMA = (0.299, 0.587, 0.114)
# pytorch-fid's values: the ridge added when sqrtm of the covariance product fails, and the
# largest imaginary part of its diagonal that counts as rounding.
FRECHET_EPSILON = 1e-6
FRECHET_IMAGINARY_TOLERANCE = 1e-3


def squared_norms(tensors: torch.Tensor) -> torch.Tensor:
    """‖x‖² of each item of a batch: the squares summed in float64 (not squared in it: a
    float64 copy of a batch of Gram matrices costs more than the sum)."""
    flat = tensors.reshape(tensors.shape[0], -1)
    return (flat * flat).sum(dim=1, dtype=torch.float64)


def layouts(features: torch.Tensor | Sequence[torch.Tensor], resolution: int) -> torch.Tensor:
    """The scene layout of each image of a batch: its relu3_1 features averaged over cells of
    LAYOUT_CELL pixels, centred per channel over the cells and scaled to unit norm (B×D,
    float64). A flat image, which has no layout, gets the zero vector.

    Centring removes what every image of a random network shares (the mean activation), which
    otherwise makes a flat colour look closer to the photo than a real stylisation does;
    averaging over cells keeps where things are and leaves out the brush texture. A sequence
    of tensors is an ensemble's activations member by member, taken side by side.
    """
    members = [features] if isinstance(features, torch.Tensor) else list(features)
    cells = max(MIN_LAYOUT_CELLS, min(members[0].shape[-1], resolution // LAYOUT_CELL))
    pooled = torch.cat(
        [torch.nn.functional.adaptive_avg_pool2d(member.float(), cells) for member in members],
        dim=1,
    ).double()
    centred = (pooled - pooled.mean(dim=(2, 3), keepdim=True)).reshape(pooled.shape[0], -1)
    norms = centred.norm(dim=1, keepdim=True)
    # Below this a layout is rounding noise on a flat image, not a scene.
    return torch.where(norms > FLAT_LAYOUT_NORM, centred / norms.clamp_min(1e-300), 0.0)


def content_distances(outputs: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """1 − cos(layout(out), layout(content)) per image: 0 for the photo itself, about 1 for an
    image that shares nothing of its scene (a flat colour, an unrelated picture)."""
    # + 0.0 turns the -0.0 of clamping a rounding error into 0.0.
    return (1.0 - (outputs.cpu() * references).sum(dim=1)).clamp_min(0.0) + 0.0


def style_statistics(
    members: Sequence[Mapping[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """The style statistics of a batch, keyed by STYLE_KEYS: per style tap, the covariance of
    the features over positions (the centred Gram matrix, B×C×C, scaled like a Gram by 1/C)
    and their mean (B×C); B×members×… for an ensemble.

    The two are kept apart so that each is compared relative to its own size. An uncentred
    Gram matrix is their sum, Σ + μμᵀ, and on a random network μμᵀ is most of it: a flat
    image of the style's average colour, whose Σ is zero, then matches a style almost as
    well as a painting does. Apart, the texture (Σ) weighs as much as the colour (μ).
    """
    statistics: dict[str, torch.Tensor] = {}
    for tap in STYLE_TAPS:
        features = [member[tap] for member in members]
        grams = gram_matrices(features)
        means = torch.stack([feature.mean(dim=(2, 3)) for feature in features], dim=1)
        if len(features) == 1:
            means = means.squeeze(1)
        channels = features[0].shape[1]
        outer = means.unsqueeze(-1) * means.unsqueeze(-2) / channels
        statistics[f"{tap}.{COVARIANCE}"] = grams - outer
        statistics[f"{tap}.{MEAN}"] = means
    return statistics


def style_distances(
    statistics: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    target_norms: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """Σₖ ‖S_k − T_k‖² / (‖S_k‖² + ‖T_k‖²) / K over the K style statistics (STYLE_KEYS) for
    each output and each target: a B×T matrix, each term in [0, 1].

    `targets[key]` holds T targets (T×C×C or T×C), `target_norms[key]` their ‖T_k‖². The
    terms are bounded because both statistics are non-negative in the sense that matters
    (covariances are positive semidefinite, ReLU means are non-negative vectors, so
    ⟨S, T⟩ ≥ 0): 0 is the same statistic, 1 nothing in common. Dividing by the target's norm
    alone is unbounded above, and a photo's coarse-scale covariance, many times a painting's,
    then outweighs everything the finer scales say. A statistic both sides lack (the covariance
    of a map too small to vary) counts 0.
    """
    total: torch.Tensor | None = None
    for key, statistic in statistics.items():
        target = targets[key].to(statistic.device)
        own = squared_norms(statistic).cpu().unsqueeze(1)
        per_target = torch.stack(
            [squared_norms(statistic - target[t]) for t in range(target.shape[0])], dim=1
        ).cpu()
        term = bounded_ratio(per_target, own + target_norms[key].unsqueeze(0)) / len(statistics)
        total = term if total is None else total + term
    assert total is not None
    return total


def paired_style_distances(
    statistics: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    target_norms: Mapping[str, torch.Tensor],
    pairs: torch.Tensor,
) -> torch.Tensor:
    """The style distance of each output to its own target `targets[key][pairs[i]]`."""
    total = torch.zeros(pairs.shape[0], dtype=torch.float64)
    for key, statistic in statistics.items():
        target = targets[key][pairs].to(statistic.device)
        difference = squared_norms(statistic - target).cpu()
        norms = squared_norms(statistic).cpu() + target_norms[key][pairs]
        total += bounded_ratio(difference, norms) / len(statistics)
    return total


def bounded_ratio(difference: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """difference ÷ norms, and 0 where both statistics are zero (neither has any of it)."""
    return torch.where(norms > 0, difference / norms.clamp_min(1e-300), 0.0)


def structural_signatures(images: torch.Tensor) -> torch.Tensor:
    """Luminance pooled to 32×32, zero-mean, unit-norm: B×1024 float64.

    A flat image has no structure; its signature is zero, so it correlates with nothing.
    """
    luma = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    luminance = (images * luma).sum(dim=1, keepdim=True)
    pooled = functional.adaptive_avg_pool2d(luminance, SIGNATURE_SIZE).flatten(1).double().cpu()
    centred = pooled - pooled.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1, keepdim=True)
    return torch.where(norms > 1e-12, centred / norms.clamp_min(1e-12), torch.zeros_like(centred))


def mirrored(images: torch.Tensor) -> torch.Tensor:
    """Left-right mirror images of a B×3×R×R batch."""
    return torch.flip(images, dims=[-1])


def memorized(
    output_signatures: torch.Tensor,
    content_signatures: torch.Tensor,
    style_signatures: torch.Tensor,
) -> torch.Tensor:
    """Which outputs copy a public style image instead of stylising their photo.

    An output counts when its correlation with some public style image or its mirror
    (`style_signatures` holds both) exceeds 0.8 and exceeds its correlation with its own photo
    (`content_signatures[i]` pairs with `output_signatures[i]`).
    """
    if style_signatures.shape[0] == 0:
        return torch.zeros(output_signatures.shape[0], dtype=torch.bool)
    with_style = (output_signatures @ style_signatures.T).amax(dim=1)
    with_content = (output_signatures * content_signatures).sum(dim=1)
    return (with_style > MEMORIZATION_THRESHOLD) & (with_style > with_content)


def frechet_distance(
    mean_a: np.ndarray,
    covariance_a: np.ndarray,
    mean_b: np.ndarray,
    covariance_b: np.ndarray,
    epsilon: float = FRECHET_EPSILON,
) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½), as pytorch-fid computes it.

    When the covariance product is singular (scipy warns) or its square root is not finite,
    ε·I is added to both covariances and the root computed again. A complex root whose diagonal
    has an imaginary part above 1e-3 is an error; below that it is rounding and the real part
    is taken. Rounding can also push the distance of two identical Gaussians a hair below zero:
    the result is clamped at zero.
    """
    difference = mean_a - mean_b
    root, singular = _sqrtm(covariance_a @ covariance_b)
    if singular or not np.isfinite(root).all():
        logger.info("Fréchet distance: singular covariance product, adding %g·I", epsilon)
        ridge = np.eye(covariance_a.shape[0]) * epsilon
        root, _ = _sqrtm((covariance_a + ridge) @ (covariance_b + ridge))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=FRECHET_IMAGINARY_TOLERANCE):
            largest = float(np.max(np.abs(root.imag)))
            raise ScoringError(ErrorCode.FRECHET_IMAGINARY, FRECHET_IMAGINARY.format(value=largest))
        root = root.real
    distance = (
        difference @ difference
        + np.trace(covariance_a)
        + np.trace(covariance_b)
        - 2.0 * np.trace(root)
    )
    return max(float(distance), 0.0)


def _sqrtm(matrix: np.ndarray) -> tuple[np.ndarray, bool]:
    """scipy's square root, and whether scipy found the matrix singular."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(matrix)
    singular = any(issubclass(item.category, scipy.linalg.LinAlgWarning) for item in caught)
    return np.asarray(root), singular


# A baseline (the unchanged photos' distance to the style) below this is treated as this: a
# style that its own test photos already match leaves nothing to measure progress by.
MIN_BASELINE = 1e-6
# The per-image metrics the composite is made of; with a judge, judge_realism too.
COMPOSITE_INPUTS = ("content_distance", "style_distance", "palette_distance", "memorization_rate")


def composite(
    *,
    content_distance: float,
    style_distance: float,
    palette_distance: float,
    memorization_rate: float,
    style_baseline: float,
    palette_baseline: float,
    judge_realism: float | None = None,
) -> float:
    """The default ranking score; lower is better (README: Composite).

    (1 + content)·(1 + style ÷ style baseline)·(1 + palette ÷ palette baseline)
    ·(2 − realism)·(1 + 9·memorization), where a baseline is the mean distance of the
    unchanged test photos to the style. Without a judge the realism factor is left out (the
    judge-free form).
    """
    value = (
        (1.0 + content_distance)
        * (1.0 + style_distance / max(style_baseline, MIN_BASELINE))
        * (1.0 + palette_distance / max(palette_baseline, MIN_BASELINE))
        * (1.0 + MEMORIZATION_PENALTY * memorization_rate)
    )
    if judge_realism is not None:
        value *= 2.0 - judge_realism
    return value


def is_number(value: object) -> TypeGuard[float]:
    """A real, finite number (not None, not NaN, not ±inf, not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class PatchStatistics:
    """Running mean and covariance of feature rows, in float64, in memory independent of count.

    It keeps Σx and Σxxᵀ only, so scoring any number of outputs needs one C×C matrix.
    """

    def __init__(self) -> None:
        self.count = 0
        self._sum: torch.Tensor | None = None
        self._outer: torch.Tensor | None = None

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.double()
        if self._sum is None or self._outer is None:
            self._sum = torch.zeros(rows.shape[1], dtype=torch.float64, device=rows.device)
            self._outer = torch.zeros(
                rows.shape[1], rows.shape[1], dtype=torch.float64, device=rows.device
            )
        self._sum += rows.sum(dim=0)
        self._outer += rows.T @ rows
        self.count += rows.shape[0]

    def mean_and_covariance(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and the unbiased covariance (needs at least two rows)."""
        assert self._sum is not None
        assert self._outer is not None
        assert self.count >= 2
        mean = self._sum / self.count
        covariance = (self._outer - self.count * torch.outer(mean, mean)) / (self.count - 1)
        return mean.cpu(), covariance.cpu()
