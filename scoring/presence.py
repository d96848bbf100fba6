"""Which queues have a live worker: each worker writes the queues it consumes every
ATELIER_WORKER_PRESENCE_INTERVAL_S while it runs, and removes them when it stops.

A challenge on its own queue (`Challenge.scoring_queue`, served by the organizers' machine)
then says "waiting for the organizers' worker" on its queued submissions rather than looking
stuck. The rows are advisory: nothing is ever claimed or routed by them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from scoring.models import WorkerQueue

logger = logging.getLogger(__name__)


def presence_record(
    *, hostname: str, queues: Iterable[str], now: dt.datetime | None = None
) -> None:
    """The worker `hostname` consumes `queues` now."""
    now = now or timezone.now()
    for queue in queues:
        WorkerQueue.objects.update_or_create(
            hostname=hostname[:200], queue=queue[:200], defaults={"seen_at": now}
        )


def presence_forget(*, hostname: str) -> None:
    """The worker stopped: its queues are no longer served by it."""
    WorkerQueue.objects.filter(hostname=hostname[:200]).delete()


def queue_served(*, queue: str, now: dt.datetime | None = None) -> bool:
    """Whether a worker consuming `queue` was seen within ATELIER_WORKER_ABSENT_AFTER_S."""
    now = now or timezone.now()
    recent = now - dt.timedelta(seconds=settings.ATELIER_WORKER_ABSENT_AFTER_S)
    return WorkerQueue.objects.filter(queue=queue, seen_at__gte=recent).exists()


class Presence:
    """The thread a worker runs to keep its rows fresh; a database away only skips a beat."""

    def __init__(self, hostname: str, queues: list[str]) -> None:
        self.hostname = hostname
        self.queues = queues
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            presence_forget(hostname=self.hostname)
        except Exception:
            logger.exception("could not remove the presence of %s", self.hostname)
        finally:
            connection.close()

    def _run(self) -> None:
        try:
            while True:
                try:
                    presence_record(hostname=self.hostname, queues=self.queues)
                except Exception:
                    logger.exception("could not record the presence of %s", self.hostname)
                if self._stop.wait(settings.ATELIER_WORKER_PRESENCE_INTERVAL_S):
                    return
        finally:
            connection.close()


_running: list[Presence] = []


def on_worker_ready(sender: Any = None, **_: Any) -> None:
    """Celery's worker_ready: start recording the queues this worker consumes."""
    queues = sorted({queue.name for queue in sender.task_consumer.queues})
    presence = Presence(sender.hostname, queues)
    presence.start()
    _running.append(presence)
    logger.info("worker %s serves %s", sender.hostname, ", ".join(queues))


def on_worker_shutdown(**_: Any) -> None:
    """Celery's worker_shutdown: the queues are no longer served by this worker."""
    while _running:
        _running.pop().stop()
