"""A production deployment on one machine: the web app, scoring workers, a default worker and
beat, each in a working directory of its own with its own empty media root and temporary
folder, all on config.settings.production with media in the object store.

Each process gets only what the production settings require, plus the test-scale values the
test names; nothing of the test's own environment leaks in (no test settings, no shared media
root). The processes run from their own folders, so PYTHONPATH points them at this checkout.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests
from django.conf import settings

from tests.deploy.object_store import ObjectStore, free_ports
from tests.submissions.processes import ROOT, Celery, database_url

# Signs the web app's sessions; the test signs its own with it to sign in to the web app.
SECRET_KEY = "atelier-deploy-test-secret-key-not-for-any-real-deployment"
WEB_READY_WITHIN_S = 90
# The variables a process needs to start at all, from the test's environment.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL")


def production_environment(store: ObjectStore, **tuning: str) -> dict[str, str]:
    """What config/settings/production.py requires, media in `store`, and `tuning`."""
    return {
        **{name: os.environ[name] for name in KEPT if name in os.environ},
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **store.environment(),
        **tuning,
    }


class Deployment(Celery):
    """The processes of one deployment under `root`: `root/<name>` is the working directory
    of each and `root/<name>/media` its media root; `root/logs` holds their logs and beat's
    schedule. Each has a temporary folder of its own under the system's, whose path is short
    enough for the Unix sockets of its forkserver; they go when the processes stop."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        logs = root / "logs"
        logs.mkdir(parents=True)
        super().__init__(env, logs)
        self.root = root
        self.homes: dict[str, Path] = {}
        self.temporaries: list[Path] = []

    def placement(self, name: str) -> tuple[Path, dict[str, str]]:
        home = self.root / name
        (home / "media").mkdir(parents=True)
        temporary = Path(tempfile.mkdtemp(prefix=f"atelier-{name}-"))
        self.temporaries.append(temporary)
        self.homes[name] = home
        return home, {
            **self.env,
            "ATELIER_MEDIA_ROOT": str(home / "media"),
            "TMPDIR": str(temporary),
        }

    def stop_all(self) -> None:
        super().stop_all()
        while self.temporaries:
            shutil.rmtree(self.temporaries.pop(), ignore_errors=True)

    def web(self) -> str:
        """Start the web app (runserver, as the Procfile does) and return its address once it
        answers."""
        (port,) = free_ports(1)
        process = self.spawn(
            "web",
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
            ],
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WEB_READY_WITHIN_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the web app exited:\n{self.logs_tail()}")
            try:
                if requests.get(f"{base}/api/v1/challenges/", timeout=2).ok:
                    return base
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the web app did not answer in {WEB_READY_WITHIN_S} s")

    def local_files(self) -> dict[str, list[str]]:
        """Every file each process left in its working directory (its media root included)."""
        return {
            name: sorted(str(path.relative_to(home)) for path in home.rglob("*") if path.is_file())
            for name, home in self.homes.items()
        }
