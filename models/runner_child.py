"""The runner's child processes: run a generator on batches, or validate an upload.

Started by `models.runner` from a forkserver that has already imported torch and this module,
so a child is ready in a fraction of a second. The child applies its own limits (threads, a
memory cap, no core dumps), reads the checkpoint itself with the safe loaders, and talks to its
parent over two pipes with JSON headers and raw float32 bytes, never pickle, so nothing the
child sends can make the parent execute code.

`main` loads a generator and stylises batches until told to stop; `validate` checks an
uploaded checkpoint and answers with the plain fields of its `CheckpointInfo`.
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
from models.errors import (
    GENERATOR_FAILED,
    MEMORY_LIMIT,
    VALIDATION_CRASHED,
    VALIDATION_MEMORY_LIMIT,
    ErrorCode,
    ModelError,
    out_of_memory,
)
from models.loading import CheckpointSpec, LoadedGenerator, load_generator, validate_checkpoint

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1 << 16
_ERROR_TEXT_CHARS = 300
# An error's message (which may quote a participant's tensor names) and its organizer-only
# detail (a traceback) are cut to fit in a header, even at JSON's 12 bytes per character.
_MESSAGE_CHARS = 1_000
_DETAIL_CHARS = 4_000
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


@dataclass(frozen=True)
class ValidationJob:
    """What a validation child needs, sent by pickling when the process starts."""

    spec: CheckpointSpec
    architecture: Architecture
    checkpoint_limits: CheckpointLimits
    memory_limit_bytes: int
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
        _send_error(outputs, failure)


def validate(job: ValidationJob, inputs: Connection, outputs: Connection) -> None:
    """A validation child's entry point: one answer, the checkpoint's info or why it is refused.

    `inputs` stays unused: the job says everything.
    """
    _exit_with_caller(job.caller_pid)
    failure: ModelError
    try:
        # One thread: validation reads and checks, and an upload must not take every core.
        torch.set_num_threads(1)
        _limit_memory(job.memory_limit_bytes)
        info = validate_checkpoint(job.spec, job.checkpoint_limits, architecture=job.architecture)
        send_header(outputs, {"kind": "valid", "info": info.fields()})
        return
    except ModelError as error:
        failure = error
    except Exception as error:
        # The traceback holds what filled the memory; it is let go when this block ends.
        failure = _validation_failure(error, memory_limit_bytes=job.memory_limit_bytes)
    _send_error(outputs, failure)


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


def _send_error(outputs: Connection, failure: ModelError) -> None:
    header = {
        "kind": "error",
        "code": str(failure.code),
        "message": failure.message[:_MESSAGE_CHARS],
        "detail": failure.detail[-_DETAIL_CHARS:],
    }
    send_header(outputs, header)


def _configure(job: ChildJob) -> torch.device:
    torch.set_num_threads(job.threads)
    # Generators that draw random numbers give the same output on every run.
    torch.manual_seed(0)
    device = torch.device(job.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, job.memory_limit_bytes / total), device)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        return device
    _limit_memory(job.memory_limit_bytes)
    return device


def _limit_memory(allowance_bytes: int) -> None:
    """Cap the address space at the torch runtime's size plus `allowance_bytes`; no core dumps.

    The thread pool starts first, so that its stacks are not charged to the allowance.
    """
    # A crash with gigabytes mapped must not write a core file.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    torch.ones(64, 64) @ torch.ones(64, 64)
    cap = _address_space_bytes() + allowance_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


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
    if out_of_memory(error):
        message = MEMORY_LIMIT.format(limit=job.memory_limit_bytes // 2**20)
        return ModelError(ErrorCode.MEMORY_LIMIT, message, detail=detail)
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {first_line}"[:_ERROR_TEXT_CHARS]
    logger.warning("generator failed: %s", text)
    return ModelError(
        ErrorCode.GENERATOR_FAILED, GENERATOR_FAILED.format(error=text), detail=detail
    )


def _validation_failure(error: Exception, *, memory_limit_bytes: int) -> ModelError:
    """What an error that validation did not name means: the memory limit, or a crash."""
    if out_of_memory(error):
        # No traceback: formatting one may need memory that is not there.
        message = VALIDATION_MEMORY_LIMIT.format(limit=memory_limit_bytes // 2**20)
        return ModelError(ErrorCode.VALIDATION_MEMORY_LIMIT, message, detail=type(error).__name__)
    reason = type(error).__name__
    logger.warning("validation failed: %s: %.300s", reason, error)
    message = VALIDATION_CRASHED.format(reason=reason)
    return ModelError(ErrorCode.VALIDATION_CRASHED, message, detail=traceback.format_exc())


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
