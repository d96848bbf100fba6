"""The scoring pass over one submission's outputs, batch by batch.

Outputs arrive from the runner of models/ as they are generated; each batch goes through one
metric-network forward pass (all six taps) and one judge pass, leaves a few floats per image
and a running sum in the judge statistics, and is dropped. Memory does not grow with the
number of test images beyond those few floats each; the first `gallery_size` outputs (by image
index) are kept, as PNG bytes, for the gallery.

    scorer = Scorer(references, network, judge)
    for indices, outputs in batches:
        scorer.update(indices, outputs)
    result = scorer.finish(generator_seconds=stats.forward_seconds, params=info.param_count)

Averages are taken with `math.fsum` in image order at the end, so they do not depend on how
the outputs were batched or in which order the batches came; the judge statistics are float64
sums in arrival order, the same for the same run. Scoring the same outputs twice on the same
machine gives identical numbers, except `ms_per_image` and `runtime_ratio`, which are times.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from models.determinism import deterministic
from scoring.engine.errors import (
    BAD_OUTPUT_INDICES,
    INCOMPLETE_OUTPUTS,
    STALE_REFERENCES,
    ErrorCode,
    ScoringError,
)
from scoring.engine.images import check_images, png_encode
from scoring.engine.judge import Judge
from scoring.engine.metrics import (
    COMPOSITE_INPUTS,
    FRECHET_EPSILON,
    METRICS,
    PatchStatistics,
    composite,
    content_distances,
    frechet_distance,
    is_number,
    layouts,
    memorized,
    paired_style_distances,
    structural_signatures,
    style_distances,
    style_statistics,
)
from scoring.engine.network import Fingerprint, MetricNetwork
from scoring.engine.palette import palette_distances, palette_quantiles
from scoring.engine.references import References, nearest_or_paired

logger = logging.getLogger(__name__)

DEFAULT_GALLERY_SIZE = 8
# Why a metric is missing; stored next to the result and shown to the organizer.
NO_JUDGE = "the challenge has no judge"
NO_GENERATOR_TIME = "the generator time was not measured"
NO_PARAMS = "the parameter count is unknown"
NOT_FINITE = "the computed value was not finite"
COMPOSITE_NEEDS = "composite needs {metrics}"
# The deception threshold of a judge nobody calibrated (an organizer's upload before its check).
DEFAULT_DECEPTION_THRESHOLD = 0.5
INDEX_COUNT = "got {indices} indices for {outputs} outputs"
INDEX_RANGE = "got index {index}"
INDEX_REPEATED = "image {index} was scored already"
JUDGE_BUILT = "judge {sha256}"
NO_JUDGE_BUILT = "no judge"


@dataclass(frozen=True)
class GalleryImage:
    index: int
    png: bytes


@dataclass(frozen=True)
class ScoreResult:
    """Every metric of DESIGN.md section 6 (None with a reason when it cannot be computed).

    `per_image` holds, for each per-image metric, its value on every test image in image order
    (deception and memorization as 0 or 1): what the bootstrap intervals resample.
    `baselines` are the unchanged photos' mean style and palette distances, which the
    composite divides by; `deception_threshold` is the judge probability an output must exceed
    to count as deceiving it.
    """

    metrics: dict[str, float | None]
    missing: dict[str, str]
    per_image: dict[str, list[float]]
    baselines: dict[str, float]
    judged: bool
    deception_threshold: float | None
    fingerprint: Fingerprint
    judge_sha256: str | None
    references_key: str
    images: int
    metric_seconds: float
    frechet_epsilon: float
    gallery: tuple[GalleryImage, ...]

    def composite_from(self, means: Mapping[str, float]) -> float | None:
        """The composite of these metric means (e.g. a bootstrap resample's), or None."""
        return composite_of(means, baselines=self.baselines, judged=self.judged)

    def as_dict(self) -> dict[str, Any]:
        """Everything but the gallery and per-image values, JSON-ready (a result's fingerprint)."""
        return {
            "metrics": dict(self.metrics),
            "missing": dict(self.missing),
            "baselines": dict(self.baselines),
            "judged": self.judged,
            "deception_threshold": self.deception_threshold,
            "fingerprint": self.fingerprint.as_dict(),
            "judge_sha256": self.judge_sha256,
            "references_key": self.references_key,
            "images": self.images,
            "metric_seconds": self.metric_seconds,
            "frechet_epsilon": self.frechet_epsilon,
        }


def composite_of(
    means: Mapping[str, float | None], *, baselines: Mapping[str, float], judged: bool
) -> float | None:
    """The composite from metric means and the subset's baselines; None if an input is missing.

    With a judge (`judged`), judge_realism is one of the inputs; without, the judge-free form.
    """
    names = (*COMPOSITE_INPUTS, "judge_realism") if judged else COMPOSITE_INPUTS
    values = {name: means.get(name) for name in names}
    if not all(is_number(value) for value in values.values()):
        return None
    numbers = {name: float(value) for name, value in values.items() if value is not None}
    value = composite(
        **numbers,
        style_baseline=baselines["style_distance"],
        palette_baseline=baselines["palette_distance"],
    )
    return value if math.isfinite(value) else None


class Scorer:
    """Accumulates one submission's scores against one reference cache."""

    def __init__(
        self,
        references: References,
        network: MetricNetwork,
        judge: Judge | None,
        *,
        gallery_size: int = DEFAULT_GALLERY_SIZE,
        frechet_epsilon: float = FRECHET_EPSILON,
        deception_threshold: float = DEFAULT_DECEPTION_THRESHOLD,
        no_judge_reason: str = NO_JUDGE,
    ) -> None:
        _check_matches(references, network, judge)
        self.references = references
        self.network = network
        self.judge = judge
        self.gallery_size = gallery_size
        self.frechet_epsilon = frechet_epsilon
        self.deception_threshold = deception_threshold
        self.no_judge_reason = no_judge_reason
        count = references.count
        self._content = torch.zeros(count, dtype=torch.float64)
        self._style = torch.zeros(count, dtype=torch.float64)
        self._palette = torch.zeros(count, dtype=torch.float64)
        self._realism = torch.zeros(count, dtype=torch.float64)
        self._memorized = torch.zeros(count, dtype=torch.bool)
        self._seen = torch.zeros(count, dtype=torch.bool)
        self._statistics = PatchStatistics()
        self._gallery: dict[int, bytes] = {}
        self.metric_seconds = 0.0

    def update(self, indices: Sequence[int] | torch.Tensor, outputs: torch.Tensor) -> None:
        """Score a batch of outputs; `indices[i]` is the test image `outputs[i]` was made from."""
        outputs = check_images(outputs, "outputs", self.references.resolution)
        index = self._checked_indices(indices, outputs.shape[0])
        references = self.references
        with deterministic():
            members, seconds = self.network.timed_member_features(outputs)
            self.metric_seconds += seconds
            self._content[index] = content_distances(
                layouts(
                    [member[self.network.layout_tap] for member in members], references.resolution
                ),
                references.content_layouts[index],
            )
            statistics = style_statistics(members)
            del members
            pairing = None if references.style_pairing is None else references.style_pairing[index]
            if pairing is None:
                distances = style_distances(
                    statistics, references.style_targets, references.style_norms
                )
                self._style[index] = distances.amin(dim=1)
            else:
                self._style[index] = paired_style_distances(
                    statistics, references.style_targets, references.style_norms, pairing
                )
            self._palette[index] = nearest_or_paired(
                palette_distances(palette_quantiles(outputs), references.palette_targets), pairing
            )
            self._memorized[index] = memorized(
                structural_signatures(outputs),
                references.content_signatures[index],
                references.public_style_signatures,
            )
            if self.judge is not None:
                probabilities, rows = self.judge.evaluate(outputs)
                self._realism[index] = probabilities
                self._statistics.add(rows)
        self._seen[index] = True
        self._keep_for_gallery(index.tolist(), outputs)

    def finish(self, *, generator_seconds: float | None, params: int | None) -> ScoreResult:
        """The result, once every test image has been scored.

        `generator_seconds` is the generator's forward time over these outputs, measured by the
        caller in the same task (the runner's `RunStats.forward_seconds`); `params` its
        parameter count.
        """
        count = self.references.count
        scored = int(self._seen.sum())
        if scored != count:
            raise ScoringError(
                ErrorCode.INCOMPLETE_OUTPUTS, INCOMPLETE_OUTPUTS.format(scored=scored, count=count)
            )
        metrics: dict[str, float | None] = dict.fromkeys(METRICS)
        missing: dict[str, str] = {}
        per_image = {
            "content_distance": self._content,
            "style_distance": self._style,
            "palette_distance": self._palette,
            "memorization_rate": self._memorized.double(),
        }
        if self.judge is None:
            for name in ("judge_realism", "deception_rate", "judge_fd"):
                missing[name] = self.no_judge_reason
        else:
            per_image["judge_realism"] = self._realism
            per_image["deception_rate"] = (self._realism > self.deception_threshold).double()
            metrics["judge_fd"] = self._judge_fd(missing)
        for name, values in per_image.items():
            metrics[name] = _mean(values)
        if params is None:
            missing["params"] = NO_PARAMS
        else:
            metrics["params"] = float(params)
        if generator_seconds is None:
            missing["ms_per_image"] = missing["runtime_ratio"] = NO_GENERATOR_TIME
        else:
            metrics["ms_per_image"] = 1000.0 * generator_seconds / count
            # A zero metric time cannot happen on a real clock; if it did, NOT_FINITE says so.
            metric_seconds = self.metric_seconds or math.nan
            metrics["runtime_ratio"] = generator_seconds / metric_seconds
        baselines = self.references.baselines()
        judged = self.judge is not None
        metrics["composite"] = composite_of(metrics, baselines=baselines, judged=judged)
        if metrics["composite"] is None:
            inputs = (*COMPOSITE_INPUTS, "judge_realism") if judged else COMPOSITE_INPUTS
            absent = [name for name in inputs if not is_number(metrics[name])]
            missing["composite"] = COMPOSITE_NEEDS.format(metrics=", ".join(absent) or "finite")
        for name, value in metrics.items():
            if value is not None and not is_number(value):
                metrics[name] = None
                missing[name] = NOT_FINITE
        return ScoreResult(
            metrics=metrics,
            missing=missing,
            per_image={name: values.tolist() for name, values in per_image.items()},
            baselines=baselines,
            judged=judged,
            deception_threshold=self.deception_threshold if judged else None,
            fingerprint=self.references.fingerprint,
            judge_sha256=self.references.judge_sha256,
            references_key=self.references.key,
            images=count,
            metric_seconds=self.metric_seconds,
            frechet_epsilon=self.frechet_epsilon,
            gallery=tuple(
                GalleryImage(index, self._gallery[index]) for index in sorted(self._gallery)
            ),
        )

    def _checked_indices(self, indices: Sequence[int] | torch.Tensor, outputs: int) -> torch.Tensor:
        count = self.references.count
        index = torch.as_tensor(indices, dtype=torch.int64).flatten().cpu()
        problem = ""
        if index.shape[0] != outputs:
            problem = INDEX_COUNT.format(indices=index.shape[0], outputs=outputs)
        elif bool(((index < 0) | (index >= count)).any()):
            problem = INDEX_RANGE.format(index=int(index[(index < 0) | (index >= count)][0]))
        elif index.unique().shape[0] != index.shape[0] or bool(self._seen[index].any()):
            repeated = [int(i) for i in index if self._seen[i] or int((index == i).sum()) > 1]
            problem = INDEX_REPEATED.format(index=repeated[0])
        if problem:
            raise ScoringError(
                ErrorCode.BAD_OUTPUT_INDICES,
                BAD_OUTPUT_INDICES.format(count=count, problem=problem),
            )
        return index

    def _keep_for_gallery(self, indices: list[int], outputs: torch.Tensor) -> None:
        """Keep the `gallery_size` lowest image indices seen so far, whatever the batch order."""
        for position, image_index in enumerate(indices):
            if len(self._gallery) >= self.gallery_size:
                if not self._gallery or image_index > max(self._gallery):
                    continue
                del self._gallery[max(self._gallery)]
            self._gallery[image_index] = png_encode(outputs[position])

    def _judge_fd(self, missing: dict[str, str]) -> float | None:
        references = self.references
        assert references.judge_mean is not None
        assert references.judge_covariance is not None
        mean, covariance = self._statistics.mean_and_covariance()
        try:
            return frechet_distance(
                mean.numpy(),
                covariance.numpy(),
                references.judge_mean.numpy(),
                references.judge_covariance.numpy(),
                self.frechet_epsilon,
            )
        except ScoringError as error:
            missing["judge_fd"] = error.message
            return None


def _mean(values: torch.Tensor) -> float:
    return math.fsum(values.tolist()) / values.shape[0]


def _check_matches(references: References, network: MetricNetwork, judge: Judge | None) -> None:
    """The network and judge must be the ones the cache was built with."""
    fingerprint = network.fingerprint(references.resolution)
    if fingerprint != references.fingerprint:
        message = STALE_REFERENCES.format(
            built=f"fingerprint {references.fingerprint.key[:12]}",
            expected=f"fingerprint {fingerprint.key[:12]}",
        )
        raise ScoringError(ErrorCode.STALE_REFERENCES, message)
    judge_sha256 = judge.sha256 if judge is not None else None
    if judge_sha256 != references.judge_sha256:
        message = STALE_REFERENCES.format(
            built=_judge_name(references.judge_sha256), expected=_judge_name(judge_sha256)
        )
        raise ScoringError(ErrorCode.STALE_REFERENCES, message)


def _judge_name(sha256: str | None) -> str:
    return JUDGE_BUILT.format(sha256=sha256[:12]) if sha256 else NO_JUDGE_BUILT
