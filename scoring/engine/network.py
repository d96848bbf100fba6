"""The metric network: ImageNet normalisation and six taps, from published VGG19 weights or
from seeded random texture networks.

Weights come from a file an operator names (`ATELIER_VGG19_WEIGHTS`; torchvision's
vgg19-dcbb9e9d.pth loads unchanged, its classifier ignored) and are then "calibrated".
Without one, the network is an ensemble of seeded wide single-layer multi-scale random networks
(`models.zoo.texture.random_texture`), "uncalibrated": `members` networks whose activations are
concatenated along the channels, so every metric sees all of them at once (a Gram matrix per
member; distances sum over members). Random deep networks (VGG19, the default before engine
version 3) ranked near-ties differently from one seed to the next; wide single-layer banks do
not (README: Metric network). Either way the `Fingerprint` says which network scored a result,
at which resolution, with which engine code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from models.checkpoints import CheckpointLimits, read_checkpoint
from models.errors import ModelError
from models.perceptual import (
    DEFAULT_MEMBERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TAPS,
    member_seeds,
)
from models.zoo import texture, vgg
from scoring.engine.errors import (
    METRIC_WEIGHTS_MISMATCH,
    METRIC_WEIGHTS_UNREADABLE,
    ErrorCode,
    ScoringError,
)

logger = logging.getLogger(__name__)

# Bump whenever a change to the engine changes any number it produces: results and reference
# caches carry it in their fingerprint, so old ones read as stale instead of as comparable.
ENGINE_VERSION = "3"
DEFAULT_SEED = 0

# VGG19's tap whose spatial layout the content distance compares (README: Content); the
# texture network has a tap of its own for it (`models.zoo.texture.LAYOUT_TAP`).
LAYOUT_TAP = "relu3_1"

Features = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Fingerprint:
    """What a score depends on besides the images: network, weights, resolution, code."""

    network: str
    width: int
    weights_sha256: str | None
    seed: int | None
    resolution: int
    code_version: str
    members: int = 1

    @property
    def calibrated(self) -> bool:
        """True for published weights; random weights rank but their numbers mean less."""
        return self.weights_sha256 is not None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "calibrated": self.calibrated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(
            network=str(data["network"]),
            width=int(data["width"]),
            weights_sha256=data["weights_sha256"],
            seed=None if data["seed"] is None else int(data["seed"]),
            resolution=int(data["resolution"]),
            code_version=str(data["code_version"]),
            members=int(data.get("members", 1)),
        )

    @property
    def key(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


Member = vgg.VGG19 | texture.RandomTexture


class MetricNetwork:
    """Frozen networks (one VGG19, or random texture networks) that return the six metric taps
    of a [0, 1] batch in one forward pass each.

    With several members (an ensemble of random networks), each tap is the members' activations
    concatenated along the channels, member by member: `members` tells the metrics how to split.
    """

    def __init__(
        self,
        network: Member | Sequence[Member],
        *,
        weights_sha256: str | None,
        seed: int | None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        # channels_last: oneDNN's convolutions are about a fifth faster in it on CPU.
        self._memory_format = torch.channels_last if self.device.type == "cpu" else None
        networks = [network] if isinstance(network, Member) else list(network)
        if len({type(member) for member in networks}) != 1:
            raise ValueError("an ensemble's members must be networks of one kind")
        self.networks = [self._prepared(member) for member in networks]
        self.network = self.networks[0]
        self.members = len(self.networks)
        if isinstance(self.network, vgg.VGG19):
            self.name = vgg.NAME
            self.width = int(self.network.features[0].out_channels)
            self.taps: tuple[str, ...] = tuple(TAPS)
            self.layout_tap = LAYOUT_TAP
        else:
            self.name = texture.NAME
            self.width = self.network.width
            self.taps = texture.TAPS
            self.layout_tap = texture.LAYOUT_TAP
        self.weights_sha256 = weights_sha256
        self.seed = seed
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def _prepared(self, network: Member) -> Member:
        network = network.eval().requires_grad_(False).to(self.device)
        if self._memory_format is not None:
            network = network.to(memory_format=self._memory_format)
        return network

    @classmethod
    def random(
        cls,
        seed: int = DEFAULT_SEED,
        *,
        width: int = texture.DEFAULT_WIDTH,
        members: int = 1,
        device: torch.device | str = "cpu",
    ) -> MetricNetwork:
        """`members` seeded random texture networks: `seed` itself for one, else seeds
        seed·1000 + m, so the ensembles of two seeds share no network."""
        networks = [texture.random_texture(member, width) for member in member_seeds(seed, members)]
        return cls(networks, weights_sha256=None, seed=seed, device=device)

    @classmethod
    def from_file(cls, path: Path | str, *, device: torch.device | str = "cpu") -> MetricNetwork:
        """Load VGG19 weights (.safetensors, or a .pt/.pth state dict read with weights_only)."""
        path = Path(path)
        try:
            raw = read_checkpoint(path, CheckpointLimits())
        except (ModelError, OSError) as error:
            problem = error.message if isinstance(error, ModelError) else str(error)
            raise ScoringError(
                ErrorCode.METRIC_WEIGHTS_UNREADABLE,
                METRIC_WEIGHTS_UNREADABLE.format(name=path.name, problem=problem),
            ) from error
        ignored = vgg.classifier_keys(raw.tensors)
        tensors = {key: value for key, value in raw.tensors.items() if key not in ignored}
        try:
            shapes = {key: tuple(value.shape) for key, value in tensors.items()}
            network = vgg.build(vgg.infer_config(shapes))
            network.load_state_dict({key: value.float() for key, value in tensors.items()})
        except (ModelError, RuntimeError) as error:
            problem = error.message if isinstance(error, ModelError) else str(error).strip()
            raise ScoringError(
                ErrorCode.METRIC_WEIGHTS_MISMATCH,
                METRIC_WEIGHTS_MISMATCH.format(name=path.name, problem=problem),
            ) from error
        logger.info("metric network %s loaded from %s (sha256 %s)", vgg.NAME, path, raw.sha256)
        return cls(network, weights_sha256=raw.sha256, seed=None, device=device)

    @classmethod
    def load(
        cls,
        weights: Path | str | None,
        *,
        seed: int = DEFAULT_SEED,
        members: int = DEFAULT_MEMBERS,
        device: torch.device | str = "cpu",
    ) -> MetricNetwork:
        """The weights file when one is configured, else the seeded random ensemble."""
        if weights:
            return cls.from_file(weights, device=device)
        return cls.random(seed, members=members, device=device)

    @property
    def calibrated(self) -> bool:
        return self.weights_sha256 is not None

    def fingerprint(self, resolution: int) -> Fingerprint:
        return Fingerprint(
            network=self.name,
            width=self.width,
            weights_sha256=self.weights_sha256,
            seed=self.seed,
            resolution=resolution,
            code_version=ENGINE_VERSION,
            members=self.members,
        )

    def features(self, images: torch.Tensor, taps: tuple[str, ...] | None = None) -> Features:
        """The activations at `taps` of a float RGB batch in [0, 1], stopping at the deepest;
        the members' side by side along the channels."""
        members = self.member_features(images, taps)
        if len(members) == 1:
            return members[0]
        return {tap: torch.cat([member[tap] for member in members], dim=1) for tap in members[0]}

    def member_features(
        self, images: torch.Tensor, taps: tuple[str, ...] | None = None
    ) -> list[Features]:
        """The activations at `taps`, one dict per member: what the metrics take, without the
        copy that putting the members side by side costs."""
        taps = self.taps if taps is None else taps
        with torch.inference_mode():
            normalised = (images.to(self.device) - self._mean) / self._std
            if self._memory_format is not None:
                normalised = normalised.contiguous(memory_format=self._memory_format)
            if isinstance(self.network, texture.RandomTexture):
                return [member(normalised, taps) for member in self.networks]
            indices = [TAPS[tap] for tap in taps]
            activations = [member(normalised, indices) for member in self.networks]
            return [{tap: member[TAPS[tap]] for tap in taps} for member in activations]

    def timed_member_features(self, images: torch.Tensor) -> tuple[list[Features], float]:
        """Every tap of each member and the seconds the forward passes took (the
        runtime_ratio denominator)."""
        self._synchronise()
        start = time.perf_counter()
        features = self.member_features(images)
        self._synchronise()
        return features, time.perf_counter() - start

    def _synchronise(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
