"""Celery settings (read by config/celery.py through the CELERY_ namespace)."""

from __future__ import annotations

from pathlib import Path

import environ

env = environ.Env()
_VAR_DIR = Path(
    env.str("ATELIER_VAR_DIR", default=str(Path(__file__).resolve().parents[2] / "var"))
)
_BROKER_DIR = _VAR_DIR / "celery"

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")

# The longest a scoring task may take before the broker hands its message to another
# worker. It must stay above the longest phase time limit, or a slow but healthy scoring
# run would be delivered twice (the conditional claim makes that harmless, but wasteful).
ATELIER_BROKER_VISIBILITY_TIMEOUT_S = env.int(
    "ATELIER_BROKER_VISIBILITY_TIMEOUT_S", default=6 * 3600
)

if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "processed", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
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
}
CELERY_TASK_ACKS_LATE = True
# A worker killed mid-task (OOM killer, deploy) must give the message back, not drop it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(_VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
