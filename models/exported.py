"""Reading torch.export programs (.pt2) without unpickling or evaluating anything they carry.

`torch.export.load` is unsafe on untrusted files: it unpickles pickled weights, sample inputs
and custom objects (`weights_only=False`), builds guard functions from Python source stored in
the archive, evaluates symbolic shapes with `sympy.sympify` (which calls `eval`), resolves node
targets by walking attributes of `torch`, and generates Python source from names in the archive.
So this module reads the archive itself and accepts only what a plain program needs:

- the zip holds only the records `torch.export.save` writes for one program, uncompressed and
  with valid checksums, and never a pickled record (sample inputs are never read);
- weights and constants are raw tensors, rebuilt here from bytes, dtype, sizes and strides;
- the program's JSON is at most MAX_PROGRAM_BYTES and nests at most `structure.MAX_JSON_DEPTH`
  deep (checked on its bytes before it is decoded), and has at most MAX_NODES nodes;
- every name in the program is a plain dotted identifier, every symbolic-shape expression is
  integer arithmetic on sizes as `models.shape_expressions` parses it (no powers: SymPy would
  evaluate them), every string argument is plain text; guard code (Python source restating the
  trace's shape assumptions) and node metadata (stack traces, module paths) are dropped;
- every node calls a core ATen operator (a few that touch files or memory pinning excepted) or
  integer arithmetic on sizes; higher-order operators, custom operators and objects are refused.

Only then does PyTorch's deserialiser build the `ExportedProgram`, one program at a time (it
keeps its state in a module global), and the resulting graph is checked again.
"""

from __future__ import annotations

import json
import math
import operator
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch._export.serde.serialize import (
    SerializedArtifact,
    deserialize,
    deserialize_scalar_type,
)
from torch.export import ExportedProgram
from torch.export.pt2_archive.constants import ARCHIVE_VERSION_VALUE

from models import structure
from models.errors import CORRUPT_FILE, UNSAFE_PROGRAM, ErrorCode, ModelError, out_of_memory
from models.shape_expressions import parse_shape_expression

_CORRUPT_NAME = "torch.export program"
_RECORD = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/sample_inputs/model\.pt"
    r"|data/weights/model_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/model_constants_config\.json|data/constants/tensor_\d+)"
)
_ROOT = re.compile(r"[A-Za-z0-9_.\-]+")
_NAME = re.compile(r"[A-Za-z0-9_.]*")
_STRING_ARGUMENT = re.compile(r"[A-Za-z0-9_.,:\-> ]*")
_VERSION = re.compile(r"[A-Za-z0-9_.+\-]*")
# Fields whose strings are not names: ATen string arguments (padding and rounding modes, ...)
# and the exporting torch's version; every other string must be a plain dotted name.
_STRING_PATTERNS = {
    "as_string": _STRING_ARGUMENT,
    "as_strings": _STRING_ARGUMENT,
    "torch_version": _VERSION,
}
_ATEN_TARGET = re.compile(r"torch\.ops\.aten\.(\w+)\.(\w+)")
_DENIED_ATEN = frozenset({"from_file", "_print", "set_", "pin_memory", "_pin_memory"})


def _words(text: str) -> list[str]:
    return text.split()


_SIZE_ARITHMETIC = {
    "_operator.getitem": operator.getitem,
    "math.trunc": math.trunc,
    **{
        f"_operator.{name}": getattr(operator, name)
        for name in _words(
            "add sub mul floordiv truediv mod neg pos pow eq ne lt le gt ge and_ or_"
        )
    },
    **{
        f"torch.{name}": getattr(torch, name)
        for name in _words("sym_max sym_min sym_not sym_float sym_int sym_ite sym_sqrt")
    },
}
_INPUT_KINDS = frozenset({"user_input", "parameter", "buffer", "tensor_constant"})
_OUTPUT_KINDS = frozenset({"user_output"})
_REFUSED_ARGUMENTS = {
    "as_graph": "higher-order operators",
    "as_custom_obj": "custom objects",
    "as_operator": "operators passed as arguments",
}
# The zoo's exported generators have 31 to 113 nodes and 100 to 260 kB of JSON.
MAX_NODES = 10_000
MAX_PROGRAM_BYTES = 32 << 20
_TREESPEC_TYPES = frozenset({None, "builtins.tuple", "builtins.list", "builtins.dict"})


# torch's deserialiser keeps the program it is building in a module global.
_DESERIALISING = threading.Lock()


@dataclass(frozen=True)
class ProgramArchive:
    """A checked .pt2 archive: its weights and constants rebuilt, its program not yet built."""

    weights: dict[str, torch.Tensor]
    constants: dict[str, torch.Tensor]
    program_json: bytes

    def load(self) -> ExportedProgram:
        """Build the program from the checked JSON and check its graph again."""
        # The fields are declared as bytes (torch.save output) but the deserialiser takes
        # ready tensor dicts as they are, which is how pickled payloads are kept out.
        artifact = SerializedArtifact(
            exported_program=self.program_json,
            state_dict=self.weights,  # type: ignore[arg-type]
            constants=self.constants,  # type: ignore[arg-type]
            example_inputs=b"",
        )
        try:
            with _DESERIALISING:
                program = deserialize(artifact)
        except Exception as error:  # the deserialiser raises many types on inconsistent input
            if out_of_memory(error):
                raise MemoryError(str(error)) from error
            raise _corrupt(repr(error)) from error
        _check_graph(program)
        return program


def open_archive(path: Path) -> ProgramArchive:
    """Check a .pt2 archive and rebuild its tensors, without building the program.

    The records are read into memory (the program needs its weights to be built), and each
    tensor record's bytes are let go as soon as its tensor holds them.
    """
    records = _records(path)
    if records.get("archive_format") != b"pt2" or records.get("byteorder") != b"little":
        raise _corrupt("not a little-endian pt2 archive")
    if records.get("archive_version") != ARCHIVE_VERSION_VALUE.encode():
        raise _corrupt(f"archive version {records.get('archive_version')!r}")
    if "models/model.json" not in records:
        raise _corrupt("no program")
    weights = _payloads(records, "data/weights/", "model_weights_config.json", "weight_")
    constants = _payloads(records, "data/constants/", "model_constants_config.json", "tensor_")
    return ProgramArchive(weights, constants, _checked_program(records["models/model.json"]))


def user_inputs(program: ExportedProgram) -> list[torch.fx.Node]:
    names = set(program.graph_signature.user_inputs)
    return [node for node in program.graph.nodes if node.op == "placeholder" and node.name in names]


def _corrupt(detail: str) -> ModelError:
    return ModelError(
        ErrorCode.CORRUPT_FILE, CORRUPT_FILE.format(format=_CORRUPT_NAME), detail=detail
    )


def _unsafe(what: str, detail: str = "") -> ModelError:
    return ModelError(ErrorCode.UNSAFE_PROGRAM, UNSAFE_PROGRAM.format(what=what), detail=detail)


def _records(path: Path) -> dict[str, bytes]:
    """The archive's records by path below its root folder, checksums verified."""
    size = path.stat().st_size
    try:
        with path.open("rb") as file, structure.open_zip(file) as archive:
            infos = archive.infolist()
            if not infos or min(info.header_offset for info in infos) != 0:
                raise _corrupt("the archive does not start at the beginning of the file")
            roots = {info.filename.split("/", 1)[0] for info in infos}
            if len(roots) != 1 or not _ROOT.fullmatch(next(iter(roots))):
                raise _corrupt(f"archive roots {sorted(roots)[:3]}")
            records: dict[str, bytes] = {}
            for info in infos:
                name = info.filename.split("/", 1)[1] if "/" in info.filename else ""
                if not _RECORD.fullmatch(name):
                    raise _unsafe(f"the unexpected archive record '{name[:80]}'")
                if name in records or info.compress_type != zipfile.ZIP_STORED:
                    raise _corrupt(f"duplicate or compressed record {name}")
                if info.file_size > size:
                    raise _corrupt(f"record {name} larger than the archive")
                if name != "data/sample_inputs/model.pt":
                    records[name] = archive.read(info)
        return records
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as error:
        raise _corrupt(repr(error)) from error


def _payloads(
    records: dict[str, bytes], folder: str, config_name: str, prefix: str
) -> dict[str, torch.Tensor]:
    """Tensors listed in a payload config, rebuilt from their raw records."""
    try:
        document = structure.bounded_json(
            records[folder + config_name], part=config_name, max_bytes=MAX_PROGRAM_BYTES
        )
        config = document["config"]
    except (KeyError, TypeError, ValueError) as error:
        raise _corrupt(f"{config_name}: {error!r}") from error
    if not isinstance(config, dict):
        raise _corrupt(f"{config_name} is not an object")
    flat: dict[str, torch.Tensor] = {}
    tensors: dict[str, torch.Tensor] = {}
    for name, entry in config.items():
        if not isinstance(entry, dict) or not _NAME.fullmatch(name):
            raise _unsafe("tensor names that are not plain identifiers", name[:80])
        if entry.get("use_pickle", True):
            raise _unsafe("pickled tensors", name)
        path = entry.get("path_name")
        if not isinstance(path, str) or not re.fullmatch(rf"{prefix}\d+", path):
            raise _unsafe("objects other than tensors", f"{name}: {path!r}")
        try:
            tensors[name] = _payload_tensor(records, folder + path, entry, flat)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            if out_of_memory(error):
                raise MemoryError(str(error)) from error
            raise _corrupt(f"tensor {name}: {error!r}") from error
    return tensors


def _payload_tensor(
    records: dict[str, bytes], record: str, entry: dict[str, Any], flat: dict[str, torch.Tensor]
) -> torch.Tensor:
    meta = entry["tensor_meta"]
    dtype = deserialize_scalar_type(meta["dtype"])
    if record not in flat:
        raw = records.pop(record)  # its bytes go once the tensor holds a copy
        flat[record] = (
            torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        )
    storage = flat[record]
    if storage.dtype != dtype:
        raise ValueError(f"record {record} read as both {storage.dtype} and {dtype}")
    tensor = torch.as_strided(
        storage,
        [_static_int(size) for size in meta["sizes"]],
        [_static_int(stride) for stride in meta["strides"]],
        _static_int(meta["storage_offset"]),
    )
    if entry.get("is_param"):
        return nn.Parameter(tensor, requires_grad=bool(meta.get("requires_grad")))
    return tensor


def _static_int(value: object) -> int:
    if not isinstance(value, dict) or not isinstance(value.get("as_int"), int):
        raise ValueError(f"expected a static integer, got {value!r}")
    number = value["as_int"]
    if number < 0:
        raise ValueError(f"negative size, stride or offset {number}")
    return number


def _checked_program(raw: bytes) -> bytes:
    """The program's JSON with metadata dropped, after checking every part that gets run."""
    part = "exported program (models/model.json)"
    try:
        document = structure.bounded_json(raw, part=part, max_bytes=MAX_PROGRAM_BYTES)
        graph_module = document["graph_module"]
        graph = graph_module["graph"]
        nodes = graph["nodes"]
        if not isinstance(nodes, list):
            raise _corrupt("node list missing")
        if len(nodes) > MAX_NODES:
            raise structure.too_complex(part, f"{len(nodes):,} nodes", f"{MAX_NODES:,} nodes")
        if graph.get("custom_obj_values") or graph_module.get("treespec_namedtuple_fields"):
            raise _unsafe("custom objects")
        # Guards are Python source that torch would compile into a function. They only restate
        # shape assumptions of the trace, and the runner checks every output's shape anyway.
        document["guards_code"] = []
        graph_module["metadata"] = {}
        for node in nodes:
            node["metadata"] = {}
            _check_target(node.get("target"))
        _check_signature(graph_module["signature"])
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as error:
        # Malformed JSON or a document of the wrong shape (ModelError is none of these).
        raise _corrupt(f"program: {error!r}") from error
    _check_strings(document, key="")
    return json.dumps(document).encode()


def _check_target(target: object) -> None:
    if isinstance(target, str) and target in _SIZE_ARITHMETIC:
        return
    match = _ATEN_TARGET.fullmatch(target) if isinstance(target, str) else None
    if match is None or match[1] in _DENIED_ATEN:
        raise _unsafe(f"the operator '{str(target)[:80]}'")
    packet = getattr(torch.ops.aten, match[1], None)
    if not isinstance(getattr(packet, match[2], None), torch._ops.OpOverload):
        raise _unsafe(f"the operator '{target}'")


def _check_signature(signature: dict[str, Any]) -> None:
    for specs, allowed in (
        (signature.get("input_specs"), _INPUT_KINDS),
        (signature.get("output_specs"), _OUTPUT_KINDS),
    ):
        if not isinstance(specs, list):
            raise _corrupt("signature without input or output specs")
        for spec in specs:
            kind = next(iter(spec), None) if isinstance(spec, dict) else None
            if kind not in allowed:
                raise _unsafe(f"'{str(kind)[:40]}' inputs or outputs")


def _check_strings(value: object, key: str) -> None:
    """Every string of the program, by the field it sits in."""
    if isinstance(value, dict):
        for child_key, child in value.items():
            if child_key in _REFUSED_ARGUMENTS:
                raise _unsafe(_REFUSED_ARGUMENTS[child_key])
            if not isinstance(child_key, str) or not _NAME.fullmatch(child_key):
                raise _unsafe("names that are not plain identifiers", str(child_key)[:80])
            _check_strings(child, child_key)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, key)
    elif isinstance(value, str):
        _check_string(value, key)


def _check_string(value: str, key: str) -> None:
    if key == "expr_str":
        parse_shape_expression(value)
    elif key in ("in_spec", "out_spec"):
        _check_treespec(value)
    elif not _STRING_PATTERNS.get(key, _NAME).fullmatch(value):
        raise _unsafe("names that are not plain identifiers", f"{key}: {value[:80]!r}")


def _check_treespec(text: str) -> None:
    try:
        version, root = structure.bounded_json(text, part="treespec", max_bytes=MAX_PROGRAM_BYTES)
    except (ValueError, TypeError) as error:
        raise _corrupt(f"treespec {text[:80]!r}") from error
    if not isinstance(version, int) or not all(_treespec_node_ok(n) for n in _walk(root)):
        raise _unsafe("inputs or outputs that are not tensors, tuples, lists or dicts")


def _walk(node: object) -> Iterator[object]:
    yield node
    if isinstance(node, dict) and isinstance(node.get("children_spec"), list):
        for child in node["children_spec"]:
            yield from _walk(child)


def _treespec_node_ok(node: object) -> bool:
    if not isinstance(node, dict) or node.get("type") not in _TREESPEC_TYPES:
        return False
    context = node.get("context")
    if context is None or context == "null":
        return True
    try:
        keys = (
            structure.bounded_json(context, part="treespec", max_bytes=MAX_PROGRAM_BYTES)
            if isinstance(context, str)
            else None
        )
    except ValueError:
        return False
    return isinstance(keys, list) and all(
        isinstance(key, str) and _NAME.fullmatch(key) for key in keys
    )


def _check_graph(program: ExportedProgram) -> None:
    """The built graph calls nothing but what `_check_target` let through."""
    allowed = set(_SIZE_ARITHMETIC.values())
    for node in program.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        target = node.target
        if node.op != "call_function" or not (
            target in allowed
            or (
                isinstance(target, torch._ops.OpOverload)
                and target.namespace == "aten"
                and target.__name__.split(".")[0] not in _DENIED_ATEN
            )
        ):
            raise _unsafe(f"the {node.op} node '{node.name}'")
    if any(True for _ in program.graph_module.children()):
        raise _unsafe("submodules")
