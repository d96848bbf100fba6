"""Structural limits of untrusted bytes, checked before any parser decodes them.

A parser's cost grows with what the bytes describe, not only with their number: a 96 MB JSON
header of 6.5 M keys, JSON nested thousands deep, a zip directory of a million records or a
record that inflates a thousandfold. These checks bound such things from the raw bytes, in
linear time, without recursion and without decoding, so that every parser after them runs on
input of known, bounded complexity. A refusal is a `too_complex` ModelError saying which part
of the checkpoint went over which limit.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch

from models.errors import TOO_COMPLEX, ErrorCode, ModelError

# Real documents nest about ten deep (a program's JSON) or three (a safetensors header).
MAX_JSON_DEPTH = 64
# A state dict of this many tensors is far beyond any generator; its zip directory would be
# about 13 MB.
MAX_ZIP_RECORDS = 100_000
MAX_ZIP_DIRECTORY_BYTES = 16 << 20
# torch.save and torch.export.save store records uncompressed; this leaves room for an archive
# recompressed by another tool, and none for a zip bomb.
MAX_ZIP_RATIO = 20

# With escapes removed, a JSON string is a quote, anything but a quote, and a quote.
_JSON_STRING = re.compile(rb'"[^"]*"')
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(_BRACKETS)))
# Opening brackets step one level in (+1), closing ones one level out (-1 as a signed byte).
_DEPTH_STEPS = bytes.maketrans(_BRACKETS, bytes([1, 255, 1, 255]))
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END_OF_DIRECTORY = b"PK\x06\x06"
_END_RECORD_BYTES = 22
_MAX_ZIP_COMMENT = 0xFFFF


@dataclass(frozen=True)
class JsonShape:
    """What a JSON document's structure costs to decode: its nesting depth and its keys."""

    depth: int
    keys: int


def too_complex(part: str, found: str, limit: str) -> ModelError:
    return ModelError(
        ErrorCode.TOO_COMPLEX, TOO_COMPLEX.format(part=part, found=found, limit=limit)
    )


def json_shape(document: bytes) -> JsonShape:
    """Nesting depth and key count of a JSON document, read from its bytes without decoding.

    Exact for valid JSON, and for every valid prefix of invalid JSON, which is all a decoder
    reads before it gives up: outside strings there are no backslashes, and inside them every
    backslash starts an escape, so dropping escaped backslashes, then escaped quotes, leaves
    quotes only where strings start and end; outside strings, brackets are the nesting and
    every colon ends a key.
    """
    unescaped = document.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = _JSON_STRING.sub(b"", unescaped)
    brackets = structure.translate(None, _NOT_BRACKETS)
    if not brackets:
        return JsonShape(depth=0, keys=0)
    steps = torch.frombuffer(bytearray(brackets.translate(_DEPTH_STEPS)), dtype=torch.int8)
    depth = int(steps.cumsum(0, dtype=torch.int32).max())
    return JsonShape(depth=depth, keys=structure.count(b":"))


def bounded_json(
    document: bytes | str,
    *,
    part: str,
    max_bytes: int,
    max_keys: int | None = None,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """`json.loads` of a document whose size, depth and key count are checked first.

    Bytes must be UTF-8 (`json.loads` would also take UTF-16 and UTF-32, whose escapes the
    checks do not see). A document that is no JSON raises what `json.loads` raises: a
    ValueError, UnicodeDecodeError included.
    """
    raw = document if isinstance(document, bytes) else document.encode()
    if len(raw) > max_bytes:
        raise too_complex(part, f"{len(raw):,} bytes", f"{max_bytes:,} bytes")
    shape = json_shape(raw)
    if shape.depth > max_depth:
        raise too_complex(part, f"nested {shape.depth:,} deep", f"{max_depth} levels")
    if max_keys is not None and shape.keys > max_keys:
        raise too_complex(part, f"{shape.keys:,} keys", f"{max_keys:,} keys")
    return json.loads(raw.decode() if isinstance(document, bytes) else document)


@dataclass(frozen=True)
class ZipDirectory:
    """What a zip archive's end record says about its central directory."""

    records: int
    size: int


def zip_directory(file: BinaryIO) -> ZipDirectory | None:
    """The record count and size of an archive's central directory, from its end record
    (zip64's where the archive has one); None when there is no end record.

    Reads at most the last 64 KiB of the file, and nothing of the directory itself.
    """
    file.seek(0, 2)
    size = file.tell()
    tail_start = max(0, size - _END_RECORD_BYTES - _MAX_ZIP_COMMENT)
    file.seek(tail_start)
    tail = file.read()
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < _END_RECORD_BYTES:
        return None
    records = int.from_bytes(tail[at + 10 : at + 12], "little")
    directory_size = int.from_bytes(tail[at + 12 : at + 16], "little")
    locator = tail[at - 20 : at] if at >= 20 else b""
    if not locator.startswith(_ZIP64_LOCATOR):
        return ZipDirectory(records=records, size=directory_size)
    file.seek(int.from_bytes(locator[8:16], "little"))
    record = file.read(56)
    if not record.startswith(_ZIP64_END_OF_DIRECTORY) or len(record) < 56:
        return None
    return ZipDirectory(
        records=int.from_bytes(record[32:40], "little"),
        size=int.from_bytes(record[40:48], "little"),
    )


def open_zip(file: BinaryIO) -> zipfile.ZipFile:
    """The archive, once its directory is known to be small enough to list (zipfile reads and
    decodes all of it) and no record inflates more than MAX_ZIP_RATIO-fold.

    A file without a zip end record raises zipfile.BadZipFile, as zipfile itself would.
    """
    directory = zip_directory(file)
    if directory is None:
        raise zipfile.BadZipFile("no end of central directory record")
    _check_zip_directory(directory)
    archive = zipfile.ZipFile(file)
    file.seek(0, 2)
    _check_zip_records(archive.infolist(), file.tell())
    return archive


def _check_zip_directory(directory: ZipDirectory) -> None:
    if directory.records > MAX_ZIP_RECORDS:
        raise too_complex(
            "zip archive", f"{directory.records:,} records", f"{MAX_ZIP_RECORDS:,} records"
        )
    if directory.size > MAX_ZIP_DIRECTORY_BYTES:
        raise too_complex(
            "zip directory", f"{directory.size:,} bytes", f"{MAX_ZIP_DIRECTORY_BYTES:,} bytes"
        )


def _check_zip_records(infos: list[zipfile.ZipInfo], archive_bytes: int) -> None:
    # zipfile lists whatever the directory's bytes hold, whatever count the end record claims.
    _check_zip_directory(ZipDirectory(records=len(infos), size=0))
    total = 0
    for info in infos:
        if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise too_complex(
                f"zip record '{info.filename[:80]}'",
                f"compressed {ratio:,}:1",
                f"{MAX_ZIP_RATIO}:1",
            )
        total += info.file_size
    if total > MAX_ZIP_RATIO * archive_bytes:
        raise too_complex(
            "zip archive", f"{total:,} bytes unpacked", f"{MAX_ZIP_RATIO * archive_bytes:,} bytes"
        )
