"""The sandbox: a generator runs, and an upload is validated, in a child process under limits.

`run_generator` starts a child from a forkserver that has torch preloaded, hands it the
checkpoint spec (the child loads the file itself, with the safe loaders, so this process never
builds a participant's network), streams content (and style) batches to it and yields the
outputs batch by batch. A time limit, a memory limit, a crash or a misbehaving output of the
child becomes a `ModelError`; the caller itself is never at risk, and the child is gone when
the iteration ends, however it ends.

`validate_in_child` does the same for `models.loading.validate_checkpoint`: the web process
never parses a participant's file, graph, expression or header itself, so no upload can stall
it, grow its memory or race another upload in torch's deserialiser; each runs in its own child,
under a wall-clock limit and an address-space limit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any

import torch

from models import runner_child
from models.architectures import Inputs, Role, get_architecture
from models.checkpoints import CheckpointLimits
from models.errors import (
    CHILD_CRASHED,
    TIME_LIMIT,
    VALIDATION_CRASHED,
    VALIDATION_MEMORY_LIMIT,
    VALIDATION_TIME_LIMIT,
    ErrorCode,
    ModelError,
)
from models.loading import CheckpointInfo, CheckpointSpec

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

# The forkserver imports these once; every child starts from that image.
FORKSERVER_PRELOAD = ["torch", "models.runner_child"]
_EXIT_GRACE_S = 5.0


@dataclass(frozen=True)
class RunLimits:
    """Limits of one run.

    `time_limit_s` bounds the time spent waiting for the child (start, loading and every
    batch), not the time the caller spends between batches. `memory_limit_bytes` is what the
    generator may allocate on top of the torch runtime the child starts with (RLIMIT_AS on
    CPU; the CUDA allocator's cap on a GPU). `device` is "cpu", "cuda" or "auto" (CUDA when
    available).
    """

    time_limit_s: float = 600.0
    memory_limit_bytes: int = 4 << 30
    device: str = "cpu"
    checkpoint: CheckpointLimits = field(default_factory=CheckpointLimits)


@dataclass(frozen=True)
class ValidationLimits:
    """Limits of validating one upload: wall-clock seconds from starting the child to its
    answer, and the memory it may allocate on top of the torch runtime it starts with
    (RLIMIT_AS), besides the checkpoint's own limits."""

    time_limit_s: float = 30.0
    memory_limit_bytes: int = 2 << 30
    checkpoint: CheckpointLimits = field(default_factory=CheckpointLimits)


@dataclass(frozen=True)
class _Failures:
    """The codes and messages of a child that runs out of time or dies without a word."""

    time_limit: tuple[ErrorCode, str]  # the message's {limit}: the limit in seconds
    crashed: tuple[ErrorCode, str]  # the message's {reason}: how it died
    # A SIGKILL nothing here sent: the kernel's out-of-memory killer.
    killed: tuple[ErrorCode, str] | None = None


_GENERATOR_FAILURES = _Failures(
    time_limit=(ErrorCode.TIME_LIMIT, TIME_LIMIT), crashed=(ErrorCode.CHILD_CRASHED, CHILD_CRASHED)
)


@dataclass
class RunStats:
    """Filled in by `run_generator` as it goes: where and how fast the generator ran."""

    device: str = ""
    load_seconds: float = 0.0
    forward_seconds: float = 0.0
    images: int = 0


def start_forkserver() -> None:
    """Start the forkserver now, and wait until it has preloaded torch (a few seconds).

    A worker process calls this at start-up so that the first submission it scores does not
    pay for importing torch; when the forkserver is already running it costs one child start.
    """
    process = _context().Process(target=runner_child.noop, name="atelier-warm-up", daemon=True)
    process.start()
    process.join()


def run_generator(
    spec: CheckpointSpec,
    content_batches: Sequence[torch.Tensor],
    style_batches: Sequence[torch.Tensor] | None = None,
    *,
    limits: RunLimits | None = None,
    progress: ProgressCallback | None = None,
    stats: RunStats | None = None,
) -> Iterator[torch.Tensor]:
    """Yield the generator's output for each content batch, in order.

    Batches are float RGB in [0, 1], N×3×H×W; style batches pair with content batches one to
    one and are required exactly when the generator takes a style input. Outputs are float32
    RGB in [0, 1] with the content batch's shape. `progress(done, total)` is called after each
    batch with counts of images.
    """
    limits = limits or RunLimits()
    architecture = get_architecture(spec.architecture, Role.GENERATOR)
    _check_batches(content_batches, style_batches)
    total = sum(batch.shape[0] for batch in content_batches)
    stats = stats if stats is not None else RunStats()
    job = runner_child.ChildJob(
        spec=spec,
        architecture=architecture,
        checkpoint_limits=limits.checkpoint,
        memory_limit_bytes=limits.memory_limit_bytes,
        device=_device(limits.device),
        threads=torch.get_num_threads(),
        caller_pid=os.getpid(),
    )
    child = _Child(
        runner_child.main,
        job,
        limits.time_limit_s,
        _GENERATOR_FAILURES,
        feed=lambda connection: _feed(connection, content_batches, style_batches),
    )
    completed = False
    try:
        ready = child.receive()
        _check_inputs(Inputs(ready["inputs"]), style_batches is not None)
        stats.device, stats.load_seconds = ready["device"], ready["load_seconds"]
        for batch in content_batches:
            header = child.receive()
            output = child.receive_output(header, tuple(batch.shape))
            stats.forward_seconds += header["seconds"]
            stats.images += batch.shape[0]
            if progress is not None:
                progress(stats.images, total)
            with child.paused():
                yield output
        final = child.receive()
        if final["kind"] != "done":
            raise child.crash(f"unexpected message {final!r:.200}")
        completed = True
    finally:
        child.stop(graceful=completed)


def validate_in_child(
    spec: CheckpointSpec, limits: ValidationLimits | None = None
) -> CheckpointInfo:
    """`validate_checkpoint` in a child process: the same answer, or the same ModelError, and
    `validation_time_limit`, `validation_memory_limit` or `validation_crashed` when the child
    runs out of time or memory or dies.

    Thread-safe: concurrent calls each get their own child. The architecture is looked up here
    (an unknown name is refused at once) and handed over, as `run_generator` does.
    """
    limits = limits or ValidationLimits()
    job = runner_child.ValidationJob(
        spec=spec,
        architecture=get_architecture(spec.architecture),
        checkpoint_limits=limits.checkpoint,
        memory_limit_bytes=limits.memory_limit_bytes,
        caller_pid=os.getpid(),
    )
    memory_limit = VALIDATION_MEMORY_LIMIT.format(limit=limits.memory_limit_bytes // 2**20)
    failures = _Failures(
        time_limit=(ErrorCode.VALIDATION_TIME_LIMIT, VALIDATION_TIME_LIMIT),
        crashed=(ErrorCode.VALIDATION_CRASHED, VALIDATION_CRASHED),
        killed=(ErrorCode.VALIDATION_MEMORY_LIMIT, memory_limit),
    )
    child = _Child(runner_child.validate, job, limits.time_limit_s, failures)
    try:
        answer = child.receive()
        try:
            if answer["kind"] != "valid":
                raise ValueError(f"kind {answer['kind']!r:.40}")
            return CheckpointInfo.from_fields(answer["info"])
        except (KeyError, TypeError, ValueError) as error:
            raise child.crash(f"unexpected answer {answer!r:.200}: {error}") from error
    finally:
        child.stop(graceful=False)


class _Child:
    """One child process doing one job (running a generator, validating a checkpoint), as its
    caller sees it."""

    def __init__(
        self,
        target: Callable[[Any, Connection, Connection], None],
        job: runner_child.ChildJob | runner_child.ValidationJob,
        time_limit_s: float,
        failures: _Failures,
        *,
        feed: Callable[[Connection], None] | None = None,
    ) -> None:
        context = _context()
        child_inputs, self.inputs = context.Pipe(duplex=False)
        self.outputs, child_outputs = context.Pipe(duplex=False)
        self.time_limit_s = time_limit_s
        self.failures = failures
        self.deadline = time.monotonic() + time_limit_s
        self.process = context.Process(
            target=target,
            args=(job, child_inputs, child_outputs),
            name=f"atelier-{target.__name__}",
            daemon=True,
        )
        self.process.start()
        # Only the child may hold these ends: its death then shows as end-of-file here and as a
        # broken pipe in the feeder.
        child_inputs.close()
        child_outputs.close()
        self.feeder: threading.Thread | None = None
        if feed is not None:
            self.feeder = threading.Thread(target=feed, args=(self.inputs,), daemon=True)
            self.feeder.start()

    def receive(self) -> dict[str, Any]:
        """The child's next header, or the ModelError that explains why there is none."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or not self.outputs.poll(remaining):
            logger.info("child %s passed its time limit", self.process.pid)
            code, message = self.failures.time_limit
            raise ModelError(code, message.format(limit=f"{self.time_limit_s:g}"))
        try:
            header = runner_child.receive_header(self.outputs)
        except (EOFError, OSError):
            raise self.crash() from None
        except ValueError as error:
            raise self.crash(f"malformed message: {error}") from error
        if header["kind"] == "error":
            raise self._error(header)
        return header

    def receive_output(self, header: dict[str, Any], expected: tuple[int, ...]) -> torch.Tensor:
        # The child checked the shape already; a different one here is a broken protocol.
        if header["kind"] != "output" or tuple(header["shape"]) != expected:
            raise self.crash(f"unexpected message {header!r:.200}")
        try:
            return runner_child.receive_tensor(self.outputs, list(expected))
        except (EOFError, OSError, ValueError):
            raise self.crash() from None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the clock while the caller has the batch: its time is not the generator's."""
        suspended = time.monotonic()
        try:
            yield
        finally:
            self.deadline += time.monotonic() - suspended

    def crash(self, detail: str = "") -> ModelError:
        self.process.join(_EXIT_GRACE_S)
        code = self.process.exitcode
        if code is None:
            reason = "it stopped answering"
        elif code < 0:
            reason = f"killed by {signal.Signals(-code).name}"
        else:
            reason = f"exit status {code}"
        logger.warning("child %s crashed: %s %s", self.process.pid, reason, detail)
        if code == -signal.SIGKILL and self.failures.killed is not None:
            return ModelError(*self.failures.killed, detail=f"{reason} {detail}")
        error_code, message = self.failures.crashed
        return ModelError(error_code, message.format(reason=reason), detail=detail)

    def stop(self, *, graceful: bool) -> None:
        """End the child: let it exit after a complete run, kill it otherwise."""
        if graceful:
            self.process.join(_EXIT_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        if self.feeder is not None:
            # Killing the child broke the pipe under a blocked feeder, so this join is short.
            self.feeder.join(_EXIT_GRACE_S)
        self.inputs.close()
        self.outputs.close()

    def _error(self, header: dict[str, Any]) -> ModelError:
        try:
            code = ErrorCode(header["code"])
        except ValueError:
            return self.crash(f"unknown error code {header['code']!r:.80}")
        return ModelError(code, str(header["message"]), detail=str(header.get("detail", "")))


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORKSERVER_PRELOAD)
    return context


def _device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    return requested


def _check_batches(
    content_batches: Sequence[torch.Tensor], style_batches: Sequence[torch.Tensor] | None
) -> None:
    """Catch caller mistakes here, where they are the caller's, not in the child."""
    if style_batches is not None and len(style_batches) != len(content_batches):
        raise ValueError("style_batches must pair one to one with content_batches")
    for index, batch in enumerate(content_batches):
        _check_batch(batch, f"content batch {index}")
        if style_batches is not None:
            _check_batch(style_batches[index], f"style batch {index}")
            if style_batches[index].shape[0] != batch.shape[0]:
                raise ValueError(f"style batch {index} and its content batch differ in size")


def _check_batch(batch: torch.Tensor, name: str) -> None:
    if not isinstance(batch, torch.Tensor) or batch.dim() != 4 or batch.shape[1] != 3:
        raise ValueError(f"{name} must be a N×3×H×W tensor")
    if not batch.is_floating_point():
        raise ValueError(f"{name} must hold floats in [0, 1]")


def _check_inputs(inputs: Inputs, has_style: bool) -> None:
    if (inputs is Inputs.CONTENT_STYLE) != has_style:
        raise ValueError(
            f"the generator takes {inputs}; pass style_batches exactly when it takes a style"
        )


def _feed(
    connection: Connection,
    content_batches: Sequence[torch.Tensor],
    style_batches: Sequence[torch.Tensor] | None,
) -> None:
    """Send every batch, then the end marker; in a thread, so a stuck child blocks only it."""
    try:
        for index, content in enumerate(content_batches):
            batches = [content] if style_batches is None else [content, style_batches[index]]
            ready = [batch.detach().to("cpu", torch.float32).contiguous() for batch in batches]
            style_shape = list(ready[1].shape) if len(ready) == 2 else None
            runner_child.send_header(
                connection, {"kind": "batch", "content": list(ready[0].shape), "style": style_shape}
            )
            for batch in ready:
                connection.send_bytes(memoryview(batch.numpy()).cast("B"))
        runner_child.send_header(connection, {"kind": "end"})
    except OSError:
        # The child is gone (BrokenPipeError) or the run is over; the reader says why.
        return
