"""Challenge bundles: read and validate a zip or folder before anything is written.

A bundle is ``challenge.toml`` plus ``content/{public,hidden}/`` and ``style/{public,hidden}/``
image folders (``style/hidden`` optional) and, optionally, ``negatives/``: images that are not
the challenge's style, for its judge to learn against (kept hidden). Everything here treats the
bundle as hostile, one concern a module: :mod:`.archive` reads the zip or folder within its
limits, :mod:`.manifest` checks ``challenge.toml`` against the models' fields, :mod:`.images`
decodes and normalises every image into a private temporary folder, and :mod:`.prepare` runs
them in turn. Only a bundle that passes all of it reaches
:func:`competitions.services.challenge_bundle_import`, which writes in one transaction.
"""

from __future__ import annotations

from competitions.bundles.archive import BundleLimits
from competitions.bundles.errors import BundleError
from competitions.bundles.images import PreparedImage, Progress
from competitions.bundles.manifest import Manifest, PhaseSpec, bundle_field_error
from competitions.bundles.prepare import PreparedBundle, bundle_prepare

__all__ = [
    "BundleError",
    "BundleLimits",
    "Manifest",
    "PhaseSpec",
    "PreparedBundle",
    "PreparedImage",
    "Progress",
    "bundle_field_error",
    "bundle_prepare",
]
