"""Real Celery processes for integration and fault tests, on the test database and broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the test database this process uses, for the workers to use too."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or ""
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = db["HOST"] or "localhost"
    return f"postgres://{user}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_environment(media_root: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "ATELIER_MEDIA_ROOT": str(media_root),
        "ATELIER_REAP_INTERVAL_S": "1",
        "ATELIER_DISPATCH_INTERVAL_S": "1",
        **extra,
    }


class Celery:
    """Starts and stops worker and beat processes; keeps their logs in one folder."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: dict[str, subprocess.Popen] = {}

    def placement(self, name: str) -> tuple[Path, dict[str, str]]:
        """Where the process `name` runs and with which environment: all in the checkout, alike."""
        return ROOT, self.env

    def start(self, name: str, *arguments: str) -> subprocess.Popen:
        return self.spawn(name, [sys.executable, "-m", "celery", "-A", "config", *arguments])

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        """Run `command` as the process `name`, its output in `name`.log."""
        cwd, env = self.placement(name)
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def scoring_worker(self, name: str, queue: str = "scoring") -> subprocess.Popen:
        return self.start(
            name,
            "worker",
            "-Q",
            queue,
            "-P",
            "solo",
            "-c",
            "1",
            "--prefetch-multiplier",
            "1",
            "-n",
            f"{name}-{uuid.uuid4().hex[:6]}@localhost",
            "--without-mingle",
            "--without-gossip",
        )

    def default_worker_and_beat(self) -> None:
        self.start(
            "default",
            "worker",
            "-Q",
            "default",
            "-P",
            "solo",
            "-n",
            f"default-{uuid.uuid4().hex[:6]}@localhost",
            "--without-mingle",
            "--without-gossip",
        )
        self.start("beat", "beat", "--schedule", str(self.logs / "beat-schedule"))

    def kill(self, name: str) -> None:
        """SIGKILL: no cleanup, no acknowledgement, as the OOM killer would do it."""
        process = self.processes.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def logs_tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.logs.glob("*.log"))
        )


@contextlib.contextmanager
def celery_like_make_demo(media_root: Path, logs: Path) -> Iterator[Celery]:
    """A scoring worker, a default worker and beat, as `make demo` runs them, on the test's
    database, broker and media; stopped on the way out."""
    processes = Celery(worker_environment(media_root), logs)
    processes.scoring_worker("scoring")
    processes.default_worker_and_beat()
    try:
        yield processes
    finally:
        processes.stop_all()


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
