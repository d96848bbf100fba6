"""Image batches as the engine takes them (float RGB in [0, 1], N×3×R×R) and as PNG bytes."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from scoring.engine.errors import BAD_IMAGES, ErrorCode, ScoringError

ImageSet = torch.Tensor | Sequence[torch.Tensor]
# The {problem} of errors.BAD_IMAGES.
NO_IMAGES = "got no images"
NOT_A_TENSOR = "got something that is not a floating-point tensor"
BAD_SHAPE = "got shape {shape}"
MIXED_SIZES = "got images of different sizes"
WRONG_SIZE = "got {found} pixels instead of {resolution}"
NOT_FINITE = "got NaN or infinite values"
OUT_OF_RANGE = "got values outside [0, 1]"


def check_images(images: torch.Tensor, what: str, resolution: int | None = None) -> torch.Tensor:
    """`images` as float32, after checking shape, square size, finiteness and range."""
    problem = _problem(images, resolution)
    if problem:
        raise ScoringError(ErrorCode.BAD_IMAGES, BAD_IMAGES.format(what=what, problem=problem))
    return images.float()


def _problem(images: torch.Tensor, resolution: int | None) -> str:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        return NOT_A_TENSOR
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        return BAD_SHAPE.format(shape=list(images.shape))
    if images.shape[0] == 0:
        return NO_IMAGES
    if resolution is not None and images.shape[2] != resolution:
        return WRONG_SIZE.format(
            found=f"{images.shape[2]}×{images.shape[3]}", resolution=resolution
        )
    if not bool(torch.isfinite(images).all()):
        return NOT_FINITE
    if float(images.min()) < 0.0 or float(images.max()) > 1.0:
        return OUT_OF_RANGE
    return ""


def stack_images(images: ImageSet, what: str, resolution: int | None = None) -> torch.Tensor:
    """One checked N×3×R×R tensor from a tensor or a sequence of 3×R×R (or 1×3×R×R) images."""
    if isinstance(images, torch.Tensor):
        return check_images(images, what, resolution)
    shapes = {tuple(image.shape[-3:]) for image in images}
    if len(shapes) != 1:
        problem = NO_IMAGES if not shapes else MIXED_SIZES
        raise ScoringError(ErrorCode.BAD_IMAGES, BAD_IMAGES.format(what=what, problem=problem))
    stacked = torch.cat([image.reshape(-1, *image.shape[-3:]) for image in images])
    return check_images(stacked, what, resolution)


def png_encode(image: torch.Tensor) -> bytes:
    """A 3×R×R float image in [0, 1] as 8-bit RGB PNG bytes (rounded, no metadata)."""
    pixels = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy()).save(buffer, "PNG")
    return buffer.getvalue()


def png_decode(data: bytes) -> torch.Tensor:
    """PNG (or any Pillow-readable) bytes as a 3×H×W float RGB tensor in [0, 1]."""
    with Image.open(io.BytesIO(data)) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def tensor_sha256(images: torch.Tensor) -> str:
    """sha256 of a tensor's float32 values, for callers that have no file hash of an image."""
    return hashlib.sha256(images.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()
