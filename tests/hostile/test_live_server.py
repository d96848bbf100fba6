"""A few dozen hostile requests of each class against a running web process.

Whatever arrives, the process answers below 500, within a few seconds, and gives its memory
back: parsers are total, uploads are validated in a sandboxed child, nothing renders on a GET.
"""

from __future__ import annotations

import io
import json
import struct
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.hostile.stack import SLUG, Stack, stack_start, stack_stop
from tests.models.checkpoint_files import (
    example_inputs,
    export_program,
    random_network,
    save_safetensors,
)
from tests.models.onnx_files import conv_weights, external, model
from tests.models.test_hostile import edit_program, rewrite_archive

pytestmark = pytest.mark.slow

ANSWER_WITHIN_S = 5.0
MEMORY_MARGIN_BYTES = 100 * 1024**2


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = None
    files: dict[str, tuple[str, bytes]] | None = None
    data: dict[str, str] | None = None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = stack_start(tmp_path_factory.mktemp("hostile-stack"))
    yield running
    stack_stop(running)


def nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_json_cases(stack: Stack) -> list[Hostile]:
    endpoints = [
        f"/api/v1/challenges/{SLUG}/join/",
        f"/api/v1/challenges/{SLUG}/forum/threads/",
        f"/api/v1/challenges/{SLUG}/forum/threads/{stack.thread}/posts/",
        f"/api/v1/submissions/{uuid.uuid4()}/final/",
        f"/api/v1/challenges/{SLUG}/submissions/",
    ]
    cases = [
        Hostile(f"{kind}-{depth}-{path}", "POST", path, nested(depth, kind), "application/json")
        for path in endpoints
        for depth in (1_000, 100_000)
        for kind in ("list", "object")
    ]
    # The upload's config field, as a form field of a multipart upload.
    cases += [
        Hostile(
            f"config-{depth}",
            "POST",
            f"/api/v1/challenges/{SLUG}/submissions/",
            files={"checkpoint": ("tiny.safetensors", b"\0" * 64)},
            data={"architecture": "transformer_net", "config": nested(depth, "list").decode()},
        )
        for depth in (1_000, 100_000)
    ]
    return cases


NUMBERS = ["²", "١٢", "9" * 5000, "9" * 20, "-1", "0", "1e9", "0x10", " 3", "%00", "\u0663"]


def number_cases(stack: Stack) -> list[Hostile]:
    pages = [
        f"/challenges/{SLUG}/leaderboard/?page=",
        f"/challenges/{SLUG}/forum/?page=",
        f"/challenges/{SLUG}/forum/{stack.thread}/?page=",
        f"/challenges/{SLUG}/forum/{stack.thread}/?quote=",
        f"/api/v1/challenges/{SLUG}/leaderboard/?page=",
    ]
    return [
        Hostile(f"number-{path}{value[:8]}", "GET", path + requests.utils.quote(value))
        for path in pages
        for value in NUMBERS
    ]


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def safetensors_header(header: bytes, *, declared: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if declared is None else declared) + header


def hostile_programs(folder: Path) -> dict[str, bytes]:
    """A .pt2 whose symbolic shape is a power tower, and one of 50,000 nodes."""
    program = export_program(
        random_network("transformer_net", {"width": 4}),
        example_inputs("transformer_net"),
        folder / "program.pt2",
    )

    def tower(document: dict) -> None:
        values = document["graph_module"]["graph"]["tensor_values"]
        size = next(
            size for value in values.values() for size in value["sizes"] if "as_expr" in size
        )
        size["as_expr"]["expr_str"] = "2**2**2**2**2**2**2"

    def crowd(document: dict) -> None:
        graph = document["graph_module"]["graph"]
        graph["nodes"] = (graph["nodes"] * 50_000)[:50_000]

    return {
        name: rewrite_archive(program, folder / name, edit_program(edit)).read_bytes()
        for name, edit in (("tower.pt2", tower), ("crowd.pt2", crowd))
    }


def _field(tag: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (tag byte, varint length, payload)."""
    length, size = b"", len(payload)
    while True:
        length += bytes([(size & 0x7F) | (0x80 if size > 0x7F else 0)])
        size >>= 7
        if not size:
            return bytes([tag]) + length + payload


def hostile_onnx() -> dict[str, bytes]:
    """ONNX models: If bodies nested 5,000 deep, 200,000 nodes (opset 17), weights in another
    file, random bytes after a model's first field."""
    graph = b""
    for _ in range(5_000):  # GraphProto.node → NodeProto.attribute → AttributeProto.g
        graph = _field(0x0A, _field(0x2A, _field(0x32, graph)))
    # ModelProto: ir_version 8, then the graph.
    deep = b"\x08\x08" + _field(0x3A, graph)
    nodes = b"".join(_field(0x0A, _field(0x22, b"Identity")) for _ in range(200_000))
    nodes += _field(0x62, _field(0x0A, b"stylised"))  # GraphProto.output
    weight, bias = conv_weights()
    outside = model(initializers=[external(weight, "../../../../etc/passwd"), bias])
    return {
        "deep.onnx": deep,
        "nodes.onnx": b"\x08\x08" + _field(0x3A, nodes) + _field(0x42, b"\x10\x11"),
        "external.onnx": outside.SerializeToString(),
        "random.onnx": b"\x08\x07\x12" + bytes(range(256)) * 64,
    }


def hostile_files(folder: Path) -> dict[str, bytes]:
    many_keys = {f"k{i}": "v" for i in range(4_000_000)}
    return {
        **hostile_programs(folder),
        **hostile_onnx(),
        "random.pt2": bytes(range(256)) * 64,
        "random.safetensors": bytes(range(256)) * 64,
        "random.model": bytes(range(256)) * 64,
        "random": b"\x80\x04" + bytes(range(256)) * 64,
        "many-keys.safetensors": safetensors_header(
            json.dumps({"__metadata__": many_keys}).encode()
        ),
        "huge-declared.safetensors": safetensors_header(b"{}", declared=2**62),
        "deep.safetensors": safetensors_header(nested(200_000, "list")),
        "entries.pt2": zip_bytes({f"archive/data/{i}": b"" for i in range(30_000)}),
        "bomb.pt": zip_bytes({"archive/data.pkl": b"\0" * (200 * 1024**2)}, zipfile.ZIP_DEFLATED),
        "deep.pt2": zip_bytes({"archive/models/model.json": nested(100_000, "object")}),
    }


def upload_cases(folder: Path) -> list[Hostile]:
    return [
        Hostile(
            f"upload-{name}",
            "POST",
            f"/api/v1/challenges/{SLUG}/submissions/",
            files={"checkpoint": (name, payload)},
            data={"architecture": architecture},
        )
        for name, payload in hostile_files(folder).items()
        for architecture in ("transformer_net", "exported", "onnx")
    ]


def markdown_cases(stack: Stack) -> list[Hostile]:
    bodies = [
        "> " * 4_000,
        "- " * 4_000,
        "[" * 9_000 + "](" * 500,
        "*a" * 4_900,
        "`" * 9_999,
        "<" * 9_999,
        "a\n\n" * 3_300,
        "![x](" * 1_900,
    ]
    path = f"/api/v1/challenges/{SLUG}/forum/threads/{stack.thread}/posts/"
    return [
        Hostile(
            f"markdown-{index}",
            "POST",
            path,
            json.dumps({"body": body}).encode(),
            "application/json",
        )
        for index, body in enumerate(bodies)
    ]


def send(stack: Stack, case: Hostile) -> tuple[int, float]:
    headers = {"Authorization": f"Token {stack.token}"}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    started = time.monotonic()
    response = requests.request(
        case.method,
        stack.base + case.path,
        data=case.body if case.body is not None else case.data,
        files=case.files,
        headers=headers,
        timeout=60,
        allow_redirects=False,
    )
    return response.status_code, time.monotonic() - started


def warm_up(stack: Stack, checkpoint: Path) -> None:
    """Everything a first request loads (templates, torch in the validator) before the baseline."""
    for path in (f"/challenges/{SLUG}/leaderboard/", f"/challenges/{SLUG}/forum/"):
        requests.get(stack.base + path, timeout=60).raise_for_status()
    response = requests.post(
        f"{stack.api}/challenges/{SLUG}/submissions/",
        files={"checkpoint": (checkpoint.name, checkpoint.read_bytes())},
        data={"architecture": "transformer_net"},
        headers={"Authorization": f"Token {stack.token}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text


def test_hostile_requests_never_fail_hang_or_keep_memory(stack: Stack, tmp_path: Path) -> None:
    checkpoint = save_safetensors(
        random_network("transformer_net", {"width": 4}).state_dict(), tmp_path / "tiny.safetensors"
    )
    warm_up(stack, checkpoint)
    baseline = stack.rss_bytes()
    cases = (
        deep_json_cases(stack)
        + number_cases(stack)
        + upload_cases(tmp_path)
        + markdown_cases(stack)
    )
    failures = []
    for case in cases:
        status, seconds = send(stack, case)
        if status >= 500 or seconds > ANSWER_WITHIN_S:
            failures.append(f"{case.name}: HTTP {status} after {seconds:.1f} s")
        elif case.files and status != 400:
            failures.append(f"{case.name}: a hostile file answered HTTP {status}, not refused")
    grown = stack.rss_bytes() - baseline
    assert not failures, f"{len(failures)} of {len(cases)} hostile requests failed:\n" + "\n".join(
        failures
    )
    assert grown <= MEMORY_MARGIN_BYTES, f"the web process kept {grown / 1024**2:.0f} MB"
