"""Reading checkpoint files safely: formats, size and parameter limits, finiteness.

Three formats, told apart by the file name's extension and checked against the content:
`.safetensors`; `.pt`/`.pth` state dicts, read only by `torch.load(weights_only=True)`, also
when nested under a `state_dict` or `model` key; `.pt2` torch.export programs, read by
`models.exported` without unpickling anything. Nothing else is ever deserialised. The size limit
holds before a byte is read, the parameter limit before any network is built.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import pickle
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

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
_SAFETENSORS_ITEM_SIZES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


@dataclass(frozen=True)
class CheckpointLimits:
    """Bounds checked while reading: file size before reading, parameters before building."""

    max_bytes: int = 1 << 30
    max_params: int = 200_000_000


@dataclass(frozen=True)
class RawCheckpoint:
    """A checkpoint's tensors (a program's state dict for `.pt2`) and, for `.pt2`, the program."""

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
        raise ModelError(
            ErrorCode.UNSUPPORTED_FORMAT, UNSUPPORTED_EXTENSION.format(suffix=path.suffix)
        )
    return EXTENSIONS[suffix]


def read_checkpoint(path: Path, limits: CheckpointLimits) -> RawCheckpoint:
    """Read, check and deserialise a checkpoint file without executing anything in it."""
    claimed = checkpoint_format(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise ModelError(
            ErrorCode.FILE_TOO_LARGE, FILE_TOO_LARGE.format(size=size, limit=limits.max_bytes)
        )
    data = path.read_bytes()
    _check_content(data, claimed, path.suffix)
    try:
        tensors, constants, archive = _deserialise(data, claimed, limits)
        _check_finite(tensors)
        _check_finite(constants)
        program = archive.load() if archive is not None else None
    except (ModelError, MemoryError):
        raise
    except Exception as error:  # a parser tripping over malformed content: still the file's fault
        raise _corrupt(claimed, repr(error)) from error
    logger.debug("read %s checkpoint %s (%d tensors)", claimed, path.name, len(tensors))
    return RawCheckpoint(
        format=claimed,
        size_bytes=size,
        sha256=hashlib.sha256(data).hexdigest(),
        tensors=tensors,
        param_count=_count(tensors) + _count(constants),
        program=program,
    )


def _check_content(data: bytes, claimed: CheckpointFormat, suffix: str) -> None:
    actual = sniff_format(data)
    if actual is None:
        raise _corrupt(claimed)
    if actual != claimed:
        actual_name, expected_suffix = _FORMAT_NAMES[actual]
        message = WRONG_EXTENSION.format(
            actual=actual_name, suffix=suffix, expected=expected_suffix
        )
        raise ModelError(ErrorCode.UNSUPPORTED_FORMAT, message)


def _deserialise(
    data: bytes, claimed: CheckpointFormat, limits: CheckpointLimits
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], exported.ProgramArchive | None]:
    """Weights, constants and (for .pt2) the archive, under the parameter limit."""
    if claimed is CheckpointFormat.SAFETENSORS:
        _check_parameter_count(_parameter_count(_safetensors_shapes(data)), limits.max_params)
        return _read_safetensors(data), {}, None
    if claimed is CheckpointFormat.TORCH:
        tensors = _read_torch(data)
        _check_parameter_count(_count(tensors), limits.max_params)
        return tensors, {}, None
    archive = exported.open_archive(data)
    count = _count(archive.weights) + _count(archive.constants)
    _check_parameter_count(count, limits.max_params)
    return archive.weights, archive.constants, archive


def sniff_format(data: bytes) -> CheckpointFormat | None:
    """The format the bytes look like, or None when they look like none of them."""
    if data.startswith(b"PK\x03\x04"):
        try:
            infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
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
    header_length = int.from_bytes(data[:8], "little")
    if len(data) > 8 and data[8:9] == b"{" and header_length <= len(data) - 8:
        return CheckpointFormat.SAFETENSORS
    if data[:1] == b"\x80":
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


def _check_finite(tensors: dict[str, torch.Tensor]) -> None:
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelError(ErrorCode.NON_FINITE_WEIGHTS, NON_FINITE_WEIGHTS.format(key=key))


def _corrupt(checkpoint_format: CheckpointFormat, detail: str = "") -> ModelError:
    name, _ = _FORMAT_NAMES[checkpoint_format]
    return ModelError(ErrorCode.CORRUPT_FILE, CORRUPT_FILE.format(format=name), detail=detail)


def _read_safetensors(data: bytes) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load(data)
    except Exception as error:  # the library raises its own SafetensorError and others
        raise _corrupt(CheckpointFormat.SAFETENSORS, repr(error)) from error


def _safetensors_shapes(data: bytes) -> dict[str, tuple[int, ...]]:
    """Check a safetensors header against the file before anything is allocated."""
    header_length = int.from_bytes(data[:8], "little")
    if header_length > min(len(data) - 8, _MAX_SAFETENSORS_HEADER):
        raise _corrupt(CheckpointFormat.SAFETENSORS, f"header length {header_length}")
    try:
        header = json.loads(data[8 : 8 + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(CheckpointFormat.SAFETENSORS, repr(error)) from error
    if not isinstance(header, dict):
        raise _corrupt(CheckpointFormat.SAFETENSORS, "header is not an object")
    payload = len(data) - 8 - header_length
    shapes: dict[str, tuple[int, ...]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = _safetensors_entry_shape(entry, payload)
        if shape is None:
            raise _corrupt(CheckpointFormat.SAFETENSORS, f"bad header entry for {name!r}")
        shapes[name] = shape
    return shapes


def _safetensors_entry_shape(entry: object, payload: int) -> tuple[int, ...] | None:
    if not isinstance(entry, dict):
        return None
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _SAFETENSORS_ITEM_SIZES:
        return None
    if not isinstance(shape, list) or not isinstance(offsets, list):
        return None
    if not all(isinstance(size, int) and size >= 0 for size in shape):
        return None
    if len(offsets) != 2 or not all(isinstance(offset, int) for offset in offsets):
        return None
    begin, end = offsets
    item_size = _SAFETENSORS_ITEM_SIZES[dtype]
    if not 0 <= begin <= end <= payload or end - begin != math.prod(shape) * item_size:
        return None
    return tuple(shape)


def _read_torch(data: bytes) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses every global outside PyTorch's allowlist: a pickled nn.Module,
        # a custom class, or a hostile reduce.
        raise ModelError(
            ErrorCode.UNSUPPORTED_FORMAT, PICKLED_OBJECTS, detail=str(error)
        ) from error
    except Exception as error:  # zip, storage and pickle framing errors of a damaged file
        raise _corrupt(CheckpointFormat.TORCH, repr(error)) from error
    return _unnest(loaded)


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
