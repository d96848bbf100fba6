"""Structural limits: a file whose header, program or archive would be costly to decode is
refused from its raw bytes, fast, before any parser decodes it."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models import errors, exported, structure
from models.checkpoints import MAX_SAFETENSORS_HEADER_BYTES, MAX_SAFETENSORS_KEYS
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointSpec, validate_checkpoint
from tests.models.checkpoint_files import random_network, save_torch
from tests.models.test_hostile import edit_program, rewrite_archive

FAST_S = 2.0


def refused_fast(path: Path, architecture: str = "transformer_net") -> ModelError:
    started = time.perf_counter()
    with pytest.raises(ModelError) as caught:
        validate_checkpoint(CheckpointSpec(path, architecture))
    assert time.perf_counter() - started < FAST_S
    assert caught.value.code == ErrorCode.TOO_COMPLEX, caught.value.message
    return caught.value


@pytest.fixture
def decoding_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any JSON decoding fails the test: the refusal must come before it."""

    def loads(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("JSON was decoded")

    monkeypatch.setattr(json, "loads", loads)


def safetensors_file(path: Path, header: bytes, payload: bytes = b"") -> Path:
    path.write_bytes(len(header).to_bytes(8, "little") + header + payload)
    return path


def test_a_header_of_millions_of_keys_is_refused_before_it_is_decoded(
    tmp_path: Path, decoding_forbidden: None
) -> None:
    keys = 2 * MAX_SAFETENSORS_KEYS
    metadata = ",".join(f'"k{index}":"v"' for index in range(keys))
    header = f'{{"__metadata__":{{{metadata}}}}}'.encode()
    assert len(header) < MAX_SAFETENSORS_HEADER_BYTES
    path = safetensors_file(tmp_path / "keys.safetensors", header)

    error = refused_fast(path)

    assert error.message == errors.TOO_COMPLEX.format(
        part="safetensors header",
        found=f"{keys + 1:,} keys",
        limit=f"{MAX_SAFETENSORS_KEYS:,} keys",
    )


def test_a_header_over_the_byte_limit_is_refused_unread(
    tmp_path: Path, decoding_forbidden: None
) -> None:
    header = b'{"__metadata__":{"padding":"' + b"x" * MAX_SAFETENSORS_HEADER_BYTES + b'"}}'
    path = safetensors_file(tmp_path / "long.safetensors", header)

    error = refused_fast(path)

    assert f"{len(header):,} bytes" in error.message


def test_a_deeply_nested_header_is_refused_before_it_is_decoded(
    tmp_path: Path, decoding_forbidden: None
) -> None:
    depth = 100_000
    header = b'{"w":' + b"[" * depth + b"]" * depth + b"}"
    path = safetensors_file(tmp_path / "deep.safetensors", header)

    error = refused_fast(path)

    assert f"nested {depth + 1:,} deep" in error.message


def rewrite_nodes(edit: Callable[[list[dict]], list[dict]]) -> Callable[[dict], None]:
    def apply(program: dict) -> None:
        graph = program["graph_module"]["graph"]
        graph["nodes"] = edit(graph["nodes"])

    return apply


def test_a_program_of_too_many_nodes_is_refused_fast(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    count = exported.MAX_NODES + 1
    path = rewrite_archive(
        program_file("transformer_net"),
        tmp_path / "nodes.pt2",
        edit_program(rewrite_nodes(lambda nodes: (nodes * count)[:count])),
    )

    error = refused_fast(path)

    assert error.message == errors.TOO_COMPLEX.format(
        part="exported program (models/model.json)",
        found=f"{count:,} nodes",
        limit=f"{exported.MAX_NODES:,} nodes",
    )


def test_a_program_over_the_byte_limit_is_refused(
    program_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exported, "MAX_PROGRAM_BYTES", 50_000)

    error = refused_fast(program_file("transformer_net"))

    assert error.message.startswith(
        "The checkpoint's exported program (models/model.json) is too large to check"
    )
    assert "bytes; the limit is 50,000 bytes" in error.message


def test_a_deeply_nested_program_is_refused_before_it_is_decoded(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    depth = 50_000

    def nest(records: dict[str, bytes]) -> None:
        program = records["models/model.json"].rstrip()
        nested = b"[" * depth + b"]" * depth
        records["models/model.json"] = program[:-1] + b', "x": ' + nested + b"}"

    path = rewrite_archive(program_file("transformer_net"), tmp_path / "deep.pt2", nest)

    error = refused_fast(path)

    assert f"nested {depth + 1:,} deep" in error.message


def test_a_deeply_nested_treespec_is_refused(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    depth = 10_000

    def nest(program: dict) -> None:
        signature = program["graph_module"]["module_call_graph"][0]["signature"]
        signature["in_spec"] = "[1, " + "[" * depth + "]" * depth + "]"

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "treespec.pt2", edit_program(nest)
    )

    refused_fast(path)


def test_a_zip_of_too_many_records_is_refused_before_its_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "records.pt"
    count = structure.MAX_ZIP_RECORDS + 1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        for index in range(count - 1):
            archive.writestr(f"archive/data/{index}", b"")

    def forbid(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the zip directory was read")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", forbid)

    error = refused_fast(path)

    assert error.message == errors.TOO_COMPLEX.format(
        part="zip archive",
        found=f"{count:,} records",
        limit=f"{structure.MAX_ZIP_RECORDS:,} records",
    )


def test_a_zip_directory_claiming_gigabytes_is_refused(tmp_path: Path) -> None:
    state_dict = random_network("transformer_net", {"width": 4}).state_dict()
    data = bytearray(save_torch(state_dict, tmp_path / "weights.pth").read_bytes())
    # torch.save writes zip64 end records, which say the directory's size in bytes 40 to 48.
    end = data.rfind(b"PK\x06\x06")
    data[end + 40 : end + 48] = (3 << 30).to_bytes(8, "little")
    path = tmp_path / "directory.pth"
    path.write_bytes(data)

    error = refused_fast(path)

    assert "zip directory" in error.message


def test_a_zip_bomb_record_is_refused(tmp_path: Path) -> None:
    source = save_torch(
        random_network("transformer_net", {"width": 4}).state_dict(), tmp_path / "weights.pth"
    )
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as bomb:
        for info in original.infolist():
            bomb.writestr(info.filename, original.read(info), zipfile.ZIP_STORED)
        bomb.writestr("archive/data/bomb", bytes(50 << 20), zipfile.ZIP_DEFLATED)

    error = refused_fast(path)

    assert "zip record 'archive/data/bomb'" in error.message


def test_real_checkpoints_are_well_within_the_limits(
    program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    state_dict = random_network("transformer_net", {"width": 4}).state_dict()
    for path in (program_file("unet_generator"), save_torch(state_dict, tmp_path / "w.pth")):
        with path.open("rb") as file:
            directory = structure.zip_directory(file)
        assert directory is not None
        assert directory.records < structure.MAX_ZIP_RECORDS // 100


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)),
        max_leaves=30,
    )


def depth_and_keys(value: Any) -> tuple[int, int]:
    stack: list[tuple[Any, int]] = [(value, 0)]
    deepest = keys = 0
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            keys += len(item) if isinstance(item, dict) else 0
            children: Iterator[Any] = iter(item.values() if isinstance(item, dict) else item)
            stack.extend((child, level + 1) for child in children)
    return deepest, keys


@settings(max_examples=300, deadline=None)
@given(value=json_values(), ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
def test_the_shape_read_from_bytes_is_the_decoded_documents(
    value: Any, ascii_only: bool, indent: int | None
) -> None:
    document = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    shape = structure.json_shape(document)
    assert (shape.depth, shape.keys) == depth_and_keys(value)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_the_shape_of_any_bytes_is_found_without_error(data: bytes) -> None:
    assert structure.json_shape(data).keys >= 0


def test_a_zip_without_an_end_record_has_no_directory() -> None:
    assert structure.zip_directory(io.BytesIO(b"PK\x03\x04" + bytes(100))) is None
    assert structure.zip_directory(io.BytesIO(b"")) is None


def test_a_float_tensor_of_nans_is_still_found_after_the_checks(tmp_path: Path) -> None:
    """The structural checks sit before, not instead of, the existing ones."""
    state_dict = random_network("transformer_net", {"width": 4}).state_dict()
    state_dict["conv1.conv2d.weight"] = torch.full_like(
        state_dict["conv1.conv2d.weight"], float("nan")
    )
    path = save_torch(state_dict, tmp_path / "nan.pth")
    with pytest.raises(ModelError) as caught:
        validate_checkpoint(CheckpointSpec(path, "transformer_net"))
    assert caught.value.code == ErrorCode.NON_FINITE_WEIGHTS


def test_json_in_another_encoding_than_utf8_is_refused() -> None:
    """UTF-16 hides escapes from the byte-level checks; json.loads alone would accept it."""
    document = json.dumps({"key": 'a \\" [[['}).encode("utf-16")
    assert json.loads(document) == {"key": 'a \\" [[['}
    with pytest.raises(UnicodeDecodeError):
        structure.bounded_json(document, part="header", max_bytes=1000)
