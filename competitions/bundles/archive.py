"""Reading a bundle (zip or folder) that may be hostile, as a list of its files.

Paths that escape (zip slip, absolute paths), links, nested archives and special files are
refused, and file count and size are bounded before a byte is decompressed. Nothing here knows
what the files mean beyond the one that marks the bundle's top level, ``challenge.toml``.
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings

from competitions.bundles import errors
from competitions.bundles.errors import BundleError

MANIFEST_NAME = "challenge.toml"
ARCHIVE_SUFFIXES = frozenset(
    {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".lz4", ".jar"}
)
ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x28\xb5\x2f\xfd",
)
# Files that archivers and desktops add on their own; skipped, though still counted.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


@dataclass(frozen=True)
class BundleLimits:
    """How much of a bundle is read at all: files, unpacked bytes, and pixels an image."""

    max_files: int
    max_bytes: int
    max_image_pixels: int

    @classmethod
    def from_settings(cls) -> BundleLimits:
        return cls(
            max_files=settings.ATELIER_BUNDLE_MAX_FILES,
            max_bytes=settings.ATELIER_BUNDLE_MAX_BYTES,
            max_image_pixels=settings.ATELIER_MAX_IMAGE_PIXELS,
        )


@dataclass(frozen=True)
class Entry:
    """One plain file of the bundle, read only when its turn comes."""

    path: PurePosixPath
    size: int
    read: Callable[[], bytes]


@contextmanager
def bundle_entries(source: Path, limits: BundleLimits) -> Iterator[list[Entry]]:
    """The files of the zip or folder at ``source``, each checked and counted against ``limits``.

    A zip stays open while its entries are in use: they are read one at a time, when needed.
    """
    if source.is_symlink():
        raise BundleError.of(errors.SYMLINK, path=source.name)
    if source.is_dir():
        yield _folder_entries(source, limits)
        return
    if source.is_file() and zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as archive:
                yield _zip_entries(archive, limits)
        except zipfile.BadZipFile as error:
            raise BundleError.of(errors.CORRUPT_ZIP, detail=error) from error
        return
    raise BundleError.of(errors.NOT_A_BUNDLE, name=source.name)


def _zip_entries(archive: zipfile.ZipFile, limits: BundleLimits) -> list[Entry]:
    entries: list[Entry] = []
    seen: set[PurePosixPath] = set()
    total = 0
    for info in archive.infolist():
        path = safe_relative_path(info.filename)
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            raise BundleError.of(errors.SYMLINK, path=info.filename)
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise BundleError.of(errors.ENCRYPTED, path=info.filename)
        if path in seen:
            raise BundleError.of(errors.DUPLICATE_PATH, path=path)
        seen.add(path)
        total += info.file_size
        _check_limits(len(entries) + 1, total, limits)
        entries.append(Entry(path=path, size=info.file_size, read=_zip_reader(archive, info)))
    return entries


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with archive.open(info) as handle:
                # zipfile stops at the declared size and checks the CRC, so a lying header
                # cannot inflate past the byte budget checked above.
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, lzma.LZMAError) as error:
            # zlib and lzma report damaged data with their own exception types.
            raise BundleError.of(errors.CORRUPT_ZIP, detail=error) from error
        except NotImplementedError as error:
            # An encryption or compression method zipfile does not implement.
            raise BundleError.of(
                errors.UNSUPPORTED_ZIP, path=info.filename, detail=error
            ) from error
        if len(data) > info.file_size:
            raise BundleError.of(errors.SIZE_MISMATCH, path=info.filename)
        return data

    return read


def _folder_entries(root: Path, limits: BundleLimits) -> list[Entry]:
    entries: list[Entry] = []
    total = 0
    for directory, subdirs, names in os.walk(root, followlinks=False):
        for name in sorted(subdirs) + sorted(names):
            full = Path(directory) / name
            relative = full.relative_to(root).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise BundleError.of(errors.SYMLINK, path=relative)
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise BundleError.of(errors.SPECIAL_FILE, path=relative)
            size = full.lstat().st_size
            total += size
            _check_limits(len(entries) + 1, total, limits)
            entries.append(
                Entry(path=PurePosixPath(relative), size=size, read=_file_reader(full, relative))
            )
    return entries


def _file_reader(full: Path, relative: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return full.read_bytes()
        except OSError as error:
            # Unreadable (permissions), or gone since it was listed.
            raise BundleError.of(errors.UNREADABLE, path=relative, detail=error.strerror) from error

    return read


def safe_relative_path(name: str) -> PurePosixPath:
    """Refuse absolute and climbing paths; Windows separators count as separators."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        raise BundleError.of(errors.ABSOLUTE_PATH, path=name)
    parts = [part for part in normalised.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BundleError.of(errors.TRAVERSAL, path=name)
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _check_limits(count: int, total_bytes: int, limits: BundleLimits) -> None:
    if count > limits.max_files:
        raise BundleError.of(errors.TOO_MANY_FILES, limit=limits.max_files)
    if total_bytes > limits.max_bytes:
        raise BundleError.of(errors.TOO_MANY_BYTES, limit=limits.max_bytes)


def _is_junk(path: PurePosixPath) -> bool:
    return path.parts[0] == "__MACOSX" or path.name in JUNK_NAMES or path.name.startswith(".")


def strip_common_root(entries: list[Entry]) -> dict[PurePosixPath, Entry]:
    """Index entries by path, dropping one enclosing folder if the whole bundle sits in it.

    Zipping a folder usually yields ``my-challenge/challenge.toml``; that is the same bundle.
    """
    for entry in entries:
        if entry.path.suffix.lower() in ARCHIVE_SUFFIXES:
            raise BundleError.of(errors.NESTED_ARCHIVE, path=entry.path)
    files = [entry for entry in entries if not _is_junk(entry.path)]
    paths = {entry.path for entry in files}
    if PurePosixPath(MANIFEST_NAME) not in paths:
        roots = {entry.path.parts[0] for entry in files if len(entry.path.parts) > 1}
        at_top = [entry for entry in files if len(entry.path.parts) == 1]
        if len(roots) == 1 and not at_top:
            files = [
                Entry(path=PurePosixPath(*entry.path.parts[1:]), size=entry.size, read=entry.read)
                for entry in files
            ]
            paths = {entry.path for entry in files}
        if PurePosixPath(MANIFEST_NAME) not in paths:
            raise BundleError.of(errors.MISSING_MANIFEST)
    return {entry.path: entry for entry in files}


def read_checked(entry: Entry) -> bytes:
    """An entry's bytes, refused if they are an archive, whatever the file is called."""
    data = entry.read()
    if data.startswith(ARCHIVE_MAGIC):
        raise BundleError.of(errors.NESTED_ARCHIVE, path=entry.path)
    return data
