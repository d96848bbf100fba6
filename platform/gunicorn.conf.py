"""gunicorn settings for the web container (docker-compose.yml, service web)."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
# Checkpoint uploads stream to disk; give slow connections time before the worker is recycled.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker: object) -> None:
    """Start the validation forkserver (torch preloaded) before the first upload arrives, so
    that no participant waits the few seconds of its cold start."""
    from models.runner import start_forkserver

    start_forkserver()
