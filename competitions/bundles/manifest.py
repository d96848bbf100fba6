"""The bundle's ``challenge.toml``: its schema, checked key by key before anything is written.

What a key may hold is the model's to say: the phase keys, their defaults and bounds and the
lengths of names come from the fields of :class:`~competitions.models.Challenge` and
:class:`~competitions.models.Phase`, so a message quotes the limit the model will enforce.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models

from competitions.bundles import errors
from competitions.bundles.archive import (
    MANIFEST_NAME,
    Entry,
    read_checked,
    safe_relative_path,
)
from competitions.bundles.errors import BundleError
from competitions.models import MAX_RESOLUTION, MIN_RESOLUTION, Challenge, Phase, field_bounds

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
# A phase's name and dates, then the limits the Phase model defines, with its defaults and bounds.
PHASE_KEYS = frozenset({"name", "starts_at", "ends_at", *Phase.LIMIT_FIELDS})
# The longest value quoted back in a message; a 1 MB title is not repeated in full.
QUOTED_VALUE_MAX_CHARS = 80

INVALID_FIELD = "challenge.toml: `{key}`{where}: {problem}"
INVALID_ENTRY = "challenge.toml{where}: {problem}"
DATE_OUT_OF_RANGE = "is outside the dates this site can store (years 1 to 9999 in UTC)"


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    # One value for each of Phase.LIMIT_FIELDS.
    limits: Mapping[str, int]


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


def manifest_parse(files: dict[PurePosixPath, Entry]) -> Manifest:
    """The manifest of a bundle's ``files``, every key checked; markdown files are read in."""
    entry = files[PurePosixPath(MANIFEST_NAME)]
    limit = _manifest_max_bytes()
    if entry.size > limit:
        raise BundleError.of(errors.MANIFEST_TOO_LARGE, size=entry.size, limit=limit)
    raw_bytes = read_checked(entry)
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise BundleError.of(errors.NOT_UTF8, path=MANIFEST_NAME) from error
    except tomllib.TOMLDecodeError as error:
        raise BundleError.of(errors.BAD_TOML, detail=error) from error
    except RecursionError as error:
        # tomllib parses nested arrays and inline tables recursively.
        raise BundleError.of(errors.TOML_TOO_DEEP) from error
    _reject_unknown(raw, TOP_LEVEL_KEYS, where="")
    slug = _required(raw, "slug", str, where="")
    longest = _max_length(Challenge, "slug")
    if not SLUG_PATTERN.match(slug) or len(slug) > longest:
        _bad(
            "slug", slug, f"must be lowercase letters, digits and single hyphens, at most {longest}"
        )
    title = _required(raw, "title", str, where="").strip()
    longest = _max_length(Challenge, "title")
    if not title or len(title) > longest:
        _bad("title", title, f"must be between 1 and {longest} characters")
    task_kind = _required(raw, "task_kind", str, where="")
    if task_kind not in Challenge.TaskKind.values:
        _bad("task_kind", task_kind, "must be one of " + ", ".join(Challenge.TaskKind.values))
    resolution = _required(raw, "resolution", int, where="")
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        _bad("resolution", resolution, f"must be between {MIN_RESOLUTION} and {MAX_RESOLUTION}")
    public_fraction = _optional(
        raw, "public_fraction", (int, float), _default(Challenge, "public_fraction"), where=""
    )
    if not 0 < public_fraction < 1:
        _bad("public_fraction", public_fraction, "must be strictly between 0 and 1")
    registration = _optional(
        raw, "registration", str, _default(Challenge, "registration"), where=""
    )
    if registration not in Challenge.Registration.values:
        _bad("registration", registration, "must be 'open' or 'approval'")
    status = _optional(raw, "status", str, _default(Challenge, "status"), where="")
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
    longest = _max_length(Phase, "name")
    if not name or len(name) > longest:
        _bad("name", name, f"must be between 1 and {longest} characters", where=where)
    starts_at = _datetime(item, "starts_at", where)
    ends_at = _datetime(item, "ends_at", where)
    if ends_at <= starts_at:
        _bad("ends_at", ends_at.isoformat(), "must be later than starts_at", where=where)
    limits = {key: _phase_number(item, key, where) for key in Phase.LIMIT_FIELDS}
    return PhaseSpec(name=name, starts_at=starts_at, ends_at=ends_at, limits=limits)


def _phase_number(item: dict[str, Any], key: str, where: str) -> int:
    """A whole number of a phase, with the Phase model's default and within its bounds."""
    value = _optional(item, key, int, _default(Phase, key), where=where)
    low, high = field_bounds(Phase, key)
    if value < low:
        _bad(key, value, f"must be at least {low:,}", where=where)
    if value > high:
        _bad(key, value, f"must be at most {high:,}", where=where)
    return value


def _default(model: type[models.Model], name: str) -> Any:
    return model._meta.get_field(name).default


def _max_length(model: type[models.Model], name: str) -> int:
    return model._meta.get_field(name).max_length


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


def _text_or_file(raw: dict[str, Any], key: str, files: dict[PurePosixPath, Entry]) -> str:
    """A markdown field holds the text itself, or the name of a text file in the bundle."""
    text = _text_or_file_read(raw, key, files)
    limit = settings.ATELIER_MARKDOWN_MAX_CHARS
    if len(text) > limit:
        raise BundleError.of(errors.TEXT_TOO_LONG, key=key, length=len(text), limit=limit)
    return text


def _text_or_file_read(raw: dict[str, Any], key: str, files: dict[PurePosixPath, Entry]) -> str:
    value = _optional(raw, key, str, "", where="")
    candidate = value.strip()
    looks_like_file = (
        "\n" not in candidate
        and " " not in candidate
        and candidate.lower().endswith(TEXT_FILE_SUFFIXES)
    )
    if not looks_like_file:
        return value
    path = safe_relative_path(candidate)
    entry = files.get(path)
    if entry is None:
        raise BundleError.of(errors.MISSING_TEXT_FILE, key=key, value=candidate)
    limit = settings.ATELIER_MARKDOWN_MAX_CHARS
    if entry.size > 4 * limit:
        # More bytes than the longest text can take in UTF-8: refused before it is read.
        raise BundleError.of(
            errors.TEXT_FILE_TOO_LARGE, key=key, path=path, size=entry.size, limit=limit
        )
    try:
        return read_checked(entry).decode("utf-8")
    except UnicodeDecodeError as error:
        raise BundleError.of(errors.NOT_UTF8, path=path) from error


def _reject_unknown(raw: dict[str, Any], known: frozenset[str], *, where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        keys = ", ".join(f"`{key}`" for key in unknown)
        raise BundleError.of(errors.UNKNOWN_KEYS, keys=keys, where=where)


def _required(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], *, where: str) -> Any:
    if key not in raw:
        raise BundleError.of(errors.MISSING_KEY, key=key, where=where)
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
    raise BundleError.of(errors.BAD_VALUE, key=key, where=where, problem=problem, value=quoted)


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
    return BundleError.of(errors.MODEL_REFUSED, problems=" ".join(problems))
