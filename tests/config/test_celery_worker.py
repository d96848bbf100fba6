"""A real Celery worker process starts on the configured broker and answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log = tmp_path / "worker.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--queues",
                "default",
                "--hostname",
                name,
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        yield name, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_worker_answers_on_the_configured_broker(worker: tuple[str, Path]) -> None:
    name, log = worker
    deadline = time.monotonic() + START_TIMEOUT_S
    replies: list = []
    while time.monotonic() < deadline and not replies:
        replies = app.control.ping(destination=[name], timeout=1.0)
    assert replies == [{name: {"ok": "pong"}}], log.read_text()
    scheme = settings.CELERY_BROKER_URL.split("://", 1)[0]
    assert f"Connected to {scheme}://" in log.read_text()
