"""A web process of its own for hostile-request tests: `make demo`'s settings under a temporary
folder, a published challenge with a participant and a forum thread, `runserver` in a child.

The server runs in another process so that a test can read that process's memory and so that
a request that freezes or crashes it cannot take the test runner with it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SLUG = "hostile"
READY_WITHIN_S = 90

# Run in a child with the stack's environment: migrate, then the world the requests need.
_SETUP = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from rest_framework.authtoken.models import Token
from competitions.services import participation_join
from tests.factories import UserFactory, make_challenge, make_forum_thread
challenge = make_challenge(slug=%(slug)r)
challenge.phases.update(max_per_day=1000, max_total=1000, max_running=1000)
participant = UserFactory(username="mallory")
participant.set_password("mallory-password")
participant.save()
participation_join(user=participant, challenge=challenge, accept_rules=True)
thread = make_forum_thread(challenge=challenge, author=participant)
print(json.dumps({"token": Token.objects.create(user=participant).key, "thread": thread.pk}))
"""


@dataclass(frozen=True)
class Stack:
    base: str
    token: str
    thread: int
    process: subprocess.Popen

    @property
    def api(self) -> str:
        return f"{self.base}/api/v1"

    def rss_bytes(self) -> int:
        """Resident memory of the web process itself (not of its sandboxed children)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024


def environment(var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "ATELIER_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'atelier.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://localhost//",
        "ATELIER_MEDIA_ROOT": str(var / "media"),
        "ATELIER_LOG_LEVEL": "ERROR",
        # The hostile requests test the parsers and validators, not the rate limits.
        "ATELIER_API_THROTTLE_USER": "100000/minute",
        "ATELIER_API_THROTTLE_SUBMIT": "100000/minute",
        "ATELIER_API_THROTTLE_JOIN": "100000/minute",
        "ATELIER_FORUM_POST_LIMIT": "100000",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stack_start(var: Path) -> Stack:
    env = environment(var)
    setup = subprocess.run(
        [sys.executable, "-c", _SETUP % {"slug": SLUG}],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if setup.returncode != 0:
        raise RuntimeError(f"stack setup failed:\n{setup.stderr[-4000:]}")
    world = json.loads(setup.stdout.strip().splitlines()[-1])
    port = free_port()
    log = (var / "web.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runserver exited: {(var / 'web.log').read_text()[-4000:]}")
        try:
            requests.get(f"{base}/", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.3)
    else:
        process.kill()
        raise RuntimeError("runserver did not answer in time")
    return Stack(base=base, token=world["token"], thread=world["thread"], process=process)


def stack_stop(stack: Stack) -> None:
    stack.process.terminate()
    try:
        stack.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait()
