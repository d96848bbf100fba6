"""The bundle's images: which folders hold them, and each one decoded and normalised.

Every image goes through :func:`competitions.imaging.normalise_image` and is written into a
private temporary folder, so nothing of the bundle reaches storage before all of it passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from competitions.bundles import errors
from competitions.bundles.archive import BundleLimits, Entry, read_checked
from competitions.bundles.errors import BundleError
from competitions.imaging import ACCEPTED_SUFFIXES, ImageRejected, normalise_image

IMAGE_FOLDERS = (
    ("content", "public"),
    ("content", "hidden"),
    ("style", "public"),
    ("style", "hidden"),
    ("negative", "hidden"),
)
# Judge negatives sit in one flat folder of this name; they are always hidden.
NEGATIVES_FOLDER = "negatives"
# The fewest images a usable challenge needs in each folder: something to train on, at least
# one image on each side of the public/private split, and a style to aim at.
MIN_IMAGES = {
    ("content", "public"): 1,
    ("content", "hidden"): 2,
    ("style", "public"): 1,
    ("style", "hidden"): 0,
    ("negative", "hidden"): 0,
}

# Called with the number of images prepared so far and the number in the bundle.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PreparedImage:
    """An image decoded, validated and normalised into the bundle's temporary folder."""

    kind: str
    split: str
    original_name: str
    bundle_path: str
    sha256: str
    size_bytes: int
    temp_path: Path


def images_prepare(
    files: dict[PurePosixPath, Entry],
    *,
    resolution: int,
    limits: BundleLimits,
    workdir: Path,
    progress: Progress | None,
) -> list[PreparedImage]:
    """Every image of the image folders normalised to ``resolution`` into ``workdir``.

    Each folder's count is checked before the first image is decoded: a bundle short of
    images is refused at once, not after minutes of decoding.
    """
    wanted = _image_entries(files)
    for folder, minimum in MIN_IMAGES.items():
        count = sum(1 for key, _ in wanted if key == folder)
        if count < minimum:
            raise BundleError.of(
                errors.TOO_FEW_IMAGES, folder="/".join(folder), minimum=minimum, count=count
            )
    prepared: list[PreparedImage] = []
    first_seen: dict[tuple[str, str], str] = {}
    for index, ((kind, split), entry) in enumerate(wanted, 1):
        try:
            image = normalise_image(
                read_checked(entry),
                name=str(entry.path),
                resolution=resolution,
                max_pixels=limits.max_image_pixels,
            )
        except ImageRejected as error:
            raise BundleError(error.code, error.message) from error
        other = first_seen.setdefault((kind, image.sha256), str(entry.path))
        if other != str(entry.path):
            raise BundleError.of(errors.DUPLICATE_IMAGE, path=entry.path, other=other)
        temp_path = workdir / f"{index:06d}.png"
        temp_path.write_bytes(image.png)
        prepared.append(
            PreparedImage(
                kind=kind,
                split=split,
                original_name=entry.path.name,
                bundle_path=str(entry.path),
                sha256=image.sha256,
                size_bytes=image.size_bytes,
                temp_path=temp_path,
            )
        )
        if progress is not None:
            progress(index, len(wanted))
    return prepared


def _image_entries(
    files: dict[PurePosixPath, Entry],
) -> list[tuple[tuple[str, str], Entry]]:
    """The image files of the image folders, in a stable order; anything stray is refused."""
    wanted: list[tuple[tuple[str, str], Entry]] = []
    for path in sorted(files):
        if path.parts[0] == NEGATIVES_FOLDER:
            folder: tuple[str, ...] = ("negative", "hidden")
            depth = 2
        elif path.parts[0] in ("content", "style"):
            folder, depth = tuple(path.parts[:2]), 3
        else:
            continue
        if len(path.parts) != depth or folder not in IMAGE_FOLDERS:
            raise BundleError.of(errors.STRAY_FILE, path=path)
        if path.suffix.lower() not in ACCEPTED_SUFFIXES:
            raise BundleError.of(errors.NOT_IMAGE_NAME, path=path)
        wanted.append((folder, files[path]))
    return wanted
