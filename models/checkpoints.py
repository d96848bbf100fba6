"""Reading checkpoint files safely: formats, size and parameter limits, finiteness.

Three formats, told apart by the file name's extension and checked against the content:
`.safetensors`; `.pt`/`.pth` state dicts, read only by `torch.load(weights_only=True)`, also
when nested under a `state_dict` or `model` key; `.pt2` torch.export programs, read by
`models.exported` without unpickling anything. Nothing else is ever deserialised. The size limit
holds before a byte is read, the parameter limit before any network is built.

Validation (`weights=False`, what the web process runs on every upload) never holds a whole file
in memory: the file is hashed in chunks, a safetensors file is checked from its header and its
floating-point payload read a chunk at a time, a zip-format `.pt`/`.pth` is memory-mapped, and
the tensors come back on the meta device (shapes and dtypes only). Only a `.pt2` program and a
legacy (pre-zip) `.pt` are still read whole.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import math
import mmap
import os
import pickle
import sys
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import safetensors.torch
import torch
from torch.export import ExportedProgram

from models import exported
from models.errors import (
    CORRUPT_FILE,
    FILE_TOO_LARGE,
    NON_FINITE_WEIGHTS,
    NOT_A_STATE_DICT,
    PICKLED_OBJECTS,
    TOO_MANY_PARAMETERS,
    UNSUPPORTED_EXTENSION,
    WRONG_EXTENSION,
    ErrorCode,
    ModelError,
)

logger = logging.getLogger(__name__)


class CheckpointFormat(StrEnum):
    SAFETENSORS = "safetensors"
    TORCH = "torch"
    EXPORTED = "exported"


EXTENSIONS = {
    ".safetensors": CheckpointFormat.SAFETENSORS,
    ".pt": CheckpointFormat.TORCH,
    ".pth": CheckpointFormat.TORCH,
    ".pt2": CheckpointFormat.EXPORTED,
}
_FORMAT_NAMES = {
    CheckpointFormat.SAFETENSORS: ("safetensors", ".safetensors"),
    CheckpointFormat.TORCH: ("PyTorch state dict", ".pt or .pth"),
    CheckpointFormat.EXPORTED: ("torch.export program", ".pt2"),
}
# Keys under which training scripts commonly nest the state dict itself.
NESTING_KEYS = ("state_dict", "model")
# safetensors caps its own header at 100 MB; a longer claim is a broken or hostile file.
_MAX_SAFETENSORS_HEADER = 100_000_000
_SAFETENSORS_DTYPES = {
    "BOOL": torch.bool,
    "U8": torch.uint8,
    "I8": torch.int8,
    "F8_E5M2": torch.float8_e5m2,
    "F8_E4M3": torch.float8_e4m3fn,
    "I16": torch.int16,
    "U16": torch.uint16,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I32": torch.int32,
    "U32": torch.uint32,
    "F32": torch.float32,
    "I64": torch.int64,
    "U64": torch.uint64,
    "F64": torch.float64,
}
# Hashing and finiteness checks go through files and tensors this much at a time, so that
# validating a checkpoint costs the web process about this much memory, whatever its size.
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class CheckpointLimits:
    """Bounds checked while reading: file size before reading, parameters before building."""

    max_bytes: int = 1 << 30
    max_params: int = 200_000_000


@dataclass(frozen=True)
class RawCheckpoint:
    """A checkpoint's tensors (a program's state dict for `.pt2`) and, for `.pt2`, the program.

    Read without weights, the tensors of a state dict are on the meta device: their names,
    shapes and dtypes are what validation needs.
    """

    format: CheckpointFormat
    size_bytes: int
    sha256: str
    tensors: dict[str, torch.Tensor]
    param_count: int
    program: ExportedProgram | None = None


def checkpoint_format(path: Path) -> CheckpointFormat:
    """The format a file claims by its extension."""
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        ending = f"ending in '{path.suffix}'" if path.suffix else "without an extension"
        raise ModelError(ErrorCode.UNSUPPORTED_FORMAT, UNSUPPORTED_EXTENSION.format(ending=ending))
    return EXTENSIONS[suffix]


def read_checkpoint(path: Path, limits: CheckpointLimits, *, weights: bool = True) -> RawCheckpoint:
    """Read, check and deserialise a checkpoint file without executing anything in it.

    Every check runs either way (format, size, parameters, finiteness); `weights=False` returns
    the tensors of a `.safetensors` or `.pt`/`.pth` file on the meta device, and never holds
    the file in memory to do it.
    """
    claimed = checkpoint_format(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise ModelError(
            ErrorCode.FILE_TOO_LARGE, FILE_TOO_LARGE.format(size=size, limit=limits.max_bytes)
        )
    with path.open("rb") as file:
        _check_content(file, claimed, path.suffix)
        sha256 = _sha256(file)
    try:
        tensors, constants, archive = _deserialise(path, claimed, limits, weights=weights)
        program = archive.load() if archive is not None else None
    except (ModelError, MemoryError):
        raise
    except Exception as error:  # a parser tripping over malformed content: still the file's fault
        raise _corrupt(claimed, repr(error)) from error
    logger.debug("read %s checkpoint %s (%d tensors)", claimed, path.name, len(tensors))
    return RawCheckpoint(
        format=claimed,
        size_bytes=size,
        sha256=sha256,
        tensors=tensors,
        param_count=_count(tensors) + _count(constants),
        program=program,
    )


def _sha256(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    while chunk := file.read(_CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def _check_content(file: BinaryIO, claimed: CheckpointFormat, suffix: str) -> None:
    actual = sniff_format(file)
    if actual is None:
        raise _corrupt(claimed)
    if actual != claimed:
        actual_name, expected_suffix = _FORMAT_NAMES[actual]
        message = WRONG_EXTENSION.format(
            actual=actual_name, suffix=suffix, expected=expected_suffix
        )
        raise ModelError(ErrorCode.UNSUPPORTED_FORMAT, message)


def _deserialise(
    path: Path, claimed: CheckpointFormat, limits: CheckpointLimits, *, weights: bool
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], exported.ProgramArchive | None]:
    """Weights, constants and (for .pt2) the archive, under the parameter limit, all finite."""
    if claimed is CheckpointFormat.SAFETENSORS:
        header = _safetensors_header(path)
        _check_parameter_count(_parameter_count(header.shapes), limits.max_params)
        return _read_safetensors(path, header, weights=weights), {}, None
    if claimed is CheckpointFormat.TORCH:
        tensors, mapped = _read_torch(path)
        _check_parameter_count(_count(tensors), limits.max_params)
        # Validation never reads the weights again: the pages of a memory-mapped file can
        # leave this process as soon as they are checked.
        _check_finite(tensors, release_mapped=mapped and not weights)
        return (tensors if weights else _on_meta(tensors)), {}, None
    archive = exported.open_archive(path)
    count = _count(archive.weights) + _count(archive.constants)
    _check_parameter_count(count, limits.max_params)
    _check_finite(archive.weights)
    _check_finite(archive.constants)
    return archive.weights, archive.constants, archive


def sniff_format(file: BinaryIO) -> CheckpointFormat | None:
    """The format an open file looks like, or None when it looks like none of them."""
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    head = file.read(9)
    if head.startswith(b"PK\x03\x04"):
        try:
            infos = zipfile.ZipFile(file).infolist()
        except zipfile.BadZipFile:
            return None
        # A truncated archive can still show the directory of a zip stored inside it (a .pt2
        # holds a torch.save file); an archive that does not start at byte 0 is not the file's.
        if not infos or min(info.header_offset for info in infos) != 0:
            return None
        names = [info.filename for info in infos]
        if any(name.endswith("/archive_format") for name in names):
            return CheckpointFormat.EXPORTED
        if any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
            return CheckpointFormat.TORCH
        return None
    header_length = int.from_bytes(head[:8], "little")
    if head[8:9] == b"{" and header_length <= size - 8:
        return CheckpointFormat.SAFETENSORS
    if head[:1] == b"\x80":
        # A pickle stream: the legacy (pre-1.6) torch.save format, or a bare pickle.
        return CheckpointFormat.TORCH
    return None


def _parameter_count(shapes: dict[str, tuple[int, ...]]) -> int:
    return sum(math.prod(shape) for shape in shapes.values())


def _count(tensors: dict[str, torch.Tensor]) -> int:
    return sum(tensor.numel() for tensor in tensors.values())


def _check_parameter_count(count: int, limit: int) -> None:
    if count > limit:
        raise ModelError(
            ErrorCode.TOO_MANY_PARAMETERS, TOO_MANY_PARAMETERS.format(count=count, limit=limit)
        )


def _check_finite(tensors: dict[str, torch.Tensor], *, release_mapped: bool = False) -> None:
    """No NaN or Inf in any floating-point tensor, checked a chunk at a time so that the
    check's own temporaries stay small whatever the tensor's size.

    With `release_mapped` the tensors are views of a memory-mapped file that nobody reads
    again, and each checked chunk's pages are handed back at once, so that the process's
    resident memory does not grow by the file's size.
    """
    for key, tensor in tensors.items():
        if not tensor.is_floating_point():
            continue
        flat = tensor.reshape(-1)
        # A non-contiguous tensor was copied by reshape: only a view's pages are the file's.
        release = release_mapped and flat.data_ptr() == tensor.data_ptr()
        step = max(_CHUNK_BYTES // tensor.element_size(), 1)
        for start in range(0, flat.numel(), step):
            chunk = flat[start : start + step]
            _check_finite_values(key, chunk)
            if release:
                _release_pages(chunk)


_MADV_DONTNEED = 4  # Linux
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _release_pages(chunk: torch.Tensor) -> None:
    """Drop the whole pages under `chunk` from this process (madvise MADV_DONTNEED).

    Only for a private, never-written mapping of a file: the pages stay in the page cache and
    would be read back from there if touched again. Elsewhere than Linux, nothing happens.
    """
    if _LIBC is None:
        return
    start = chunk.data_ptr()
    end = start + chunk.numel() * chunk.element_size()
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    last = end // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)


def _check_finite_values(key: str, values: torch.Tensor) -> None:
    if not bool(torch.isfinite(values).all()):
        raise ModelError(ErrorCode.NON_FINITE_WEIGHTS, NON_FINITE_WEIGHTS.format(key=key))


def _on_meta(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: tensor.to("meta") for key, tensor in tensors.items()}


def _corrupt(checkpoint_format: CheckpointFormat, detail: str = "") -> ModelError:
    name, _ = _FORMAT_NAMES[checkpoint_format]
    return ModelError(ErrorCode.CORRUPT_FILE, CORRUPT_FILE.format(format=name), detail=detail)


@dataclass(frozen=True)
class _SafetensorsEntry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class _SafetensorsHeader:
    entries: dict[str, _SafetensorsEntry]
    payload_start: int

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: entry.shape for name, entry in self.entries.items()}


def _safetensors_header(path: Path) -> _SafetensorsHeader:
    """Check a safetensors header against the file before anything else is read.

    Only the header is read; the library's own header checks (every byte of the payload
    covered exactly once) run on it too, through `safe_open`, which maps the file lazily.
    """
    size = path.stat().st_size
    with path.open("rb") as file:
        header_length = int.from_bytes(file.read(8), "little")
        if header_length > min(size - 8, _MAX_SAFETENSORS_HEADER):
            raise _corrupt(CheckpointFormat.SAFETENSORS, f"header length {header_length}")
        raw_header = file.read(header_length)
    try:
        header = json.loads(raw_header)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(CheckpointFormat.SAFETENSORS, repr(error)) from error
    if not isinstance(header, dict):
        raise _corrupt(CheckpointFormat.SAFETENSORS, "header is not an object")
    payload = size - 8 - header_length
    entries: dict[str, _SafetensorsEntry] = {}
    for name, value in header.items():
        if name == "__metadata__":
            continue
        entry = _safetensors_entry(value, payload)
        if entry is None:
            raise _corrupt(CheckpointFormat.SAFETENSORS, f"bad header entry for {name!r}")
        entries[name] = entry
    try:
        with safetensors.safe_open(path, framework="pt"):
            pass
    except Exception as error:  # the library raises its own SafetensorError and others
        raise _corrupt(CheckpointFormat.SAFETENSORS, repr(error)) from error
    return _SafetensorsHeader(entries, payload_start=8 + header_length)


def _safetensors_entry(entry: object, payload: int) -> _SafetensorsEntry | None:
    if not isinstance(entry, dict):
        return None
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _SAFETENSORS_DTYPES:
        return None
    if not isinstance(shape, list) or not isinstance(offsets, list):
        return None
    if not all(isinstance(size, int) and size >= 0 for size in shape):
        return None
    if len(offsets) != 2 or not all(isinstance(offset, int) for offset in offsets):
        return None
    begin, end = offsets
    torch_dtype = _SAFETENSORS_DTYPES[dtype]
    if not 0 <= begin <= end <= payload or end - begin != math.prod(shape) * torch_dtype.itemsize:
        return None
    return _SafetensorsEntry(torch_dtype, tuple(shape), begin, end)


def _read_safetensors(
    path: Path, header: _SafetensorsHeader, *, weights: bool
) -> dict[str, torch.Tensor]:
    """The tensors, finite; without weights on the meta device, the payload read in chunks."""
    if weights:
        try:
            tensors = safetensors.torch.load_file(path)
        except Exception as error:  # the library raises its own SafetensorError and others
            raise _corrupt(CheckpointFormat.SAFETENSORS, repr(error)) from error
        _check_finite(tensors)
        return tensors
    _check_finite_payload(path, header)
    return {
        name: torch.empty(entry.shape, dtype=entry.dtype, device="meta")
        for name, entry in header.entries.items()
    }


def _check_finite_payload(path: Path, header: _SafetensorsHeader) -> None:
    """Finiteness of every floating-point tensor, read from the file one chunk at a time."""
    buffer = bytearray(_CHUNK_BYTES)
    with path.open("rb") as file:
        for name, entry in header.entries.items():
            if not entry.dtype.is_floating_point:
                continue
            file.seek(header.payload_start + entry.begin)
            remaining = entry.end - entry.begin
            step = _CHUNK_BYTES // entry.dtype.itemsize * entry.dtype.itemsize
            while remaining:
                wanted = min(step, remaining)
                if file.readinto(memoryview(buffer)[:wanted]) != wanted:
                    raise _corrupt(CheckpointFormat.SAFETENSORS, f"{name!r} is truncated")
                count = wanted // entry.dtype.itemsize
                _check_finite_values(name, torch.frombuffer(buffer, dtype=entry.dtype, count=count))
                remaining -= wanted


def _read_torch(path: Path) -> tuple[dict[str, torch.Tensor], bool]:
    """A state dict read by `torch.load(weights_only=True)`, and whether it is memory-mapped
    (a zip-format file is; the legacy, pre-1.6, format cannot be and is read whole)."""
    with path.open("rb") as file:
        zip_format = file.read(4) == b"PK\x03\x04"
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=zip_format)
    except pickle.UnpicklingError as error:
        # weights_only refuses every global outside PyTorch's allowlist: a pickled nn.Module,
        # a custom class, or a hostile reduce.
        raise ModelError(
            ErrorCode.UNSUPPORTED_FORMAT, PICKLED_OBJECTS, detail=str(error)
        ) from error
    except Exception as error:  # zip, storage and pickle framing errors of a damaged file
        raise _corrupt(CheckpointFormat.TORCH, repr(error)) from error
    return _unnest(loaded), zip_format


def _unnest(loaded: object) -> dict[str, torch.Tensor]:
    """The flat mapping of names to tensors in a loaded .pt/.pth object."""
    if isinstance(loaded, dict):
        for key in NESTING_KEYS:
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if (
        not isinstance(loaded, dict)
        or not loaded
        or not all(
            isinstance(key, str) and isinstance(value, torch.Tensor)
            for key, value in loaded.items()
        )
    ):
        raise ModelError(ErrorCode.UNSUPPORTED_FORMAT, NOT_A_STATE_DICT)
    return dict(loaded)
