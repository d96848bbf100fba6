"""The public split of a challenge as a zip: the start of the starter kit."""

from __future__ import annotations

import json
import tempfile
import zipfile
from typing import IO

from django.core.files.storage import default_storage

from competitions.models import Challenge, ChallengeImage

# Larger archives spill from memory to a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024

README = """{title}
{underline}

The public development data of the Atelier challenge "{slug}".

content/   photos to stylise ({content_count} images)
style/     the target style ({style_count} images)
challenge.json   resolution, task kind and image list

All images are RGB PNG, {resolution}x{resolution} pixels: the same normalisation the hidden
test images went through. By downloading them you accepted the challenge rules.
"""


def public_data_zip(challenge: Challenge) -> IO[bytes]:
    """Build the zip of public content and style images; returns a rewound file object."""
    images = list(challenge.images.filter(split=ChallengeImage.Split.PUBLIC).order_by("kind", "pk"))
    # Returned open: the response streams it and closes it when done.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    used: set[str] = set()
    listing: dict[str, list[dict[str, str]]] = {"content": [], "style": []}
    # PNGs are compressed already; storing them avoids burning CPU for nothing.
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for image in images:
            arcname = archive_name(image, used)
            with default_storage.open(image.file.name, "rb") as handle:
                archive.writestr(arcname, handle.read())
            listing[image.kind].append({"file": arcname, "sha256": image.sha256})
        meta = {
            "slug": challenge.slug,
            "title": challenge.title,
            "task_kind": challenge.task_kind,
            "resolution": challenge.resolution,
            "images": listing,
        }
        archive.writestr("challenge.json", json.dumps(meta, indent=2) + "\n")
        archive.writestr(
            "README.txt",
            README.format(
                title=challenge.title,
                underline="=" * len(challenge.title),
                slug=challenge.slug,
                content_count=len(listing["content"]),
                style_count=len(listing["style"]),
                resolution=challenge.resolution,
            ),
        )
    spool.seek(0)
    return spool


def archive_name(image: ChallengeImage, used: set[str]) -> str:
    stem = image.original_name.rsplit(".", 1)[0] or image.sha256[:12]
    name = f"{image.kind}/{stem}.png"
    if name in used:
        name = f"{image.kind}/{stem}-{image.sha256[:8]}.png"
    used.add(name)
    return name
