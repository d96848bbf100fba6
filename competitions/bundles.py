"""Challenge bundles: read and validate a zip or folder before anything is written.

A bundle is ``challenge.toml`` plus ``content/{public,hidden}/`` and ``style/{public,hidden}/``
image folders (``style/hidden`` optional) and, optionally, ``negatives/``: images that are not
the challenge's style, for its judge to learn against (kept hidden). Everything here treats
the bundle as hostile: paths that escape (zip slip, absolute paths), links, nested archives
and special files are refused, file count and size are bounded before a byte is decompressed,
and every image is decoded and normalised into a private temporary folder. Only a bundle that
passes all of it reaches :func:`competitions.services.challenge_bundle_import`, which writes in
one transaction.
"""

from __future__ import annotations

import datetime as dt
import lzma
import os
import re
import stat
import tempfile
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from competitions.imaging import ACCEPTED_SUFFIXES, ImageRejected, normalise_image
from competitions.models import MAX_RESOLUTION, MIN_RESOLUTION, Challenge, Phase, field_bounds
from config.errors import ApplicationError

MANIFEST_NAME = "challenge.toml"
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
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TEXT_FILE_SUFFIXES = (".md", ".markdown", ".txt")

TOP_LEVEL_KEYS = frozenset(
    {
        "slug",
        "title",
        "summary",
        "task_kind",
        "resolution",
        "public_fraction",
        "registration",
        "status",
        "description",
        "rules",
        "phases",
    }
)
PHASE_KEYS = frozenset(
    {
        "name",
        "starts_at",
        "ends_at",
        "max_per_day",
        "max_total",
        "max_running",
        "time_limit_s",
        "max_params",
        "max_checkpoint_bytes",
    }
)
# Whole numbers of a phase; their defaults and bounds are the Phase model's.
PHASE_NUMBER_KEYS = (
    "max_per_day",
    "max_total",
    "max_running",
    "time_limit_s",
    "max_params",
    "max_checkpoint_bytes",
)
# The longest value quoted back in a message; a 1 MB title is not repeated in full.
QUOTED_VALUE_MAX_CHARS = 80

NOT_A_BUNDLE = "{name} is neither a zip archive nor a folder."
CORRUPT_ZIP = "The zip archive is damaged and cannot be read ({detail})."
ENCRYPTED = "{path}: encrypted zip entries are not supported."
ABSOLUTE_PATH = "{path}: absolute paths are not allowed in a bundle."
TRAVERSAL = "{path}: paths that climb out of the bundle ('..') are not allowed."
SYMLINK = "{path}: symbolic links are not allowed in a bundle."
SPECIAL_FILE = "{path}: only plain files and folders are allowed in a bundle."
NESTED_ARCHIVE = "{path}: archives inside the bundle are not allowed; unpack them first."
TOO_MANY_FILES = "The bundle holds more than {limit:,} files."
TOO_MANY_BYTES = "The bundle holds more than {limit:,} bytes of files once unpacked."
SIZE_MISMATCH = "{path}: the entry is larger than its zip header says."
DUPLICATE_PATH = "{path}: the zip holds this path twice."
MISSING_MANIFEST = "The bundle has no challenge.toml at its top level."
BAD_TOML = "challenge.toml is not valid TOML: {detail}."
UNKNOWN_KEYS = "challenge.toml: unknown key(s) {keys}{where}."
MISSING_KEY = "challenge.toml: `{key}` is required{where}."
BAD_VALUE = "challenge.toml: `{key}`{where} {problem} (got {value})."
INVALID_FIELD = "challenge.toml: `{key}`{where}: {problem}"
INVALID_ENTRY = "challenge.toml{where}: {problem}"
TEXT_TOO_LONG = (
    "challenge.toml: `{key}` is {length:,} characters long; the limit is {limit:,}. "
    "Shorten it, or move what is not needed to take part elsewhere."
)
TEXT_FILE_TOO_LARGE = (
    "challenge.toml: `{key}` names {path}, a file of {size:,} bytes: far more than the "
    "{limit:,} characters the text may have."
)
MANIFEST_TOO_LARGE = "challenge.toml is {size:,} bytes; the limit is {limit:,}."
TOML_TOO_DEEP = "challenge.toml nests arrays or tables too deeply to be read."
DATE_OUT_OF_RANGE = "is outside the dates this site can store (years 1 to 9999 in UTC)"
UNREADABLE = "{path}: the file cannot be read ({detail})."
UNSUPPORTED_ZIP = "{path}: the zip entry is stored in a way that cannot be read ({detail})."
MISSING_TEXT_FILE = "challenge.toml: `{key}` names the file {value!r}, which is not in the bundle."
NOT_UTF8 = "{path}: text files must be UTF-8."
STRAY_FILE = (
    "{path}: images go in content/public/, content/hidden/, style/public/, style/hidden/ or "
    "negatives/."
)
NOT_IMAGE_NAME = "{path}: only image files (JPEG, PNG, WebP, BMP, GIF, TIFF) belong here."
TOO_FEW_IMAGES = "{folder}/ needs at least {minimum} image(s); the bundle has {count}."
DUPLICATE_IMAGE = "{path}: the same image as {other} (after normalisation)."
SLUG_TAKEN = "A challenge with the slug {slug!r} already exists."


class BundleError(ApplicationError):
    """A bundle that cannot be imported; nothing of it has been written."""


@dataclass(frozen=True)
class BundleLimits:
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
class PhaseSpec:
    name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    max_per_day: int
    max_total: int
    max_running: int
    time_limit_s: int
    max_params: int
    max_checkpoint_bytes: int


@dataclass(frozen=True)
class Manifest:
    slug: str
    title: str
    summary: str
    task_kind: str
    resolution: int
    public_fraction: float
    registration: str
    status: str
    description: str
    rules: str
    phases: tuple[PhaseSpec, ...]


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


@dataclass
class PreparedBundle:
    manifest: Manifest
    images: list[PreparedImage] = field(default_factory=list)

    def count(self, kind: str, split: str) -> int:
        return sum(1 for image in self.images if image.kind == kind and image.split == split)


@dataclass(frozen=True)
class _Entry:
    path: PurePosixPath
    size: int
    read: Callable[[], bytes]


Progress = Callable[[int, int], None]


@contextmanager
def bundle_prepare(
    source: Path, *, limits: BundleLimits | None = None, progress: Progress | None = None
) -> Iterator[PreparedBundle]:
    """Validate the bundle at ``source`` and yield it prepared; temporary files go on exit."""
    limits = limits or BundleLimits.from_settings()
    with (
        _bundle_entries(source, limits) as entries,
        tempfile.TemporaryDirectory(prefix="atelier-bundle-") as workdir,
    ):
        files = _strip_common_root(entries)
        manifest = _manifest_parse(files)
        if Challenge.objects.filter(slug=manifest.slug).exists():
            raise BundleError("bundle_slug_taken", SLUG_TAKEN.format(slug=manifest.slug))
        prepared = PreparedBundle(manifest=manifest)
        prepared.images = _images_prepare(
            files, manifest=manifest, limits=limits, workdir=Path(workdir), progress=progress
        )
        yield prepared


# --- Reading entries ------------------------------------------------------------------------


@contextmanager
def _bundle_entries(source: Path, limits: BundleLimits) -> Iterator[list[_Entry]]:
    if source.is_symlink():
        raise BundleError("bundle_symlink", SYMLINK.format(path=source.name))
    if source.is_dir():
        yield _folder_entries(source, limits)
        return
    if source.is_file() and zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as archive:
                yield _zip_entries(archive, limits)
        except zipfile.BadZipFile as error:
            raise BundleError("bundle_corrupt", CORRUPT_ZIP.format(detail=error)) from error
        return
    raise BundleError("bundle_not_a_bundle", NOT_A_BUNDLE.format(name=source.name))


def _zip_entries(archive: zipfile.ZipFile, limits: BundleLimits) -> list[_Entry]:
    entries: list[_Entry] = []
    seen: set[PurePosixPath] = set()
    total = 0
    for info in archive.infolist():
        path = _safe_relative_path(info.filename)
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            raise BundleError("bundle_symlink", SYMLINK.format(path=info.filename))
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise BundleError("bundle_encrypted", ENCRYPTED.format(path=info.filename))
        if path in seen:
            raise BundleError("bundle_duplicate_path", DUPLICATE_PATH.format(path=path))
        seen.add(path)
        total += info.file_size
        _check_limits(len(entries) + 1, total, limits)
        entries.append(_Entry(path=path, size=info.file_size, read=_zip_reader(archive, info)))
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
            raise BundleError("bundle_corrupt", CORRUPT_ZIP.format(detail=error)) from error
        except NotImplementedError as error:
            # An encryption or compression method zipfile does not implement.
            raise BundleError(
                "bundle_unsupported_zip", UNSUPPORTED_ZIP.format(path=info.filename, detail=error)
            ) from error
        if len(data) > info.file_size:
            raise BundleError("bundle_corrupt", SIZE_MISMATCH.format(path=info.filename))
        return data

    return read


def _folder_entries(root: Path, limits: BundleLimits) -> list[_Entry]:
    entries: list[_Entry] = []
    total = 0
    for directory, subdirs, names in os.walk(root, followlinks=False):
        for name in sorted(subdirs) + sorted(names):
            full = Path(directory) / name
            relative = full.relative_to(root).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise BundleError("bundle_symlink", SYMLINK.format(path=relative))
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise BundleError("bundle_special_file", SPECIAL_FILE.format(path=relative))
            size = full.lstat().st_size
            total += size
            _check_limits(len(entries) + 1, total, limits)
            entries.append(
                _Entry(path=PurePosixPath(relative), size=size, read=_file_reader(full, relative))
            )
    return entries


def _file_reader(full: Path, relative: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return full.read_bytes()
        except OSError as error:
            # Unreadable (permissions), or gone since it was listed.
            raise BundleError(
                "bundle_unreadable", UNREADABLE.format(path=relative, detail=error.strerror)
            ) from error

    return read


def _safe_relative_path(name: str) -> PurePosixPath:
    """Refuse absolute and climbing paths; Windows separators count as separators."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        raise BundleError("bundle_absolute_path", ABSOLUTE_PATH.format(path=name))
    parts = [part for part in normalised.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BundleError("bundle_path_traversal", TRAVERSAL.format(path=name))
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _check_limits(count: int, total_bytes: int, limits: BundleLimits) -> None:
    if count > limits.max_files:
        raise BundleError("bundle_too_many_files", TOO_MANY_FILES.format(limit=limits.max_files))
    if total_bytes > limits.max_bytes:
        raise BundleError("bundle_too_large", TOO_MANY_BYTES.format(limit=limits.max_bytes))


def _is_junk(path: PurePosixPath) -> bool:
    return path.parts[0] == "__MACOSX" or path.name in JUNK_NAMES or path.name.startswith(".")


def _strip_common_root(entries: list[_Entry]) -> dict[PurePosixPath, _Entry]:
    """Index entries by path, dropping one enclosing folder if the whole bundle sits in it.

    Zipping a folder usually yields ``my-challenge/challenge.toml``; that is the same bundle.
    """
    for entry in entries:
        if entry.path.suffix.lower() in ARCHIVE_SUFFIXES:
            raise BundleError("bundle_nested_archive", NESTED_ARCHIVE.format(path=entry.path))
    files = [entry for entry in entries if not _is_junk(entry.path)]
    paths = {entry.path for entry in files}
    if PurePosixPath(MANIFEST_NAME) not in paths:
        roots = {entry.path.parts[0] for entry in files if len(entry.path.parts) > 1}
        at_top = [entry for entry in files if len(entry.path.parts) == 1]
        if len(roots) == 1 and not at_top:
            files = [
                _Entry(path=PurePosixPath(*entry.path.parts[1:]), size=entry.size, read=entry.read)
                for entry in files
            ]
            paths = {entry.path for entry in files}
        if PurePosixPath(MANIFEST_NAME) not in paths:
            raise BundleError("bundle_missing_manifest", MISSING_MANIFEST)
    return {entry.path: entry for entry in files}


def _read_checked(entry: _Entry) -> bytes:
    data = entry.read()
    if data.startswith(ARCHIVE_MAGIC):
        raise BundleError("bundle_nested_archive", NESTED_ARCHIVE.format(path=entry.path))
    return data


# --- The manifest ---------------------------------------------------------------------------


def _manifest_parse(files: dict[PurePosixPath, _Entry]) -> Manifest:
    entry = files[PurePosixPath(MANIFEST_NAME)]
    limit = _manifest_max_bytes()
    if entry.size > limit:
        raise BundleError(
            "bundle_invalid_manifest", MANIFEST_TOO_LARGE.format(size=entry.size, limit=limit)
        )
    raw_bytes = _read_checked(entry)
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise BundleError("bundle_invalid_manifest", NOT_UTF8.format(path=MANIFEST_NAME)) from error
    except tomllib.TOMLDecodeError as error:
        raise BundleError("bundle_invalid_toml", BAD_TOML.format(detail=error)) from error
    except RecursionError as error:
        # tomllib parses nested arrays and inline tables recursively.
        raise BundleError("bundle_invalid_toml", TOML_TOO_DEEP) from error
    _reject_unknown(raw, TOP_LEVEL_KEYS, where="")
    slug = _required(raw, "slug", str, where="")
    if not SLUG_PATTERN.match(slug) or len(slug) > 64:
        _bad("slug", slug, "must be lowercase letters, digits and single hyphens, at most 64")
    title = _required(raw, "title", str, where="").strip()
    if not title or len(title) > 200:
        _bad("title", title, "must be between 1 and 200 characters")
    task_kind = _required(raw, "task_kind", str, where="")
    if task_kind not in Challenge.TaskKind.values:
        _bad("task_kind", task_kind, "must be one of " + ", ".join(Challenge.TaskKind.values))
    resolution = _required(raw, "resolution", int, where="")
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        _bad("resolution", resolution, f"must be between {MIN_RESOLUTION} and {MAX_RESOLUTION}")
    public_fraction = _optional(raw, "public_fraction", (int, float), 0.3, where="")
    if not 0 < public_fraction < 1:
        _bad("public_fraction", public_fraction, "must be strictly between 0 and 1")
    registration = _optional(raw, "registration", str, "open", where="")
    if registration not in Challenge.Registration.values:
        _bad("registration", registration, "must be 'open' or 'approval'")
    status = _optional(raw, "status", str, "draft", where="")
    if status not in (Challenge.Status.DRAFT, Challenge.Status.PUBLISHED):
        _bad("status", status, "must be 'draft' or 'published'")
    phases_raw = _required(raw, "phases", list, where="")
    if not phases_raw:
        _bad("phases", phases_raw, "needs at least one [[phases]] table")
    phases = tuple(_phase_parse(item, index) for index, item in enumerate(phases_raw, 1))
    names = [phase.name for phase in phases]
    if len(set(names)) != len(names):
        _bad("phases", names, "must have distinct names")
    return Manifest(
        slug=slug,
        title=title,
        summary=_optional(raw, "summary", str, "", where="").strip(),
        task_kind=task_kind,
        resolution=resolution,
        public_fraction=float(public_fraction),
        registration=registration,
        status=status,
        description=_text_or_file(raw, "description", files),
        rules=_text_or_file(raw, "rules", files),
        phases=phases,
    )


def _manifest_max_bytes() -> int:
    # Room for both markdown texts inline (UTF-8 takes up to 4 bytes a character) and a
    # generous megabyte for everything else; tomllib is not made to read gigabytes.
    return 2 * 4 * settings.ATELIER_MARKDOWN_MAX_CHARS + 1024 * 1024


def _phase_parse(item: Any, index: int) -> PhaseSpec:
    where = f" in phase {index}"
    if not isinstance(item, dict):
        _bad("phases", item, "must be a list of [[phases]] tables")
    _reject_unknown(item, PHASE_KEYS, where=where)
    name = _required(item, "name", str, where=where).strip()
    if not name or len(name) > 100:
        _bad("name", name, "must be between 1 and 100 characters", where=where)
    starts_at = _datetime(item, "starts_at", where)
    ends_at = _datetime(item, "ends_at", where)
    if ends_at <= starts_at:
        _bad("ends_at", ends_at.isoformat(), "must be later than starts_at", where=where)
    numbers = {key: _phase_number(item, key, where) for key in PHASE_NUMBER_KEYS}
    return PhaseSpec(name=name, starts_at=starts_at, ends_at=ends_at, **numbers)


def _phase_number(item: dict[str, Any], key: str, where: str) -> int:
    """A whole number of a phase, with the Phase model's default and within its bounds."""
    value = _optional(item, key, int, Phase._meta.get_field(key).default, where=where)
    low, high = field_bounds(Phase, key)
    if value < low:
        _bad(key, value, f"must be at least {low:,}", where=where)
    if value > high:
        _bad(key, value, f"must be at most {high:,}", where=where)
    return value


def _datetime(item: dict[str, Any], key: str, where: str) -> dt.datetime:
    """Accept TOML dates and date-times or ISO 8601 strings; times without offset are UTC."""
    value = _required(item, key, (str, dt.datetime, dt.date), where=where)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            _bad(key, value, "must be an ISO 8601 date or date-time", where=where)
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time.min)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-10:00 is a valid ISO date-time whose UTC time is in year 10000.
        _bad(key, value.isoformat(), DATE_OUT_OF_RANGE, where=where)


def _text_or_file(raw: dict[str, Any], key: str, files: dict[PurePosixPath, _Entry]) -> str:
    """A markdown field holds the text itself, or the name of a text file in the bundle."""
    text = _text_or_file_read(raw, key, files)
    limit = settings.ATELIER_MARKDOWN_MAX_CHARS
    if len(text) > limit:
        raise BundleError(
            "bundle_text_too_long", TEXT_TOO_LONG.format(key=key, length=len(text), limit=limit)
        )
    return text


def _text_or_file_read(raw: dict[str, Any], key: str, files: dict[PurePosixPath, _Entry]) -> str:
    value = _optional(raw, key, str, "", where="")
    candidate = value.strip()
    looks_like_file = (
        "\n" not in candidate
        and " " not in candidate
        and candidate.lower().endswith(TEXT_FILE_SUFFIXES)
    )
    if not looks_like_file:
        return value
    path = _safe_relative_path(candidate)
    entry = files.get(path)
    if entry is None:
        raise BundleError("bundle_missing_file", MISSING_TEXT_FILE.format(key=key, value=candidate))
    limit = settings.ATELIER_MARKDOWN_MAX_CHARS
    if entry.size > 4 * limit:
        # More bytes than the longest text can take in UTF-8: refused before it is read.
        raise BundleError(
            "bundle_text_too_long",
            TEXT_FILE_TOO_LARGE.format(key=key, path=path, size=entry.size, limit=limit),
        )
    try:
        return _read_checked(entry).decode("utf-8")
    except UnicodeDecodeError as error:
        raise BundleError("bundle_invalid_manifest", NOT_UTF8.format(path=path)) from error


def _reject_unknown(raw: dict[str, Any], known: frozenset[str], *, where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        keys = ", ".join(f"`{key}`" for key in unknown)
        raise BundleError("bundle_invalid_manifest", UNKNOWN_KEYS.format(keys=keys, where=where))


def _required(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], *, where: str) -> Any:
    if key not in raw:
        raise BundleError("bundle_invalid_manifest", MISSING_KEY.format(key=key, where=where))
    return _typed(raw[key], key, kind, where)


def _optional(
    raw: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, *, where: str
) -> Any:
    return _typed(raw[key], key, kind, where) if key in raw else default


def _typed(value: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # TOML booleans are Python ints; `resolution = true` is a mistake, not the number 1.
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        _bad(key, value, f"must be {names}", where=where)
    return value


_TYPE_NAMES = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    list: "a list",
    dt.datetime: "a date-time",
    dt.date: "a date",
}


def _bad(key: str, value: Any, problem: str, *, where: str = "") -> NoReturn:
    quoted = repr(value)
    if len(quoted) > QUOTED_VALUE_MAX_CHARS:
        quoted = f"{quoted[: QUOTED_VALUE_MAX_CHARS - 1]}…"
    raise BundleError(
        "bundle_invalid_manifest",
        BAD_VALUE.format(key=key, where=where, problem=problem, value=quoted),
    )


def bundle_field_error(error: ValidationError, *, where: str = "") -> BundleError:
    """The model's refusal of a value the manifest gave, naming the manifest's key.

    The manifest is checked before anything is written, but the model has the last word:
    whatever it refuses reaches the organizer as a bundle error, never as a server error.
    """
    problems = [
        INVALID_ENTRY.format(where=where, problem=message)
        if key == NON_FIELD_ERRORS
        else INVALID_FIELD.format(key=key, where=where, problem=message)
        for key, messages in error.message_dict.items()
        for message in messages
    ]
    return BundleError("bundle_invalid_manifest", " ".join(problems))


# --- Images ---------------------------------------------------------------------------------


def _images_prepare(
    files: dict[PurePosixPath, _Entry],
    *,
    manifest: Manifest,
    limits: BundleLimits,
    workdir: Path,
    progress: Progress | None,
) -> list[PreparedImage]:
    wanted = _image_entries(files)
    for folder, minimum in MIN_IMAGES.items():
        count = sum(1 for key, _ in wanted if key == folder)
        if count < minimum:
            raise BundleError(
                "bundle_too_few_images",
                TOO_FEW_IMAGES.format(folder="/".join(folder), minimum=minimum, count=count),
            )
    prepared: list[PreparedImage] = []
    first_seen: dict[tuple[str, str], str] = {}
    for index, ((kind, split), entry) in enumerate(wanted, 1):
        try:
            image = normalise_image(
                _read_checked(entry),
                name=str(entry.path),
                resolution=manifest.resolution,
                max_pixels=limits.max_image_pixels,
            )
        except ImageRejected as error:
            raise BundleError(error.code, error.message) from error
        other = first_seen.setdefault((kind, image.sha256), str(entry.path))
        if other != str(entry.path):
            raise BundleError(
                "bundle_duplicate_image", DUPLICATE_IMAGE.format(path=entry.path, other=other)
            )
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
    files: dict[PurePosixPath, _Entry],
) -> list[tuple[tuple[str, str], _Entry]]:
    """The image files of the image folders, in a stable order; anything stray is refused."""
    wanted: list[tuple[tuple[str, str], _Entry]] = []
    for path in sorted(files):
        if path.parts[0] == NEGATIVES_FOLDER:
            folder: tuple[str, ...] = ("negative", "hidden")
            depth = 2
        elif path.parts[0] in ("content", "style"):
            folder, depth = tuple(path.parts[:2]), 3
        else:
            continue
        if len(path.parts) != depth or folder not in IMAGE_FOLDERS:
            raise BundleError("bundle_stray_file", STRAY_FILE.format(path=path))
        if path.suffix.lower() not in ACCEPTED_SUFFIXES:
            raise BundleError("bundle_not_an_image", NOT_IMAGE_NAME.format(path=path))
        wanted.append((folder, files[path]))
    return wanted
