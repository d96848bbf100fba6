"""The judge: a frozen PatchGAN discriminator from models/, kept with its safetensors bytes.

A judge is always a .safetensors file of `models.zoo.patch_discriminator.PatchDiscriminator`
(pix2pix's NLayerDiscriminator layout): trained by `judge_train` or uploaded by an organizer.
Its config (width, layers, norm) is read off the tensor shapes, never off metadata, so both
kinds load the same way, and its identity is the sha256 of the file's bytes. Like pix2pix, it
sees images in [-1, 1]; the engine maps its [0, 1] images there.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from models.errors import ModelError, first_keys
from models.zoo import patch_discriminator
from models.zoo.layers import instance_norm_statistics
from scoring.engine.errors import (
    JUDGE_BAD_VALUES,
    JUDGE_MISSING_KEYS,
    JUDGE_NOT_PATCHGAN,
    JUDGE_NOT_SAFETENSORS,
    JUDGE_SHAPE_MISMATCH,
    JUDGE_TOO_LARGE,
    JUDGE_UNEXPECTED_KEYS,
    JUDGE_UNREADABLE,
    ErrorCode,
    ScoringError,
)

SUFFIX = ".safetensors"
# A width-64, 5-layer PatchGAN is about 11 MB; a judge file above this is not a judge.
MAX_JUDGE_BYTES = 256 << 20
# Batch norm counts batches only while training, and checkpoints may lack the counter.
_OPTIONAL_SUFFIX = ".num_batches_tracked"


class Judge:
    """A frozen PatchGAN on a device, with the bytes and sha256 of the file it came from."""

    def __init__(
        self,
        module: patch_discriminator.PatchDiscriminator,
        *,
        config: dict[str, Any],
        data: bytes,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.module = module.eval().requires_grad_(False).to(self.device)
        self.config = config
        self.data = data
        self.sha256 = hashlib.sha256(data).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, *, device: torch.device | str = "cpu") -> Judge:
        """Validate the bytes of a judge file (keys, shapes, values) and build the judge."""
        if len(data) > MAX_JUDGE_BYTES:
            raise ScoringError(
                ErrorCode.INVALID_JUDGE,
                JUDGE_TOO_LARGE.format(size=len(data), limit=MAX_JUDGE_BYTES),
            )
        try:
            tensors = safetensors.torch.load(data)
        except Exception as error:  # safetensors raises its own SafetensorError and others
            raise ScoringError(
                ErrorCode.INVALID_JUDGE, JUDGE_UNREADABLE, detail=repr(error)
            ) from error
        ignored = instance_norm_statistics(tensors)
        tensors = {key: value for key, value in tensors.items() if key not in ignored}
        config = _validated_config(tensors)
        module = patch_discriminator.build(config)
        module.load_state_dict(
            {
                key: value.float() if value.is_floating_point() else value
                for key, value in tensors.items()
            }
        )
        return cls(module, config=config, data=data, device=device)

    @classmethod
    def load(cls, path: Path | str, *, device: torch.device | str = "cpu") -> Judge:
        path = Path(path)
        if path.suffix.lower() != SUFFIX:
            raise ScoringError(ErrorCode.INVALID_JUDGE, JUDGE_NOT_SAFETENSORS)
        size = path.stat().st_size
        if size > MAX_JUDGE_BYTES:
            raise ScoringError(
                ErrorCode.INVALID_JUDGE, JUDGE_TOO_LARGE.format(size=size, limit=MAX_JUDGE_BYTES)
            )
        return cls.from_bytes(path.read_bytes(), device=device)

    def save(self, path: Path | str) -> None:
        Path(path).write_bytes(self.data)

    def evaluate(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image, the mean patch probability of "style domain" (float64, B); and the patch
        features of the last hidden layer, one row per patch (B·P×C)."""
        with torch.inference_mode():
            features, logits = self.module.features_and_logits(images.to(self.device) * 2 - 1)
            probabilities = torch.sigmoid(logits.double()).flatten(1).mean(dim=1).cpu()
            rows = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])
        return probabilities, rows


def judge_bytes(module: patch_discriminator.PatchDiscriminator) -> bytes:
    """The safetensors bytes of a judge's weights: the file that is stored and hashed."""
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    return safetensors.torch.save(state)


def _validated_config(tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The PatchGAN config the tensors imply, after checking every key, shape and value."""
    shapes = {key: tuple(value.shape) for key, value in tensors.items()}
    try:
        config = patch_discriminator.infer_config(shapes)
        with torch.device("meta"):
            expected = patch_discriminator.build(config).state_dict()
    except (ModelError, ValueError) as error:
        problem = error.message if isinstance(error, ModelError) else str(error)
        raise _not_patchgan(problem) from error
    missing = [key for key in expected if key not in tensors and not key.endswith(_OPTIONAL_SUFFIX)]
    if missing:
        raise _not_patchgan(JUDGE_MISSING_KEYS.format(count=len(missing), keys=first_keys(missing)))
    unexpected = [key for key in tensors if key not in expected]
    if unexpected:
        raise _not_patchgan(
            JUDGE_UNEXPECTED_KEYS.format(count=len(unexpected), keys=first_keys(unexpected))
        )
    for key, value in tensors.items():
        if shapes[key] != tuple(expected[key].shape):
            raise _not_patchgan(
                JUDGE_SHAPE_MISMATCH.format(
                    key=key, found=list(shapes[key]), expected=list(expected[key].shape)
                )
            )
        floating = expected[key].is_floating_point()
        if floating and not (value.is_floating_point() and bool(torch.isfinite(value).all())):
            raise _not_patchgan(JUDGE_BAD_VALUES.format(key=key))
    return config


def _not_patchgan(problem: str) -> ScoringError:
    return ScoringError(ErrorCode.INVALID_JUDGE, JUDGE_NOT_PATCHGAN.format(problem=problem))
