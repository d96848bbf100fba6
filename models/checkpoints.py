"""Reading checkpoint files safely: formats, size and parameter limits, finiteness.

Four formats, told apart by the file's first bytes whatever its name (published checkpoints
come as `.model`, `.ckpt`, `.bin` or without an extension): safetensors; PyTorch state dicts
(`torch.save`'s zip format or its legacy pickle stream), read only by
`torch.load(weights_only=True)`, also when nested under a `state_dict` or `model` key;
torch.export programs (`.pt2`), read by `models.exported` without unpickling anything; ONNX
models, parsed and checked by `models.onnx_graph` before any runtime sees them. Nothing
else is ever deserialised; a file of no known format is refused with a sentence saying what it
looks like. The size limit holds before a byte is read, the parameter limit before any network
is built.

Validation (`weights=False`, what the web process runs on every upload) never holds a whole file
in memory: the file is hashed in chunks, a safetensors file is checked from its header and its
floating-point payload read a chunk at a time, a zip-format state dict is memory-mapped, and
the tensors come back on the meta device (shapes and dtypes only). Only a torch.export program
and a legacy (pre-zip) state dict are still read whole.

Before any parser sees a file, its structure is bounded from the raw bytes (`models.structure`):
a safetensors header's size and key count, a zip archive's directory and compression ratios. An
allocation that fails is raised as MemoryError, never passed off as a damaged file, so that a
caller running this under a memory limit can say which limit was hit.
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import logging
import math
import mmap
import pickle
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import safetensors.torch
import torch
from torch.export import ExportedProgram

from models import exported, structure
from models.errors import (
    CORRUPT_FILE,
    FILE_TOO_LARGE,
    FOUND_BINARY,
    FOUND_COMPRESSED,
    FOUND_EMPTY,
    FOUND_HDF5,
    FOUND_IMAGE,
    FOUND_LFS_POINTER,
    FOUND_NUMPY,
    FOUND_TEXT,
    FOUND_WEB_PAGE,
    FOUND_ZIP,
    NON_FINITE_WEIGHTS,
    NOT_A_STATE_DICT,
    PICKLED_OBJECTS,
    TOO_MANY_PARAMETERS,
    UNRECOGNISED_CONTENT,
    ErrorCode,
    ModelError,
    out_of_memory,
)
from models.onnx_graph import OnnxGraph, OnnxLimits, read_onnx

logger = logging.getLogger(__name__)


class CheckpointFormat(StrEnum):
    SAFETENSORS = "safetensors"
    TORCH = "torch"
    EXPORTED = "exported"
    ONNX = "onnx"


# The extension a stored copy of a checkpoint gets, whatever the participant's file was called.
SUFFIXES = {
    CheckpointFormat.SAFETENSORS: ".safetensors",
    CheckpointFormat.TORCH: ".pt",
    CheckpointFormat.EXPORTED: ".pt2",
    CheckpointFormat.ONNX: ".onnx",
}
_FORMAT_NAMES = {
    CheckpointFormat.SAFETENSORS: "safetensors",
    CheckpointFormat.TORCH: "PyTorch state dict",
    CheckpointFormat.EXPORTED: "torch.export program",
    CheckpointFormat.ONNX: "ONNX model",
}
# Keys under which training scripts commonly nest the state dict itself.
NESTING_KEYS = ("state_dict", "model")
# A header lists each tensor in about 100 bytes: 100,000 tensors (far beyond any generator)
# take 10 MB. safetensors itself allows 100 MB, which takes seconds and gigabytes to decode.
MAX_SAFETENSORS_HEADER_BYTES = 16 << 20
MAX_SAFETENSORS_KEYS = 100_000
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
# What the first bytes of a file say about it. Enough bytes for a tar header's magic at 257.
_SNIFF_BYTES = 512
_ZIP_MAGIC = b"PK\x03\x04"
# torch.save's legacy format is a pickle stream (protocol 2 unless asked otherwise), and every
# pickle of protocol 2 or later starts with PROTO (0x80) and the protocol number.
_PICKLE_PROTOCOLS = frozenset(range(2, 6))
_IMAGES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"7z\xbc\xaf\x27\x1c": "7-Zip",
    b"Rar!\x1a\x07": "RAR",
}
# Text files may hold tabs, line and page breaks, but no other control characters.
_TEXT_CONTROLS = frozenset("\t\n\r\f")
# Hashing and finiteness checks go through files and tensors this much at a time, so that
# validating a checkpoint costs the web process about this much memory, whatever its size.
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class CheckpointLimits:
    """Bounds checked while reading: file size before reading, parameters before building."""

    max_bytes: int = 1 << 30
    max_params: int = 200_000_000
    onnx: OnnxLimits = field(default_factory=OnnxLimits)


@dataclass(frozen=True)
class RawCheckpoint:
    """A checkpoint's tensors (a program's state dict for `.pt2`) and, for `.pt2`, the program;
    for an ONNX model, its checked graph (and no tensors: the graph holds its weights).

    Read without weights, the tensors of a state dict are on the meta device: their names,
    shapes and dtypes are what validation needs.
    """

    format: CheckpointFormat
    size_bytes: int
    sha256: str
    tensors: dict[str, torch.Tensor]
    param_count: int
    program: ExportedProgram | None = None
    graph: OnnxGraph | None = None


def checkpoint_format(path: Path) -> CheckpointFormat:
    """The format of a checkpoint file, told by its first bytes, whatever its name.

    Unpickles nothing. A file of no known format is refused (`unsupported_format`) with what it
    looks like, a zip archive whose records cannot be listed as damaged (`corrupt_file`).
    """
    with path.open("rb") as file:
        return _sniff(file, path.suffix)


def read_checkpoint(path: Path, limits: CheckpointLimits, *, weights: bool = True) -> RawCheckpoint:
    """Read, check and deserialise a checkpoint file without executing anything in it.

    Every check runs either way (format, size, parameters, finiteness); `weights=False` returns
    the tensors of a safetensors file or a state dict on the meta device, and never holds a
    safetensors or zip-format file in memory to do it.
    """
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise ModelError(
            ErrorCode.FILE_TOO_LARGE, FILE_TOO_LARGE.format(size=size, limit=limits.max_bytes)
        )
    with path.open("rb") as file:
        found = _sniff(file, path.suffix)
        sha256 = _sha256(file)
    if found is CheckpointFormat.ONNX:
        graph = read_onnx(path, max_params=limits.max_params, limits=limits.onnx)
        return RawCheckpoint(found, size, sha256, {}, graph.param_count, graph=graph)
    try:
        tensors, constants, archive = _deserialise(path, found, limits, weights=weights)
        program = archive.load() if archive is not None else None
    except (ModelError, MemoryError):
        raise
    except Exception as error:  # a parser tripping over malformed content: still the file's fault
        if out_of_memory(error):
            raise MemoryError(str(error)) from error
        raise _corrupt(found, repr(error)) from error
    logger.debug("read %s checkpoint %s (%d tensors)", found, path.name, len(tensors))
    return RawCheckpoint(
        format=found,
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


def _deserialise(
    path: Path, found: CheckpointFormat, limits: CheckpointLimits, *, weights: bool
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], exported.ProgramArchive | None]:
    """Weights, constants and (for .pt2) the archive, under the parameter limit, all finite."""
    if found is CheckpointFormat.SAFETENSORS:
        header = _safetensors_header(path)
        _check_parameter_count(_parameter_count(header.shapes), limits.max_params)
        return _read_safetensors(path, header, weights=weights), {}, None
    if found is CheckpointFormat.TORCH:
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


def _sniff(file: BinaryIO, suffix: str) -> CheckpointFormat:
    """The format an open file's first bytes show; `suffix`, the name's extension, only tells
    which zip format a damaged archive was meant to be."""
    file.seek(0)
    head = file.read(_SNIFF_BYTES)
    if head.startswith(_ZIP_MAGIC):
        return _archive_format(file, suffix)
    if _is_safetensors(head):
        return CheckpointFormat.SAFETENSORS
    if _is_onnx(head):
        return CheckpointFormat.ONNX
    if len(head) > 1 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return CheckpointFormat.TORCH
    raise ModelError(
        ErrorCode.UNSUPPORTED_FORMAT,
        UNRECOGNISED_CONTENT.format(found=_looks_like(head)),
        detail=f"first bytes: {head[:16].hex(' ')}",
    )


def _is_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then the header's JSON object.

    The length's two high bytes are zero in any real file (and never in text); the header
    reader checks the length against the file and the cap, so a truncated file or an absurd
    claim is a damaged safetensors file, not an unknown one.
    """
    return head[8:9] == b"{" and head[6:8] == b"\0\0" and int.from_bytes(head[:8], "little") >= 2


def _archive_format(file: BinaryIO, suffix: str) -> CheckpointFormat:
    """A torch.save zip or a torch.export archive, told apart by its record names alone."""
    try:
        infos = structure.open_zip(file).infolist()
    except (ModelError, MemoryError):
        raise
    except Exception:  # zipfile trips over a hostile directory in more ways than BadZipFile
        infos = []
    # A truncated archive can still show the directory of a zip stored inside it (a .pt2
    # holds a torch.save file); an archive that does not start at byte 0 is not the file's.
    if not infos or min(info.header_offset for info in infos) != 0:
        # Only the name can still say which of the two zip formats it was meant to be.
        meant = CheckpointFormat.EXPORTED if suffix.lower() == ".pt2" else CheckpointFormat.TORCH
        raise _corrupt(meant, "the zip directory cannot be read")
    names = [info.filename for info in infos]
    if any(name.endswith("/archive_format") for name in names):
        return CheckpointFormat.EXPORTED
    if any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
        return CheckpointFormat.TORCH
    raise ModelError(
        ErrorCode.UNSUPPORTED_FORMAT,
        UNRECOGNISED_CONTENT.format(found=FOUND_ZIP),
        detail=f"records: {names[:5]}",
    )


def _looks_like(head: bytes) -> str:
    """What a file that is no checkpoint looks like, in words a participant recognises."""
    if not head:
        return FOUND_EMPTY
    for magic, kind in _IMAGES.items():
        if head.startswith(magic):
            return FOUND_IMAGE.format(kind=kind)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return FOUND_IMAGE.format(kind="WebP")
    for magic, kind in _COMPRESSED.items():
        if head.startswith(magic):
            return FOUND_COMPRESSED.format(kind=kind)
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        return FOUND_COMPRESSED.format(kind="bzip2")
    if head[257:262] == b"ustar":
        return FOUND_COMPRESSED.format(kind="tar")
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return FOUND_HDF5
    if head.startswith(b"\x93NUMPY"):
        return FOUND_NUMPY
    text = _as_text(head)
    if text is None:
        return FOUND_BINARY
    start = text.lstrip().lower()
    if start.startswith("version https://git-lfs"):
        return FOUND_LFS_POINTER
    if start.startswith(("<!doctype html", "<html")):
        return FOUND_WEB_PAGE
    return FOUND_TEXT


def _is_onnx(head: bytes) -> bool:
    """An ONNX ModelProto as exporters write it: ir_version (field 1, a small varint) first,
    then another of its fields (2 to 8, by their protobuf tags)."""
    return (
        len(head) >= 3
        and head[0] == 0x08
        and 1 <= head[1] <= 15
        and head[2] in {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42}
    )


def _as_text(head: bytes) -> str | None:
    """The first bytes as text, or None when they are not UTF-8 without control characters."""
    try:
        # Not final: a character cut in two by the end of the window is held back, not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return None
    if all(char.isprintable() or char in _TEXT_CONTROLS for char in text):
        return text
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
    name = _FORMAT_NAMES[checkpoint_format]
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

    Only the header is read, and decoded only once its size, nesting and key count are known
    to be small; the library's own header checks (every byte of the payload covered exactly
    once) run on it too, through `safe_open`, which maps the file lazily.
    """
    size = path.stat().st_size
    with path.open("rb") as file:
        header_length = int.from_bytes(file.read(8), "little")
        if header_length > size - 8:
            raise _corrupt(CheckpointFormat.SAFETENSORS, f"header length {header_length}")
        if header_length > MAX_SAFETENSORS_HEADER_BYTES:
            limit = f"{MAX_SAFETENSORS_HEADER_BYTES:,} bytes"
            raise structure.too_complex("safetensors header", f"{header_length:,} bytes", limit)
        raw_header = file.read(header_length)
    try:
        header = structure.bounded_json(
            raw_header,
            part="safetensors header",
            max_bytes=MAX_SAFETENSORS_HEADER_BYTES,
            max_keys=MAX_SAFETENSORS_KEYS,
        )
    except ValueError as error:  # not JSON, or not UTF-8
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
        zip_format = file.read(4) == _ZIP_MAGIC
    try:
        with _named_for_torch(path) as loadable:
            loaded = torch.load(loadable, map_location="cpu", weights_only=True, mmap=zip_format)
    except pickle.UnpicklingError as error:
        # weights_only refuses every global outside PyTorch's allowlist: a pickled nn.Module,
        # a custom class, or a hostile reduce.
        raise ModelError(
            ErrorCode.UNSUPPORTED_FORMAT, PICKLED_OBJECTS, detail=str(error)
        ) from error
    except Exception as error:  # zip, storage and pickle framing errors of a damaged file
        if out_of_memory(error):
            raise MemoryError(str(error)) from error
        raise _corrupt(CheckpointFormat.TORCH, repr(error)) from error
    return _unnest(loaded), zip_format


@contextmanager
def _named_for_torch(path: Path) -> Iterator[Path]:
    """The path, or a link to it where its name would send torch.load the wrong way.

    torch.load hands any path ending in '.safetensors' to the safetensors library, whatever the
    file holds; this file's bytes are torch.save's. A link keeps the memory-mapped reading.
    """
    if not str(path).endswith(".safetensors"):
        yield path
        return
    with tempfile.TemporaryDirectory() as folder:
        link = Path(folder) / "checkpoint.pt"
        link.symlink_to(path.resolve())
        yield link


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
