"""Celery settings (read by config/celery.py through the CELERY_ namespace)."""

from __future__ import annotations

from pathlib import Path

import environ

env = environ.Env()
_VAR_DIR = Path(
    env.str("ATELIER_VAR_DIR", default=str(Path(__file__).resolve().parents[2] / "var"))
)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")

# The longest a scoring task may take before the broker hands its message to another
# worker. It must stay above the longest phase time limit, or a slow but healthy scoring
# run would be delivered twice (the conditional claim makes that harmless, but wasteful).
ATELIER_BROKER_VISIBILITY_TIMEOUT_S = env.int(
    "ATELIER_BROKER_VISIBILITY_TIMEOUT_S", default=6 * 3600
)


def filesystem_transport_options(folder: Path) -> dict[str, object]:
    """Options of kombu's filesystem transport, with its folders created under ``folder``."""
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_transport_options(_VAR_DIR / "celery")
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": ATELIER_BROKER_VISIBILITY_TIMEOUT_S,
    }

# State lives in the database (submission status, results); nothing reads task results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "scoring.tasks.*": {"queue": "scoring"},
    "submissions.lifecycle.score": {"queue": "scoring"},
    "submissions.baseline.train": {"queue": "scoring"},
}
# Tasks outside the apps' `tasks` modules (autodiscovered): the submission lifecycle keeps its
# tasks next to its services, the baseline next to its training.
CELERY_IMPORTS = ("submissions.lifecycle", "submissions.baseline")
CELERY_TASK_ACKS_LATE = True
# A worker killed mid-task (OOM killer, deploy) must give the message back, not drop it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(_VAR_DIR / "celerybeat-schedule")
# Together these guarantee that no submission stays stuck: the reaper requeues (or fails)
# running submissions whose worker is gone; the dispatcher re-sends queued ones whose
# message was lost (a broker restart).
CELERY_BEAT_SCHEDULE = {
    "submissions-reap": {
        "task": "submissions.lifecycle.reap",
        "schedule": env.float("ATELIER_REAP_INTERVAL_S", default=60.0),
    },
    "submissions-dispatch": {
        "task": "submissions.lifecycle.dispatch",
        "schedule": env.float("ATELIER_DISPATCH_INTERVAL_S", default=60.0),
    },
}
CELERY_TIMEZONE = "UTC"
