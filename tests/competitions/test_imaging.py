"""Image ingest: every uploaded file is validated by Pillow and normalised."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from competitions import errors
from competitions.imaging import ImageRejected, normalise_image
from tests.factories import image_bytes

LIMIT = 1_000_000


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width × height pixels but carries almost no data: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_normalises_to_rgb_square_of_the_resolution() -> None:
    result = normalise_image(
        image_bytes(1, size=(120, 80)), name="a.png", resolution=64, max_pixels=LIMIT
    )
    image = decoded(result.png)
    assert image.mode == "RGB"
    assert image.size == (64, 64)
    assert (result.original_width, result.original_height) == (120, 80)
    assert result.sha256 == hashlib.sha256(result.png).hexdigest()
    assert result.size_bytes == len(result.png)


def test_centre_crop_keeps_the_middle_of_a_wide_image() -> None:
    # Left third red, middle third green, right third blue: a centre crop is all green.
    pixels = np.zeros((60, 180, 3), dtype=np.uint8)
    pixels[:, :60, 0] = 255
    pixels[:, 60:120, 1] = 255
    pixels[:, 120:, 2] = 255
    result = normalise_image(
        encode(Image.fromarray(pixels)), name="wide.png", resolution=32, max_pixels=LIMIT
    )
    out = np.asarray(decoded(result.png)).astype(int)
    assert out[:, 4:28, 1].min() > 200
    assert out[:, 4:28, 0].max() < 60
    assert out[:, 4:28, 2].max() < 60


def test_same_pixels_same_sha256() -> None:
    first = normalise_image(image_bytes(7), name="a.png", resolution=32, max_pixels=LIMIT)
    second = normalise_image(image_bytes(7), name="b.png", resolution=32, max_pixels=LIMIT)
    assert first.sha256 == second.sha256
    assert first.png == second.png


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("L", "PNG"),
        ("P", "GIF"),
        ("CMYK", "JPEG"),
        ("I;16", "PNG"),
        ("1", "BMP"),
        ("RGB", "WEBP"),
        ("RGB", "TIFF"),
    ],
)
def test_any_mode_becomes_rgb(mode: str, fmt: str) -> None:
    source = Image.fromarray(
        np.random.default_rng(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    ).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        wide = np.asarray(source).astype(np.uint16) * 257
        source = Image.fromarray(wide)
        assert source.mode.startswith("I;16")
    result = normalise_image(
        encode(source, fmt), name=f"x.{fmt.lower()}", resolution=32, max_pixels=LIMIT
    )
    image = decoded(result.png)
    assert image.mode == "RGB"
    assert image.size == (32, 32)


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    mid_grey = Image.fromarray(np.full((40, 40), 32768, dtype=np.uint16))
    result = normalise_image(encode(mid_grey), name="grey16.png", resolution=32, max_pixels=LIMIT)
    value = np.asarray(decoded(result.png))[16, 16, 0]
    assert 120 <= value <= 135


def test_transparency_is_flattened_onto_white() -> None:
    clear = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    result = normalise_image(encode(clear), name="clear.png", resolution=32, max_pixels=LIMIT)
    assert tuple(np.asarray(decoded(result.png))[10, 10]) == (255, 255, 255)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = png_header_only(4_000, 3_000)
    with pytest.raises(ImageRejected) as caught:
        normalise_image(bomb, name="bomb.png", resolution=32, max_pixels=LIMIT)
    assert caught.value.code == "image_too_large"
    assert caught.value.message == errors.TOO_MANY_PIXELS[1].format(
        name="bomb.png", width=4_000, height=3_000, limit=LIMIT
    )


def test_bomb_beyond_pillows_own_limit_is_refused_too() -> None:
    with pytest.raises(ImageRejected) as caught:
        normalise_image(
            png_header_only(100_000, 100_000), name="huge.png", resolution=32, max_pixels=LIMIT
        )
    assert caught.value.code == "image_too_large"
    assert caught.value.message == errors.BOMB[1].format(name="huge.png", limit=LIMIT)


def test_truncated_file_is_refused_with_its_name() -> None:
    whole = encode(
        Image.fromarray(np.random.default_rng(5).integers(0, 256, (200, 200, 3), dtype=np.uint8)),
        "JPEG",
    )
    with pytest.raises(ImageRejected) as caught:
        normalise_image(whole[: len(whole) // 2], name="half.jpg", resolution=32, max_pixels=LIMIT)
    assert caught.value.code == "image_corrupt"
    assert caught.value.message == errors.TRUNCATED[1].format(name="half.jpg")


def test_truncated_png_is_refused() -> None:
    whole = image_bytes(9, size=(120, 120))
    with pytest.raises(ImageRejected) as caught:
        normalise_image(whole[:300], name="cut.png", resolution=32, max_pixels=LIMIT)
    assert caught.value.code in {"image_corrupt", "image_not_an_image"}
    assert "cut.png" in caught.value.message


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not an image at all",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        b"PK\x03\x04" + b"\x00" * 40,
    ],
    ids=["empty", "text", "eps", "zip"],
)
def test_non_images_are_refused_with_the_file_name(payload: bytes) -> None:
    with pytest.raises(ImageRejected) as caught:
        normalise_image(payload, name="thing.png", resolution=32, max_pixels=LIMIT)
    assert caught.value.code == "image_not_an_image"
    assert caught.value.message == errors.NOT_AN_IMAGE[1].format(name="thing.png")


def test_tiny_images_are_refused() -> None:
    with pytest.raises(ImageRejected) as caught:
        normalise_image(
            image_bytes(2, size=(10, 64)), name="sliver.png", resolution=32, max_pixels=LIMIT
        )
    assert caught.value.code == "image_too_small"


def test_exif_orientation_is_applied() -> None:
    # A 64×40 image whose EXIF says "rotate 90°": its left half must end up on top.
    pixels = np.zeros((40, 64, 3), dtype=np.uint8)
    pixels[:, :32] = 255  # left half white
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    rotated = normalise_image(
        encode(image, "JPEG", exif=exif.tobytes()), name="r.jpg", resolution=32, max_pixels=LIMIT
    )
    plain = normalise_image(encode(image, "JPEG"), name="p.jpg", resolution=32, max_pixels=LIMIT)
    assert rotated.sha256 != plain.sha256
    top = np.asarray(decoded(rotated.png))[:4].mean()
    bottom = np.asarray(decoded(rotated.png))[-4:].mean()
    assert top > 200 > 60 > bottom
