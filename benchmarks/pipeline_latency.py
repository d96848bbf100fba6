"""What the submission pipeline adds to scoring, and what a large upload costs the web process.

Everything runs on the embedded default in a temporary folder (SQLite, the kombu filesystem
broker and media under ATELIER_VAR_DIR), with the processes `make demo` starts: the web app
(`manage.py runserver --noreload`), a scoring worker (`-Q scoring -P solo -c 1
--prefetch-multiplier 1`), a default worker and beat. The challenge is single-style at
256×256 with 16 hidden test photos (split automatically between the public and the private
leaderboard), a few public photos (the gallery, 6 by default) and the demo's style images; the
submission is a width-16 TransformerNet with seeded random weights, as safetensors.

1. Latency. A warm-up submission first trains the judge and builds both reference caches
   (one-time costs per challenge, reported apart). Then, interleaved, each repeated:
   - floor: in this process, `models.runner.run_generator` over the same images the pipeline
     runs (16 test photos + the gallery photos, same batches) and `scoring.engine.Scorer`
     update/finish for both leaderboards against the already-built references and judge,
     gallery PNGs encoded; images are decoded beforehand, references are in memory;
   - pipeline: from the start of the upload request (POST /api/v1/challenges/<slug>/
     submissions/) until GET /api/v1/submissions/<id>/, polled every 0.1 s, says `scored`.
   Target: median pipeline ≤ 1.30 × median floor.
2. Memory. A fresh web process alone, warmed by one small upload; its idle RSS; then a
   ~500 MB checkpoint (a valid TransformerNet, so the whole validation runs) streams up while
   the RSS of the web process and its children is sampled every 50 ms, and the kernel's
   high-water mark (reset with /proc/PID/clear_refs after idle) is read at the end. Once for
   safetensors and once for a .pt state dict. Target: peak − idle < 50 MB, shown for the RSS
   and for anonymous memory alone (the RSS also counts the pages of a memory-mapped .pt).

    .venv/bin/python benchmarks/pipeline_latency.py [--repeats 3] [--checkpoint-mb 500]
        [--skip-latency] [--skip-memory] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import safetensors.torch
import torch

from models.loading import CheckpointSpec, validate_checkpoint
from models.runner import RunLimits, RunStats, run_generator
from models.zoo.transformer_net import TransformerNet

if TYPE_CHECKING:
    # Imported at run time only after Django is set up: `scoring` is a Django app.
    from scoring import engine

logger = logging.getLogger("benchmarks.pipeline_latency")

ROOT = Path(__file__).resolve().parents[1]
SLUG = "latency-bench"
RESOLUTION = 256
HIDDEN_IMAGES = 16
PUBLIC_IMAGES = 6
WIDTH = 16
POLL_S = 0.1
SAMPLE_S = 0.05
MB = 1_000_000
OVERHEAD_TARGET = 0.30
MEMORY_TARGET_MB = 50
SCORED_WITHIN_S = 900
READY_WITHIN_S = 120


# --- Processes ------------------------------------------------------------------------------


def embedded_environment(var: Path) -> dict[str, str]:
    """The environment of `make demo`, everything under `var` (set here, so a .env is moot)."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "ATELIER_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'atelier.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://localhost//",
        "ATELIER_MEDIA_ROOT": str(var / "media"),
        "ATELIER_MAX_UPLOAD_BYTES": str(4 << 30),
        "ATELIER_LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """The web app and Celery processes, started as the Procfile does, logs under `var`."""

    def __init__(self, var: Path, env: dict[str, str]) -> None:
        self.var = var
        self.env = {**os.environ, **env}
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        with (self.var / f"{name}.log").open("a") as log:
            process = subprocess.Popen(
                [sys.executable, *command],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running[name] = process
        return process

    def start_web(self, port: int) -> subprocess.Popen:
        return self.start("web", ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"])

    def start_workers(self) -> None:
        """The Procfile's scorer, worker and beat lines, with names and files of this run."""
        name = uuid.uuid4().hex[:6]
        celery = ["-m", "celery", "-A", "config"]
        scorer = "worker --queues scoring --pool solo --concurrency 1 --prefetch-multiplier 1"
        self.start(
            "scorer",
            [*celery, *scorer.split(), "--hostname", f"scoring-{name}@localhost", "-l", "INFO"],
        )
        worker = "worker --queues default --concurrency 1"
        self.start(
            "worker",
            [*celery, *worker.split(), "--hostname", f"default-{name}@localhost", "-l", "INFO"],
        )
        schedule = str(self.var / "beat-schedule")
        self.start("beat", [*celery, "beat", "--schedule", schedule, "-l", "INFO"])

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.var.glob("*.log"))
        )


# --- The HTTP client ------------------------------------------------------------------------


class MultipartBody:
    """A multipart/form-data body read in chunks, the file streamed from disk.

    `requests` sends an object with `read` and `__len__` as it is, with its Content-Length
    (runserver, like any WSGI server, needs one), so the client never holds the file.
    """

    def __init__(self, fields: dict[str, str], file_field: str, path: Path) -> None:
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in fields.items()
        )
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self.parts = [head, path, f"\r\n--{self.boundary}--\r\n".encode()]
        self.length = len(head) + path.stat().st_size + len(self.parts[2])
        self._chunks = self._generate()
        self._pending = b""

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _generate(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, bytes):
                yield part
                continue
            with part.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        if size < 0:
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1 << 16):
            yield chunk


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def wait_ready(self, web: subprocess.Popen) -> None:
        """Until the web app answers an authenticated API request (a 404 for a random id)."""
        deadline = time.monotonic() + READY_WITHIN_S
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise RuntimeError("the web process exited while starting")
            with contextlib.suppress(requests.ConnectionError):
                if self.session.get(f"{self.base}/submissions/{uuid.uuid4()}/").status_code:
                    return
            time.sleep(0.2)
        raise RuntimeError("the web process did not answer")

    def submit(self, path: Path) -> dict[str, Any]:
        body = MultipartBody({"architecture": "transformer_net"}, "checkpoint", path)
        response = self.session.post(
            f"{self.base}/challenges/{SLUG}/submissions/",
            data=body,
            headers={"Content-Type": body.content_type},
        )
        if response.status_code != 201:
            raise RuntimeError(f"upload refused: {response.status_code} {response.text[:500]}")
        return response.json()

    def status(self, submission_id: str) -> dict[str, Any]:
        response = self.session.get(f"{self.base}/submissions/{submission_id}/")
        response.raise_for_status()
        return response.json()

    def cancel(self, submission_id: str) -> None:
        self.session.post(f"{self.base}/submissions/{submission_id}/cancel/").raise_for_status()

    def wait_scored(self, submission_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + SCORED_WITHIN_S
        while time.monotonic() < deadline:
            body = self.status(submission_id)
            if body["status"] == "scored":
                return body
            if body["status"] not in ("queued", "running"):
                raise RuntimeError(f"submission ended {body['status']}: {body}")
            time.sleep(POLL_S)
        raise RuntimeError(f"submission {submission_id} not scored within {SCORED_WITHIN_S} s")


# --- Setup ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    token: str
    checkpoint: Path


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def challenge_create(
    var: Path,
    *,
    resolution: int = RESOLUTION,
    public: int = PUBLIC_IMAGES,
    hidden: int = HIDDEN_IMAGES,
) -> Setup:
    """The published challenge, a participant who joined with an API token, the checkpoint."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from competitions.services import challenge_bundle_import, participation_join
    from demo.services import demo_bundle_write

    bundle = demo_bundle_write(
        var / "bundle",
        resolution=resolution,
        slug=SLUG,
        content_public=public,
        content_hidden=hidden,
    )
    challenge = challenge_bundle_import(source=bundle)
    # Room for every upload of the run (queued at once, too), and for the large checkpoint of
    # the memory part.
    challenge.phases.update(
        max_per_day=1000,
        max_total=1000,
        max_running=1000,
        max_params=500_000_000,
        max_checkpoint_bytes=2 << 30,
    )
    user = get_user_model().objects.create_user("bench", password=uuid.uuid4().hex)
    participation_join(user=user, challenge=challenge, accept_rules=True)
    token = Token.objects.create(user=user)
    return Setup(token=token.key, checkpoint=transformer_net_file(var, WIDTH))


def transformer_net_file(folder: Path, width: int) -> Path:
    torch.manual_seed(0)
    path = folder / f"transformer_net_w{width}.safetensors"
    safetensors.torch.save_file(TransformerNet(width).state_dict(), path)
    return path


# --- Latency --------------------------------------------------------------------------------


@dataclass
class Floor:
    """The runner and the engine alone, on the pipeline's images, references in memory."""

    spec: CheckpointSpec
    batches: list[torch.Tensor]
    # Per image of the batches: (board position, index in that board), or None for gallery.
    targets: list[tuple[int, int] | None]
    references: list[engine.References]
    network: engine.MetricNetwork
    judge: engine.Judge
    frechet_epsilon: float
    limits: RunLimits
    params: int

    def run(self) -> float:
        from scoring import engine

        started = time.perf_counter()
        scorers = [
            engine.Scorer(
                references,
                self.network,
                self.judge,
                gallery_size=0,
                frechet_epsilon=self.frechet_epsilon,
            )
            for references in self.references
        ]
        stats = RunStats()
        seconds = [0.0] * len(scorers)
        done, before = 0, 0.0
        for outputs in run_generator(self.spec, self.batches, limits=self.limits, stats=stats):
            targets = self.targets[done : done + outputs.shape[0]]
            per_image = (stats.forward_seconds - before) / outputs.shape[0]
            before = stats.forward_seconds
            for board, scorer in enumerate(scorers):
                picked = [i for i, target in enumerate(targets) if target and target[0] == board]
                if picked:
                    scorer.update([targets[i][1] for i in picked], outputs[picked])
                    seconds[board] += per_image * len(picked)
            for i, target in enumerate(targets):
                if target is None:
                    engine.png_encode(outputs[i])
            done += outputs.shape[0]
        for board, scorer in enumerate(scorers):
            scorer.finish(generator_seconds=seconds[board], params=self.params)
        return time.perf_counter() - started


def floor_prepare(checkpoint: Path) -> tuple[Floor, dict[str, int]]:
    """The floor's inputs, from the stored challenge and the caches the warm-up built."""
    from django.conf import settings

    from competitions.models import Challenge, ChallengeImage
    from scoring.models import Leaderboard
    from scoring.services import (
        board_images,
        images_load,
        judge_for,
        metric_network,
        references_ensure,
        scoring_profile_get,
    )

    challenge = Challenge.objects.get(slug=SLUG)
    phase = challenge.phases.get()
    profile = scoring_profile_get(challenge=challenge)
    network = metric_network(settings.ATELIER_SCORING_DEVICE)
    judge = judge_for(profile=profile, device=settings.ATELIER_SCORING_DEVICE)
    if judge is None:
        raise RuntimeError(f"the warm-up left no judge: {profile.judge_status}")
    images, targets, references, counts = [], [], [], {}
    for position, leaderboard in enumerate((Leaderboard.PUBLIC, Leaderboard.PRIVATE)):
        board = board_images(challenge=challenge, leaderboard=leaderboard)
        references.append(
            references_ensure(
                challenge=challenge, board=board, profile=profile, network=network, judge=judge
            )
        )
        images += board.content
        targets += [(position, index) for index in range(len(board.content))]
        counts[str(leaderboard)] = len(board.content)
    gallery = challenge.images.filter(
        kind=ChallengeImage.Kind.CONTENT, split=ChallengeImage.Split.PUBLIC
    ).order_by("sha256")[: profile.gallery_size]
    images += list(gallery)
    targets += [None] * len(gallery)
    counts["gallery"] = len(gallery)
    spec = CheckpointSpec(path=checkpoint, architecture="transformer_net")
    floor = Floor(
        spec=spec,
        batches=list(torch.split(images_load(images), settings.ATELIER_SCORING_BATCH_SIZE)),
        targets=targets,
        references=references,
        network=network,
        judge=judge,
        frechet_epsilon=profile.frechet_epsilon,
        limits=RunLimits(
            time_limit_s=phase.time_limit_s,
            memory_limit_bytes=settings.ATELIER_GENERATOR_MEMORY_BYTES,
            device=settings.ATELIER_SCORING_DEVICE,
        ),
        params=validate_checkpoint(spec).param_count,
    )
    return floor, counts


@dataclass
class PipelineRun:
    total: float
    request: float
    queued: float
    worker: float


def pipeline_once(api: Api, checkpoint: Path) -> PipelineRun:
    from submissions.models import Submission

    started = time.perf_counter()
    body = api.submit(checkpoint)
    request = time.perf_counter() - started
    api.wait_scored(body["id"])
    total = time.perf_counter() - started
    submission = Submission.objects.get(pk=body["id"])
    return PipelineRun(
        total=total,
        request=request,
        queued=(submission.started_at - submission.created_at).total_seconds(),
        worker=(submission.finished_at - submission.started_at).total_seconds(),
    )


@dataclass
class Latency:
    warm_up_s: float
    judge_s: float | None
    references_s: float
    counts: dict[str, int]
    floor: list[float] = field(default_factory=list)
    pipeline: list[PipelineRun] = field(default_factory=list)


def measure_latency(processes: Processes, setup: Setup, repeats: int) -> Latency:
    from scoring.models import ReferenceCache, ScoringProfile

    port = free_port()
    web = processes.start_web(port)
    processes.start_workers()
    api = Api(port, setup.token)
    api.wait_ready(web)
    logger.warning("warm-up submission: training the judge and building the references")
    started = time.perf_counter()
    api.wait_scored(api.submit(setup.checkpoint)["id"])
    profile = ScoringProfile.objects.get(challenge__slug=SLUG)
    latency = Latency(
        warm_up_s=time.perf_counter() - started,
        judge_s=profile.judge_summary.get("seconds"),
        references_s=sum(ReferenceCache.objects.values_list("build_seconds", flat=True)),
        counts={},
    )
    floor, latency.counts = floor_prepare(setup.checkpoint)
    floor.run()  # warm-up of this process: the forkserver, oneDNN kernels, the metric network
    for repeat in range(repeats):
        latency.floor.append(floor.run())
        latency.pipeline.append(pipeline_once(api, setup.checkpoint))
        logger.warning(
            "repeat %d: floor %.2f s, pipeline %.2f s",
            repeat + 1,
            latency.floor[-1],
            latency.pipeline[-1].total,
        )
    processes.stop_all()
    return latency


# --- Memory ---------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from the parent ids in /proc/*/stat."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The command name (field 2) may hold spaces; the parent id follows its ")".
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            parents.setdefault(parent, []).append(int(entry.name))
    pids, index = [pid], 0
    while index < len(pids):
        pids += parents.get(pids[index], [])
        index += 1
    return pids


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and VmHWM of one process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


def tree_rss(pid: int) -> tuple[int, int]:
    """RSS and anonymous RSS of the process and its descendants, in bytes."""
    rss = anon = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            values = memory_of(member)
            rss += values["VmRSS"]
            anon += values["RssAnon"]
    return rss, anon


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = self.peak_anon = 0
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            rss, anon = tree_rss(self.pid)
            self.peak_rss, self.peak_anon = max(self.peak_rss, rss), max(self.peak_anon, anon)
            self.samples += 1
            self.halt.wait(SAMPLE_S)

    def stop(self) -> None:
        self.halt.set()
        self.join()


@dataclass
class MemoryRun:
    label: str
    size: int
    params: int
    idle_rss: int
    idle_anon: int
    peak_rss: int
    peak_anon: int
    seconds: float
    samples: int


def large_state_dict_shapes(target_bytes: int) -> tuple[int, dict[str, tuple[int, ...]]]:
    """The smallest TransformerNet width whose float32 weights take at least `target_bytes`."""
    width = WIDTH
    while True:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in TransformerNet(width).state_dict().items()}
        if 4 * sum(torch.Size(shape).numel() for shape in shapes.values()) >= target_bytes:
            return width, shapes
        width += 8


def random_weights(shapes: dict[str, tuple[int, ...]]) -> Iterator[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    for name, shape in shapes.items():
        yield name, 0.01 * torch.randn(shape, generator=generator)


def write_large_safetensors(shapes: dict[str, tuple[int, ...]], path: Path) -> None:
    """A safetensors file written one tensor at a time (this process never holds it all)."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        end = offset + 4 * torch.Size(shape).numel()
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)  # aligned as the reference writer does
    with path.open("wb") as file:
        file.write(len(encoded).to_bytes(8, "little") + encoded)
        for _, tensor in random_weights(shapes):
            file.write(tensor.numpy().tobytes())


def large_checkpoints(folder: Path, target_bytes: int) -> tuple[int, int, list[Path]]:
    width, shapes = large_state_dict_shapes(target_bytes)
    safetensors_path = folder / f"transformer_net_w{width}.safetensors"
    write_large_safetensors(shapes, safetensors_path)
    torch_path = folder / f"transformer_net_w{width}.pt"
    torch.save(dict(random_weights(shapes)), torch_path)
    params = sum(torch.Size(shape).numel() for shape in shapes.values())
    return width, params, [safetensors_path, torch_path]


def reset_peak(pid: int) -> bool:
    """Reset the kernel's RSS high-water mark of `pid` (Linux ≥ 4.0); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_once(processes: Processes, setup: Setup, path: Path, params: int) -> MemoryRun:
    """A fresh web process, warmed by a small upload; then the large upload, sampled."""
    port = free_port()
    web = processes.start_web(port)
    api = Api(port, setup.token)
    try:
        api.wait_ready(web)
        api.cancel(api.submit(setup.checkpoint)["id"])
        time.sleep(1.0)
        idle = []
        for _ in range(10):
            idle.append(tree_rss(web.pid))
            time.sleep(0.1)
        idle_rss = int(statistics.median(rss for rss, _ in idle))
        idle_anon = int(statistics.median(anon for _, anon in idle))
        hwm_reset = reset_peak(web.pid)
        sampler = Sampler(web.pid)
        sampler.start()
        started = time.perf_counter()
        try:
            body = api.submit(path)
        finally:
            seconds = time.perf_counter() - started
            sampler.stop()
        peak_rss = sampler.peak_rss
        if hwm_reset:
            peak_rss = max(peak_rss, memory_of(web.pid)["VmHWM"])
        api.cancel(body["id"])
    finally:
        processes.stop("web")
    return MemoryRun(
        label=path.suffix,
        size=path.stat().st_size,
        params=params,
        idle_rss=idle_rss,
        idle_anon=idle_anon,
        peak_rss=peak_rss,
        peak_anon=sampler.peak_anon,
        seconds=seconds,
        samples=sampler.samples,
    )


def measure_memory(
    processes: Processes, setup: Setup, folder: Path, target_mb: int
) -> tuple[int, list[MemoryRun]]:
    width, params, paths = large_checkpoints(folder, target_mb * MB)
    runs = []
    for path in paths:
        logger.warning("memory: uploading %s (%d MB)", path.name, path.stat().st_size // MB)
        runs.append(memory_once(processes, setup, path, params))
        path.unlink()
    return width, runs


# --- Report ---------------------------------------------------------------------------------


def report_latency(latency: Latency, repeats: int) -> None:
    counts = latency.counts
    print(
        f"Pipeline latency: TransformerNet width {WIDTH} (random weights), "
        f"{counts['public'] + counts['private']} hidden test images ({counts['public']} public "
        f"board, {counts['private']} private board) + {counts['gallery']} gallery photos at "
        f"{RESOLUTION}×{RESOLUTION}, CPU, {torch.get_num_threads()} threads; embedded default "
        f"(SQLite, filesystem broker), runserver + scoring worker + default worker + beat"
    )
    judge = f"{latency.judge_s:.1f} s" if latency.judge_s is not None else "n/a"
    print(
        f"one-time per challenge, not timed below: warm-up submission {latency.warm_up_s:.1f} s "
        f"(judge training {judge}, reference caches {latency.references_s:.1f} s)"
    )
    runs = latency.pipeline
    rows = [
        ("floor: runner + engine", latency.floor),
        ("pipeline: upload → scored", [run.total for run in runs]),
        ("  upload request", [run.request for run in runs]),
        ("  queued (created → claimed)", [run.queued for run in runs]),
        ("  worker (claimed → scored)", [run.worker for run in runs]),
    ]
    header = "".join(f"{f'run {i + 1}':>9}" for i in range(repeats))
    print(f"{'seconds':<30}{header}{'median':>9}")
    for name, values in rows:
        cells = "".join(f"{value:>9.2f}" for value in values)
        print(f"{name:<30}{cells}{statistics.median(values):>9.2f}")
    floor = statistics.median(latency.floor)
    pipeline = statistics.median(run.total for run in runs)
    overhead = pipeline / floor - 1
    verdict = "met" if overhead <= OVERHEAD_TARGET else "MISSED"
    print(
        f"overhead = median pipeline / median floor − 1 = {100 * overhead:.0f}% "
        f"(target ≤ {100 * OVERHEAD_TARGET:.0f}%: {verdict})"
    )


def report_memory(width: int, runs: list[MemoryRun]) -> None:
    print(
        f"\nWeb process memory (runserver and its children; RSS sampled every "
        f"{1000 * SAMPLE_S:.0f} ms and the kernel's high-water mark) while a TransformerNet "
        f"width {width} ({runs[0].params / 1e6:.0f} M parameters) uploads and is validated; "
        f"idle = the same process after one small upload; MB = 10^6 bytes; "
        f"target: peak − idle < {MEMORY_TARGET_MB} MB"
    )
    print(
        f"{'format':<14}{'file MB':>9}{'upload s':>10}{'idle MB':>9}{'peak MB':>9}"
        f"{'RSS peak−idle':>15}{'anonymous peak−idle':>21}"
    )
    for run in runs:
        cells = []
        for growth in (run.peak_rss - run.idle_rss, run.peak_anon - run.idle_anon):
            verdict = "met" if growth < MEMORY_TARGET_MB * MB else "MISSED"
            cells.append(f"{growth / MB:.1f} {verdict}")
        print(
            f"{run.label:<14}{run.size / MB:>9.0f}{run.seconds:>10.1f}{run.idle_rss / MB:>9.0f}"
            f"{run.peak_rss / MB:>9.0f}{cells[0]:>15}{cells[1]:>21}"
        )
    print(
        "RSS also counts the pages of files a process maps: a zip-format .pt is read with "
        "torch.load(mmap=True) and validation hands each checked chunk's pages back (madvise), "
        "so only a chunk at a time is resident; anonymous memory is what validation allocates."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint-mb", type=int, default=500)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    folder = Path(tempfile.mkdtemp(prefix="atelier-pipeline-bench-"))
    env = embedded_environment(folder)
    processes = Processes(folder, env)
    latency, memory = None, None
    try:
        setup_django(env)
        setup = challenge_create(folder)
        if not arguments.skip_latency:
            latency = measure_latency(processes, setup, arguments.repeats)
        if not arguments.skip_memory:
            memory = measure_memory(processes, setup, folder, arguments.checkpoint_mb)
    except BaseException:
        processes.stop_all()
        print(processes.logs(), file=sys.stderr)
        raise
    finally:
        processes.stop_all()
        if arguments.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if latency is not None:
        report_latency(latency, arguments.repeats)
    if memory is not None:
        report_memory(*memory)


if __name__ == "__main__":
    main()
