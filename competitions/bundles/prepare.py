"""A bundle validated whole, each of its parts in turn, before the import writes anything."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from competitions.bundles import errors
from competitions.bundles.archive import BundleLimits, bundle_entries, strip_common_root
from competitions.bundles.errors import BundleError
from competitions.bundles.images import PreparedImage, Progress, images_prepare
from competitions.bundles.manifest import Manifest, manifest_parse
from competitions.selectors import challenge_slug_taken


@dataclass
class PreparedBundle:
    manifest: Manifest
    images: list[PreparedImage] = field(default_factory=list)

    def count(self, kind: str, split: str) -> int:
        return sum(1 for image in self.images if image.kind == kind and image.split == split)


@contextmanager
def bundle_prepare(
    source: Path, *, limits: BundleLimits | None = None, progress: Progress | None = None
) -> Iterator[PreparedBundle]:
    """Validate the bundle at ``source`` and yield it prepared; temporary files go on exit."""
    limits = limits or BundleLimits.from_settings()
    with (
        bundle_entries(source, limits) as entries,
        tempfile.TemporaryDirectory(prefix="atelier-bundle-") as workdir,
    ):
        files = strip_common_root(entries)
        manifest = manifest_parse(files)
        if challenge_slug_taken(manifest.slug):
            raise BundleError.of(errors.SLUG_TAKEN, slug=manifest.slug)
        prepared = PreparedBundle(manifest=manifest)
        prepared.images = images_prepare(
            files,
            resolution=manifest.resolution,
            limits=limits,
            workdir=Path(workdir),
            progress=progress,
        )
        yield prepared
