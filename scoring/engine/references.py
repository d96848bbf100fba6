"""The reference cache of one challenge × leaderboard subset, built once and reused.

What every submission is compared with, computed once so that scoring a submission costs one
metric-network and one judge pass over its outputs and nothing over the references:
- the scene layouts of the subset's hidden content images;
- style targets: K prototypes (single style) or one set of style statistics per style image
  (arbitrary style, with the style image each content image is paired with), with their ‖T‖²;
- the judge's patch-feature mean and covariance over the style set;
- palette targets: the CIELAB quantile functions of the style (their barycenter for a single
  style, one per style image for arbitrary style);
- the baselines: the style and palette distances of each unchanged test photo to its target,
  what a submission that makes no attempt scores, which the composite measures progress from;
- structural signatures of the content images, and of the public style images and their
  mirror images, for the memorization check.

Stored as one safetensors file whose metadata holds the cache's key: a hash of the metric
network's fingerprint, the judge's sha256, the task kind, K, the style pairing and the sha256
of every input image. When any of them changes the key changes, and `references_stale` tells
the caller to rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import safetensors.torch
import torch

from models.determinism import deterministic
from models.perceptual import STYLE_TAPS
from scoring.engine.errors import (
    BAD_REFERENCES_FILE,
    DEGENERATE_CONTENT,
    DEGENERATE_STYLE,
    ErrorCode,
    ScoringError,
)
from scoring.engine.images import ImageSet, stack_images
from scoring.engine.judge import Judge
from scoring.engine.metrics import (
    STYLE_KEYS,
    PatchStatistics,
    layouts,
    mirrored,
    squared_norms,
    structural_signatures,
    style_distances,
    style_statistics,
)
from scoring.engine.network import Fingerprint, MetricNetwork
from scoring.engine.palette import palette_distances, palette_quantiles
from scoring.engine.prototypes import style_prototypes

logger = logging.getLogger(__name__)

FORMAT = "atelier-references"
BATCH_SIZE = 8
PAIRING_MISMATCH = "style_pairing is required for arbitrary_style and only for it"
PAIRING_RANGE = "style_pairing needs one style index per content image, each below {count}"
COUNT_MISMATCH = "{what}: {images} image(s) but {hashes} sha256(s) in the spec"


class TaskKind(StrEnum):
    SINGLE_STYLE = "single_style"
    ARBITRARY_STYLE = "arbitrary_style"


@dataclass(frozen=True)
class ReferenceSpec:
    """The inputs of a reference cache by identity: image hashes in order, K, pairing.

    `content_sha256` are the subset's hidden content images; `style_sha256` all the style
    images the targets and judge statistics come from (for single style: public and hidden);
    `public_style_sha256` the ones the memorization check compares with. For arbitrary style,
    `style_pairing[i]` is the index into the style images of content image i's style.
    """

    task_kind: TaskKind
    content_sha256: tuple[str, ...]
    style_sha256: tuple[str, ...]
    public_style_sha256: tuple[str, ...]
    prototypes: int = 1
    style_pairing: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        arbitrary = self.task_kind == TaskKind.ARBITRARY_STYLE
        if arbitrary != (self.style_pairing is not None):
            raise ValueError(PAIRING_MISMATCH)
        if self.style_pairing is not None and (
            len(self.style_pairing) != len(self.content_sha256)
            or not all(0 <= index < len(self.style_sha256) for index in self.style_pairing)
        ):
            raise ValueError(PAIRING_RANGE.format(count=len(self.style_sha256)))


def references_key(spec: ReferenceSpec, fingerprint: Fingerprint, judge_sha256: str | None) -> str:
    """The identity of the cache those inputs give: compare it with `References.key`."""
    canonical = json.dumps(
        {
            "fingerprint": fingerprint.key,
            "judge_sha256": judge_sha256,
            "task_kind": str(spec.task_kind),
            "prototypes": spec.prototypes,
            "content_sha256": list(spec.content_sha256),
            "style_sha256": list(spec.style_sha256),
            "public_style_sha256": list(spec.public_style_sha256),
            "style_pairing": None if spec.style_pairing is None else list(spec.style_pairing),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class References:
    """The cached references; compare caches by `key`, never by their tensors."""

    key: str
    fingerprint: Fingerprint
    task_kind: TaskKind
    judge_sha256: str | None
    content_layouts: torch.Tensor
    content_signatures: torch.Tensor
    style_targets: dict[str, torch.Tensor]
    style_norms: dict[str, torch.Tensor]
    style_pairing: torch.Tensor | None
    palette_targets: torch.Tensor
    photo_style_distances: torch.Tensor
    photo_palette_distances: torch.Tensor
    public_style_signatures: torch.Tensor
    judge_mean: torch.Tensor | None
    judge_covariance: torch.Tensor | None

    @property
    def count(self) -> int:
        """How many test images (content images of the subset) the cache covers."""
        return int(self.content_layouts.shape[0])

    @property
    def resolution(self) -> int:
        return self.fingerprint.resolution

    def baselines(self) -> dict[str, float]:
        """The unchanged test photos' mean style and palette distances to their targets."""
        return {
            "style_distance": math.fsum(self.photo_style_distances.tolist()) / self.count,
            "palette_distance": math.fsum(self.photo_palette_distances.tolist()) / self.count,
        }

    def to_bytes(self) -> bytes:
        tensors = {
            "content_layouts": self.content_layouts,
            "content_signatures": self.content_signatures,
            "palette_targets": self.palette_targets,
            "photo_style_distances": self.photo_style_distances,
            "photo_palette_distances": self.photo_palette_distances,
            "public_style_signatures": self.public_style_signatures,
        }
        for key in STYLE_KEYS:
            tensors[f"style_targets.{key}"] = self.style_targets[key]
            tensors[f"style_norms.{key}"] = self.style_norms[key]
        optional = {
            "style_pairing": self.style_pairing,
            "judge_mean": self.judge_mean,
            "judge_covariance": self.judge_covariance,
        }
        tensors.update({name: value for name, value in optional.items() if value is not None})
        metadata = {
            "format": FORMAT,
            "key": self.key,
            "fingerprint": json.dumps(self.fingerprint.as_dict(), sort_keys=True),
            "task_kind": str(self.task_kind),
            "judge_sha256": self.judge_sha256 or "",
        }
        return safetensors.torch.save(
            {name: value.contiguous() for name, value in tensors.items()}, metadata=metadata
        )

    def save(self, path: Path | str) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "(bytes)") -> References:
        try:
            metadata = _metadata(data[:8], data[8:])
            tensors = safetensors.torch.load(data)
            return cls(
                key=metadata["key"],
                fingerprint=Fingerprint.from_dict(json.loads(metadata["fingerprint"])),
                task_kind=TaskKind(metadata["task_kind"]),
                judge_sha256=metadata["judge_sha256"] or None,
                content_layouts=tensors["content_layouts"],
                content_signatures=tensors["content_signatures"],
                style_targets={key: tensors[f"style_targets.{key}"] for key in STYLE_KEYS},
                style_norms={key: tensors[f"style_norms.{key}"] for key in STYLE_KEYS},
                style_pairing=tensors.get("style_pairing"),
                palette_targets=tensors["palette_targets"],
                photo_style_distances=tensors["photo_style_distances"],
                photo_palette_distances=tensors["photo_palette_distances"],
                public_style_signatures=tensors["public_style_signatures"],
                judge_mean=tensors.get("judge_mean"),
                judge_covariance=tensors.get("judge_covariance"),
            )
        except Exception as error:  # a damaged file fails in safetensors, json or a lookup
            raise ScoringError(
                ErrorCode.BAD_REFERENCES_FILE,
                BAD_REFERENCES_FILE.format(name=name, problem=repr(error)),
            ) from error

    @classmethod
    def load(cls, path: Path | str) -> References:
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), path.name)


def references_stale(path: Path | str, key: str) -> bool:
    """Whether the cache file is missing, unreadable or built for other inputs than `key`.

    Reads the safetensors header only, never the tensors.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            length = file.read(8)
            size = min(int.from_bytes(length, "little"), path.stat().st_size)
            metadata = _metadata(length, file.read(size))
    except (OSError, ValueError):
        return True
    return metadata.get("key") != key


def _metadata(length: bytes, rest: bytes) -> dict[str, str]:
    size = int.from_bytes(length, "little")
    if len(length) != 8 or size > len(rest):
        raise ValueError("truncated safetensors header")
    header = json.loads(rest[:size])
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError("not an Atelier reference cache")
    return metadata


def references_build(
    spec: ReferenceSpec,
    *,
    content_images: ImageSet,
    style_images: ImageSet,
    public_style_images: ImageSet,
    network: MetricNetwork,
    judge: Judge | None,
    batch_size: int = BATCH_SIZE,
) -> References:
    """Compute the references of one challenge × leaderboard subset from its images.

    Images are float RGB in [0, 1] at the challenge resolution, in the order of the spec's
    hashes. Without a judge the judge statistics are left out and the judge metrics of every
    submission scored against the cache are missing.
    """
    content = stack_images(content_images, "content images")
    resolution = int(content.shape[-1])
    style = stack_images(style_images, "style images", resolution)
    # A challenge may publish no style image; then nothing can be copied from one.
    public = (
        stack_images(public_style_images, "public style images", resolution)
        if len(public_style_images)
        else torch.empty(0, 3, resolution, resolution)
    )
    for what, images, hashes in (
        ("content images", content, spec.content_sha256),
        ("style images", style, spec.style_sha256),
        ("public style images", public, spec.public_style_sha256),
    ):
        if images.shape[0] != len(hashes):
            raise ValueError(
                COUNT_MISMATCH.format(what=what, images=images.shape[0], hashes=len(hashes))
            )
    fingerprint = network.fingerprint(resolution)
    judge_sha256 = judge.sha256 if judge is not None else None
    pairing = (
        None if spec.style_pairing is None else torch.tensor(spec.style_pairing, dtype=torch.int64)
    )
    with deterministic():
        content_layouts, content_statistics = _content_features(content, network, batch_size)
        degenerate = torch.nonzero(squared_norms(content_layouts) == 0).flatten().tolist()
        if degenerate:
            message = DEGENERATE_CONTENT.format(index=degenerate[0])
            raise ScoringError(ErrorCode.DEGENERATE_REFERENCE, message)
        statistics = _style_statistics(style, network, batch_size)
        if spec.task_kind == TaskKind.SINGLE_STYLE:
            targets = style_prototypes(statistics, spec.prototypes)
        else:
            targets = statistics
        style_norms = {key: squared_norms(target) for key, target in targets.items()}
        # One zero statistic is a map too small to vary; a target with none at all is no style.
        if bool((torch.stack(list(style_norms.values())).sum(dim=0) == 0).any()):
            raise ScoringError(ErrorCode.DEGENERATE_REFERENCE, DEGENERATE_STYLE)
        palette_targets = _palette_targets(style, spec.task_kind, batch_size)
        content_quantiles = torch.cat(
            [palette_quantiles(batch) for batch in torch.split(content, batch_size)]
        )
        judge_mean, judge_covariance = _judge_statistics(style, judge, batch_size)
        references = References(
            key=references_key(spec, fingerprint, judge_sha256),
            fingerprint=fingerprint,
            task_kind=spec.task_kind,
            judge_sha256=judge_sha256,
            content_layouts=content_layouts,
            content_signatures=structural_signatures(content),
            style_targets=targets,
            style_norms=style_norms,
            style_pairing=pairing,
            palette_targets=palette_targets,
            photo_style_distances=nearest_or_paired(
                style_distances(content_statistics, targets, style_norms), pairing
            ),
            photo_palette_distances=nearest_or_paired(
                palette_distances(content_quantiles, palette_targets), pairing
            ),
            public_style_signatures=structural_signatures(torch.cat([public, mirrored(public)])),
            judge_mean=judge_mean,
            judge_covariance=judge_covariance,
        )
    logger.info(
        "references %s built: %d content image(s), %d style target(s), judge %s",
        references.key[:12],
        references.count,
        next(iter(targets.values())).shape[0],
        judge_sha256[:12] if judge_sha256 else "none",
    )
    return references


def _content_features(
    content: torch.Tensor, network: MetricNetwork, batch_size: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The layouts of the test photos, and their style statistics (for the baselines)."""
    features: list[torch.Tensor] = []
    statistics: dict[str, list[torch.Tensor]] = {key: [] for key in STYLE_KEYS}
    for batch in torch.split(content, batch_size):
        members = network.member_features(batch)
        features.append(
            layouts([member[network.layout_tap] for member in members], batch.shape[-1])
            .cpu()
            .contiguous()
        )
        for key, value in style_statistics(members).items():
            statistics[key].append(value.cpu())
    return torch.cat(features), {key: torch.cat(values) for key, values in statistics.items()}


def nearest_or_paired(distances: torch.Tensor, pairing: torch.Tensor | None) -> torch.Tensor:
    """From a B×T distance matrix: the nearest target's (single style) or the paired one's."""
    if pairing is None:
        return distances.amin(dim=1)
    return distances.gather(1, pairing.view(-1, 1).to(distances.device)).squeeze(1)


def _palette_targets(style: torch.Tensor, task_kind: TaskKind, batch_size: int) -> torch.Tensor:
    """One palette per style image (arbitrary style), or their barycenter (single style)."""
    quantiles = torch.cat([palette_quantiles(batch) for batch in torch.split(style, batch_size)])
    if task_kind == TaskKind.SINGLE_STYLE:
        return quantiles.mean(dim=0, keepdim=True)
    return quantiles


def _style_statistics(
    style: torch.Tensor, network: MetricNetwork, batch_size: int
) -> dict[str, torch.Tensor]:
    per_batch: dict[str, list[torch.Tensor]] = {key: [] for key in STYLE_KEYS}
    for batch in torch.split(style, batch_size):
        members = network.member_features(batch, STYLE_TAPS)
        for key, value in style_statistics(members).items():
            per_batch[key].append(value.cpu())
    return {key: torch.cat(values) for key, values in per_batch.items()}


def _judge_statistics(
    style: torch.Tensor, judge: Judge | None, batch_size: int
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Mean and covariance of the judge's patch features over every patch of the style set."""
    if judge is None:
        return None, None
    statistics = PatchStatistics()
    for batch in torch.split(style, batch_size):
        _, rows = judge.evaluate(batch)
        statistics.add(rows)
    return statistics.mean_and_covariance()
