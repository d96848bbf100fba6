"""Throughput that adds up: N submissions through one scoring worker, then through two.

The stack `make demo` starts (web app, default worker, beat; SQLite and the filesystem broker
under a temporary ATELIER_VAR_DIR), with scoring workers started as the Procfile does, each
limited to one CPU thread (OMP_NUM_THREADS=1, and pinned to its own core with `taskset`
where there is one). The challenge is single-style, RESOLUTION px, HIDDEN test photos; every
submission is a width-16 TransformerNet with seeded random weights, uploaded through the API.

Warm-up submissions first train the judge and build the reference caches (one-time costs per
challenge), until every worker has scored once (its networks loaded). Then, for 1 and for 2
workers: N uploads at once, and the time from the first
upload to the last `scored` gives submissions per hour; each submission's queue wait is its
start (`started_at`) minus its upload (`created_at`). Target: 2 workers ≥ 1.7 × 1 worker.

    .venv/bin/python benchmarks/scoring_throughput.py [--submissions 12] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline_latency import (
    WIDTH,
    Api,
    Processes,
    challenge_create,
    embedded_environment,
    free_port,
    setup_django,
)

RESOLUTION = 128
HIDDEN = 8
PUBLIC = 2
TARGET = 1.7
SCORED_WITHIN_S = 1800
# A Celery worker of this project, its queue to follow.
WORKER = ["-m", "celery", "-A", "config", "worker", "--queues"]


@dataclass(frozen=True)
class Round:
    workers: int
    submissions: int
    seconds: float
    waits: list[float]

    @property
    def per_hour(self) -> float:
        return 3600 * self.submissions / self.seconds


def scoring_workers(processes: Processes, count: int) -> dict[str, str]:
    """`count` scoring workers, one CPU thread each, each on its own core when possible;
    their process names and hostnames."""
    workers = {}
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= count
    for index in range(count):
        name = f"scorer-{index}"
        hostname = f"{name}-{uuid.uuid4().hex[:6]}@localhost"
        command = [
            *WORKER,
            "scoring",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "--hostname",
            hostname,
            "-l",
            "WARNING",
        ]
        process = processes.start(name, command)
        if pin:
            os.system(f"taskset -a -p -c {index} {process.pid} >/dev/null")
        workers[name] = hostname
    return workers


def warm_up(api: Api, checkpoint: Path, hostnames: list[str]) -> None:
    """Until every worker is up and has scored once: the first submission of a challenge
    trains its judge and builds its references, the first of a worker loads its networks."""
    from submissions.models import Submission

    deadline = time.monotonic() + SCORED_WITHIN_S
    waiting = set(hostnames)
    while waiting:
        ids = [api.submit(checkpoint)["id"] for _ in hostnames]
        for submission_id in ids:
            api.wait_scored(submission_id)
        waiting -= set(Submission.objects.filter(pk__in=ids).values_list("worker", flat=True))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{sorted(waiting)} scored no warm-up submission")
    print(f"warm-up: {len(hostnames)} worker(s) have each scored", flush=True)


def submit_round(api: Api, checkpoint: Path, count: int, workers: int) -> Round:
    from submissions.models import Submission

    started = time.monotonic()
    ids = [api.submit(checkpoint)["id"] for _ in range(count)]
    deadline = started + SCORED_WITHIN_S
    rows = Submission.objects.filter(pk__in=ids)
    while rows.filter(status__in=Submission.ACTIVE_STATUSES).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not scored within {SCORED_WITHIN_S} s")
        time.sleep(0.5)
    seconds = time.monotonic() - started
    failed = rows.exclude(status=Submission.Status.SCORED).count()
    if failed:
        raise RuntimeError(f"{failed} submission(s) did not end scored")
    waits = [
        (row.started_at - row.created_at).total_seconds()
        for row in rows.only("started_at", "created_at")
    ]
    return Round(workers, count, seconds, waits)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    arguments = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="atelier-throughput-"))
    env = {
        **embedded_environment(var),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # Every round uploads at once; the API's upload rate limit is not under test.
        "ATELIER_API_THROTTLE_SUBMIT": "1000/minute",
    }
    setup_django(env)
    setup = challenge_create(var, resolution=RESOLUTION, public=PUBLIC, hidden=HIDDEN)
    token, checkpoint = setup.token, setup.checkpoint
    processes = Processes(var, env)
    rounds: list[Round] = []
    try:
        port = free_port()
        api = Api(port, token)
        web = processes.start_web(port)
        api.wait_ready(web)
        processes.start(
            "worker",
            [
                *WORKER,
                "default",
                "--concurrency",
                "1",
                "-l",
                "WARNING",
            ],
        )
        for count in (1, 2):
            workers = scoring_workers(processes, count)
            warm_up(api, checkpoint, list(workers.values()))
            rounds.append(submit_round(api, checkpoint, arguments.submissions, count))
            for name in workers:
                processes.stop(name)
    except Exception:
        print(processes.logs(), file=sys.stderr)
        raise
    finally:
        processes.stop_all()
        if not arguments.keep:
            shutil.rmtree(var, ignore_errors=True)
    print(
        f"\n{RESOLUTION} px, {HIDDEN} hidden + {PUBLIC} gallery photos, width-{WIDTH} "
        f"TransformerNet, one CPU thread per worker"
    )
    print("| workers | submissions | seconds | submissions/hour | queue wait p50 | p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for item in rounds:
        print(
            f"| {item.workers} | {item.submissions} | {item.seconds:.1f} | {item.per_hour:.0f} "
            f"| {statistics.median(item.waits):.1f} s | {percentile(item.waits, 0.95):.1f} s |"
        )
    ratio = rounds[1].per_hour / rounds[0].per_hour
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"throughput ratio (2 workers ÷ 1 worker): {ratio:.2f} (target ≥ {TARGET}: {verdict})")


if __name__ == "__main__":
    main()
