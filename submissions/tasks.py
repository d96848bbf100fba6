"""Beat tasks of the default queue: the reaper and the dispatcher (thin: call the service)."""

from __future__ import annotations

from celery import shared_task

from submissions.services import submissions_dispatch, submissions_reap


@shared_task(name="submissions.tasks.reap")
def reap() -> dict[str, int]:
    return submissions_reap()


@shared_task(name="submissions.tasks.dispatch")
def dispatch() -> int:
    return submissions_dispatch()
