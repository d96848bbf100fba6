"""Image ingest: validate untrusted files with Pillow and normalise them.

Every image a challenge stores went through :func:`normalise_image`: decoded only from a short
list of formats, refused above a pixel budget before any pixel is decoded (decompression
bombs), fully decoded so truncated files fail here and not in a scoring worker, converted to
RGB, resized and centre-cropped to the challenge resolution, and re-encoded as PNG with no
metadata so the sha256 depends on the pixels alone.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from competitions import errors
from config.errors import ApplicationError

# Decoders we trust with untrusted bytes. Formats such as EPS hand the file to Ghostscript;
# they never get a chance.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
ACCEPTED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MIN_SIDE = 32


class ImageRejected(ApplicationError):
    """An uploaded image that cannot become part of a challenge."""


@dataclass(frozen=True)
class NormalisedImage:
    png: bytes
    sha256: str
    original_width: int
    original_height: int
    original_format: str

    @property
    def size_bytes(self) -> int:
        return len(self.png)


def normalise_image(
    source: BinaryIO | bytes, *, name: str, resolution: int, max_pixels: int
) -> NormalisedImage:
    """Validate one image and return it as an RGB PNG of ``resolution``² pixels."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    image = _open_checked(stream, name=name, max_pixels=max_pixels)
    original_format = image.format or "unknown"
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ImageRejected.of(
            errors.TOO_SMALL, name=name, width=width, height=height, min_side=MIN_SIDE
        )
    try:
        image.load()
        rgb = _to_rgb(ImageOps.exif_transpose(image))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageRejected.of(errors.TRUNCATED, name=name) from error
    square = ImageOps.fit(
        rgb, (resolution, resolution), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5)
    )
    buffer = io.BytesIO()
    square.save(buffer, format="PNG", optimize=False)
    png = buffer.getvalue()
    return NormalisedImage(
        png=png,
        sha256=hashlib.sha256(png).hexdigest(),
        original_width=width,
        original_height=height,
        original_format=original_format,
    )


def _open_checked(stream: BinaryIO, *, name: str, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse oversized images before any pixel is decoded."""
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns at its global limit; ours is the one that counts.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(stream, formats=ACCEPTED_FORMATS)
        except Image.DecompressionBombError as error:
            raise ImageRejected.of(errors.BOMB, name=name, limit=max_pixels) from error
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            raise ImageRejected.of(errors.NOT_AN_IMAGE, name=name) from error
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected.of(
            errors.TOO_MANY_PIXELS, name=name, width=width, height=height, limit=max_pixels
        )
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any decoded mode to 8-bit RGB; transparency is flattened onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit greyscale would otherwise clip to white; scale it into 8 bits.
        if values.max(initial=0.0) > 255:
            values = values / 257.0
        image = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
