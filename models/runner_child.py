"""The runner's child process: load the checkpoint, then stylise batches until told to stop.

Started by `models.runner` from a forkserver that has already imported torch and this module,
so a child is ready in a fraction of a second. The child applies its own limits (threads, a
memory cap, no core dumps), loads the checkpoint itself with the safe loaders, and talks to its
parent over two pipes with JSON headers and raw float32 bytes, never pickle, so nothing the
child sends can make the parent execute code.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import torch

from models.architectures import Architecture
from models.checkpoints import CheckpointLimits
from models.errors import GENERATOR_FAILED, MEMORY_LIMIT, ErrorCode, ModelError
from models.loading import CheckpointSpec, LoadedGenerator, load_generator

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1 << 16
# The allocator's message when an allocation fails, e.g. under RLIMIT_AS.
_ALLOCATION_FAILED = ("can't allocate memory", "Cannot allocate memory", "out of memory")
_ERROR_TEXT_CHARS = 300
# EX_SOFTWARE, for the logs only: nobody waits for a child whose caller is gone.
_ORPHANED_EXIT = 70
_CALLER_CHECK_S = 1.0


@dataclass(frozen=True)
class ChildJob:
    """Everything the child needs, sent by pickling when the process starts."""

    spec: CheckpointSpec
    architecture: Architecture
    checkpoint_limits: CheckpointLimits
    memory_limit_bytes: int
    device: str
    threads: int
    caller_pid: int


def main(job: ChildJob, inputs: Connection, outputs: Connection) -> None:
    """The child's entry point."""
    _exit_with_caller(job.caller_pid)
    try:
        device = _configure(job)
        started = time.perf_counter()
        generator = load_generator(job.spec, job.checkpoint_limits, architecture=job.architecture)
        generator.prepare(device)
        send_header(
            outputs,
            {
                "kind": "ready",
                "device": str(device),
                "inputs": str(generator.info.inputs),
                "load_seconds": time.perf_counter() - started,
            },
        )
        _serve(generator, inputs, outputs)
    except Exception as error:
        failure = error if isinstance(error, ModelError) else _classified(error, job)
        send_header(
            outputs,
            {
                "kind": "error",
                "code": str(failure.code),
                "message": failure.message,
                "detail": failure.detail,
            },
        )


def noop() -> None:
    """Started by `models.runner.start_forkserver` to wait until the forkserver has preloaded."""


def send_header(connection: Connection, header: dict[str, Any]) -> None:
    connection.send_bytes(json.dumps(header).encode())


def receive_header(connection: Connection) -> dict[str, Any]:
    header = json.loads(connection.recv_bytes(MAX_HEADER_BYTES))
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise ValueError(f"malformed header {header!r:.80}")
    return header


def receive_tensor(connection: Connection, shape: list[int]) -> torch.Tensor:
    """A float32 tensor of `shape` from the raw bytes of the next message."""
    tensor = torch.empty(shape, dtype=torch.float32)
    buffer = memoryview(tensor.numpy()).cast("B")
    if connection.recv_bytes_into(buffer) != buffer.nbytes:
        raise ValueError(f"message does not fill a tensor of shape {shape}")
    return tensor


def _configure(job: ChildJob) -> torch.device:
    torch.set_num_threads(job.threads)
    # Generators that draw random numbers give the same output on every run.
    torch.manual_seed(0)
    # A crashing generator with gigabytes mapped must not write a core file.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    device = torch.device(job.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, job.memory_limit_bytes / total), device)
        return device
    # Start the thread pool before capping the address space, so its stacks are not charged to
    # the generator; the cap is then the torch runtime's size plus the generator's allowance.
    torch.ones(64, 64) @ torch.ones(64, 64)
    cap = _address_space_bytes() + job.memory_limit_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return device


def _address_space_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmSize missing from /proc/self/status")


def _serve(generator: LoadedGenerator, inputs: Connection, outputs: Connection) -> None:
    with torch.inference_mode():
        while (header := receive_header(inputs))["kind"] == "batch":
            content = receive_tensor(inputs, header["content"])
            style = receive_tensor(inputs, header["style"]) if header["style"] else None
            started = time.perf_counter()
            output = generator(content, style)
            if generator.device.type == "cuda":
                torch.cuda.synchronize(generator.device)
            seconds = time.perf_counter() - started
            output = output.cpu().contiguous()
            send_header(
                outputs, {"kind": "output", "shape": list(output.shape), "seconds": seconds}
            )
            outputs.send_bytes(memoryview(output.numpy()).cast("B"))
    send_header(outputs, {"kind": "done"})


def _classified(error: Exception, job: ChildJob) -> ModelError:
    detail = traceback.format_exc()
    if isinstance(error, MemoryError | torch.OutOfMemoryError) or any(
        text in str(error) for text in _ALLOCATION_FAILED
    ):
        message = MEMORY_LIMIT.format(limit=job.memory_limit_bytes // 2**20)
        return ModelError(ErrorCode.MEMORY_LIMIT, message, detail=detail)
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {first_line}"[:_ERROR_TEXT_CHARS]
    logger.warning("generator failed: %s", text)
    return ModelError(
        ErrorCode.GENERATOR_FAILED, GENERATOR_FAILED.format(error=text), detail=detail
    )


def _exit_with_caller(caller_pid: int) -> None:
    """End this process when the caller is gone, even in the middle of a forward pass.

    The forkserver, not the caller, is the parent of this process, so nothing else would stop
    a hung generator whose caller was killed.
    """

    def watch() -> None:
        while True:
            time.sleep(_CALLER_CHECK_S)
            try:
                os.kill(caller_pid, 0)
            except (ProcessLookupError, PermissionError):
                # PermissionError: the pid now belongs to another user's process.
                os._exit(_ORPHANED_EXIT)

    threading.Thread(target=watch, name="caller-watch", daemon=True).start()
