"""Builders for challenge bundles, good and hostile."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from tests.factories import image_bytes

GOOD_TOML = """\
slug = "{slug}"
title = "Bundle Challenge"
summary = "Imported from a bundle."
task_kind = "single_style"
resolution = 32
public_fraction = 0.4
registration = "approval"
status = "{status}"
description = "description.md"
rules = "Be kind. **No** copying style images."

[[phases]]
name = "Development"
starts_at = "2026-01-01T00:00:00Z"
ends_at = 2026-06-30T23:59:59Z
max_per_day = 3
max_total = 50
max_running = 1
time_limit_s = 300
max_params = 5000000

[[phases]]
name = "Final"
starts_at = 2026-07-01
ends_at = "2026-07-14T12:00:00+02:00"
"""

# (folder, count) of the good bundle: 5 hidden content images → 2 public, 3 private at 0.4.
GOOD_IMAGES = {
    "content/public": 2,
    "content/hidden": 5,
    "style/public": 2,
    "style/hidden": 1,
}


def good_bundle_files(slug: str = "from-bundle", status: str = "draft") -> dict[str, bytes]:
    files = {
        "challenge.toml": GOOD_TOML.format(slug=slug, status=status).encode(),
        "description.md": b"# Welcome\n\nPaint <script>alert(1)</script> things.",
    }
    seed = 500
    for folder, count in GOOD_IMAGES.items():
        for index in range(count):
            seed += 1
            files[f"{folder}/img-{index}.png"] = image_bytes(seed)
    return files


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes], *, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(prefix + name, data)
    return path


def add_symlink_entry(path: Path, name: str, target: str) -> None:
    """Append a zip entry that a Unix unzip would create as a symbolic link."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(info, target)


def add_raw_entry(path: Path, name: str, data: bytes) -> None:
    """Append an entry with exactly this name, however hostile."""
    info = zipfile.ZipInfo(name)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(info, data)
