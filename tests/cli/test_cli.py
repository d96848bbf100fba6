"""The `atelier` client against a live server: submit, wait, leaderboard, and every failure
named with the API's error code and its own exit code."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.throttling import AnonRateThrottle

import atelier_cli
from competitions.models import Challenge
from competitions.services import participation_join
from scoring.models import ScoringProfile
from submissions import errors
from submissions.models import Submission
from submissions.services import submission_create
from tests.cli.conftest import CONSOLE_SCRIPT, ROOT, run_cli
from tests.factories import make_challenge
from tests.submissions.processes import Celery, celery_like_make_demo

pytestmark = pytest.mark.django_db(transaction=True)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SCORED_WITHIN_S = 240


@pytest.fixture
def celery(settings, tmp_path: Path) -> Iterator[Celery]:
    with celery_like_make_demo(Path(settings.MEDIA_ROOT), tmp_path) as processes:
        yield processes


@pytest.fixture
def joined(participant: User, challenge: Challenge) -> Challenge:
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


@pytest.mark.slow
def test_cli_submits_and_waits_for_a_score_from_a_real_worker(
    live_server, celery: Celery, cli_env, organizer, participant, tiny_checkpoint: Path
) -> None:
    challenge = make_challenge(
        slug="live", organizers=(organizer,), content_public=2, content_hidden=3
    )
    ScoringProfile.objects.create(challenge=challenge, judge_steps=10, gallery_size=2)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    env = {
        **cli_env,
        "ATELIER_URL": live_server.url,
        "ATELIER_TOKEN": Token.objects.create(user=participant).key,
    }

    result = run_cli(
        "submit",
        "--challenge",
        "live",
        "--arch",
        "transformer_net",
        str(tiny_checkpoint),
        "--description",
        "from the terminal",
        "--wait",
        "--timeout",
        str(SCORED_WITHIN_S),
        env=env,
        timeout=SCORED_WITHIN_S + 30,
        script=True,
    )

    assert result.returncode == 0, result.stderr + celery.logs_tail()
    lines = result.stdout.splitlines()
    assert UUID.match(lines[0]), result.stdout
    submission = Submission.objects.get(pk=lines[0])
    assert submission.status == Submission.Status.SCORED
    assert submission.description == "from the terminal"
    assert f"Submission {submission.pk}: scored" in result.stdout
    public = submission.results.get(leaderboard="public")
    composite = next(line for line in lines if line.startswith("composite "))
    assert composite.split()[1] == f"{public.composite:.4g}"
    assert "private" not in result.stdout  # hidden from participants until revealed
    # Not a terminal: plain progress lines, no carriage returns.
    assert "\r" not in result.stderr
    assert "uploading tiny.safetensors: 100%" in result.stderr

    board = run_cli("leaderboard", "live", env={**cli_env, "ATELIER_URL": live_server.url})
    assert board.returncode == 0, board.stderr
    table = board.stdout.splitlines()
    rows = table[table.index(next(line for line in table if set(line) == {"-", " "})) + 1 :]
    assert rows[0].split()[:2] == ["1", "participant"], board.stdout
    assert f"{public.composite:.4g}" in rows[0].split()

    status = run_cli("status", str(submission.pk), env=env)
    assert status.returncode == 0, status.stderr
    assert "composite" in status.stdout


def test_bad_token_is_named_with_its_own_exit_code(live_server, cli_env) -> None:
    env = {**cli_env, "ATELIER_URL": live_server.url, "ATELIER_TOKEN": "not-a-real-token"}
    result = run_cli("status", str(uuid.uuid4()), env=env)
    assert result.returncode == atelier_cli.EXIT_AUTH == 3
    assert "error: authentication_failed: Invalid token. (HTTP 401)" in result.stderr
    assert "hint: Check the token in ATELIER_TOKEN" in result.stderr
    assert result.stdout == ""


def test_missing_token_stops_before_any_request(cli_env, tiny_checkpoint: Path) -> None:
    # Nothing listens at this address: a request would end in a connection error instead.
    env = {**cli_env, "ATELIER_URL": f"http://127.0.0.1:{free_port()}"}
    result = run_cli(
        "submit", "--challenge", "x", "--arch", "transformer_net", str(tiny_checkpoint), env=env
    )
    assert result.returncode == atelier_cli.EXIT_AUTH
    assert "error: no_token: No API token: set ATELIER_TOKEN" in result.stderr


def test_missing_file_is_reported_before_the_upload(
    live_server, cli_env, participant_token: str, tmp_path: Path
) -> None:
    env = {**cli_env, "ATELIER_URL": live_server.url, "ATELIER_TOKEN": participant_token}
    missing = tmp_path / "nowhere.safetensors"
    result = run_cli("submit", "--challenge", "challenge-a", "--arch", "x", str(missing), env=env)
    assert result.returncode == atelier_cli.EXIT_LOCAL_FILE == 9
    assert f"error: file_not_found: {missing} does not exist." in result.stderr
    assert not Submission.objects.exists()


def test_refusal_by_the_service_shows_its_code_and_sentence(
    live_server, cli_env, participant_token: str, challenge: Challenge, tiny_checkpoint: Path
) -> None:
    env = {**cli_env, "ATELIER_URL": live_server.url, "ATELIER_TOKEN": participant_token}
    result = run_cli(
        "submit",
        "--challenge",
        challenge.slug,
        "--arch",
        "transformer_net",
        str(tiny_checkpoint),
        env=env,
    )
    assert result.returncode == atelier_cli.EXIT_REFUSED == 4
    assert f"error: not_a_participant: {errors.NOT_PARTICIPANT[1]} (HTTP 400)" in result.stderr
    assert result.stdout == ""


def test_unknown_challenge_and_bad_config_are_refused(
    live_server, cli_env, participant_token: str, joined: Challenge, tiny_checkpoint: Path
) -> None:
    env = {**cli_env, "ATELIER_URL": live_server.url, "ATELIER_TOKEN": participant_token}
    result = run_cli(
        "submit",
        "--challenge",
        "no-such-challenge",
        "--arch",
        "transformer_net",
        str(tiny_checkpoint),
        env=env,
    )
    assert result.returncode == atelier_cli.EXIT_REFUSED
    assert "error: not_found:" in result.stderr
    assert "(HTTP 404)" in result.stderr

    result = run_cli(
        "submit",
        "--challenge",
        joined.slug,
        "--arch",
        "transformer_net",
        "--config",
        "[1]",
        str(tiny_checkpoint),
        env=env,
    )
    assert result.returncode == atelier_cli.EXIT_USAGE
    assert "error: config_not_object:" in result.stderr

    result = run_cli(
        "submit",
        "--challenge",
        joined.slug,
        "--arch",
        "transformer_net",
        "--phase",
        "Final",
        str(tiny_checkpoint),
        env=env,
    )
    assert result.returncode == atelier_cli.EXIT_REFUSED
    assert "error: unknown_phase: This challenge has no phase called “Final”." in result.stderr
    assert not Submission.objects.exists()


def test_upload_above_the_server_limit_is_refused_with_its_code(
    live_server, settings, cli_env, participant_token: str, joined: Challenge, tmp_path: Path
) -> None:
    settings.ATELIER_MAX_UPLOAD_BYTES = 1000
    big = tmp_path / "big.safetensors"
    big.write_bytes(os.urandom(5000))
    env = {**cli_env, "ATELIER_URL": live_server.url, "ATELIER_TOKEN": participant_token}
    result = run_cli(
        "submit", "--challenge", joined.slug, "--arch", "transformer_net", str(big), env=env
    )
    assert result.returncode == atelier_cli.EXIT_REFUSED
    assert "error: upload_too_large: The upload is" in result.stderr
    assert "(HTTP 413)" in result.stderr


def test_validation_errors_list_the_fields(
    live_server, cli_env, participant_token: str, joined: Challenge, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    env = {**cli_env, "ATELIER_URL": live_server.url, "ATELIER_TOKEN": participant_token}
    result = run_cli(
        "submit", "--challenge", joined.slug, "--arch", "transformer_net", str(empty), env=env
    )
    assert result.returncode == atelier_cli.EXIT_REFUSED
    assert "error: invalid: Invalid input. (HTTP 400)" in result.stderr
    assert "  checkpoint: The submitted file is empty." in result.stderr


class CannedServer:
    """A local HTTP server that answers every request with one fixed response, for answers
    the test server cannot be made to give (an error page, an older server)."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        canned = (status, body, headers)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code, content, extra = canned
                self.send_response(code)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CannedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_throttled_answer_says_when_to_come_back(live_server, cli_env, challenge) -> None:
    # The server's own throttle, with the anonymous rate turned down to one request a minute.
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(AnonRateThrottle.THROTTLE_RATES, "anon", "1/minute")
        env = {**cli_env, "ATELIER_URL": live_server.url}
        first = run_cli("leaderboard", challenge.slug, env=env)
        second = run_cli("leaderboard", challenge.slug, env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == atelier_cli.EXIT_THROTTLED == 5
    assert "error: throttled: Request was throttled." in second.stderr
    assert "(HTTP 429)" in second.stderr
    assert re.search(r"hint: Try again in (60|59) seconds\.", second.stderr), second.stderr


def test_server_error_page_and_unreachable_server(cli_env) -> None:
    page = b"<html><body><h1>Server Error (500)</h1></body></html>"
    with CannedServer(500, page, {"Content-Type": "text/html"}) as server:
        result = run_cli("leaderboard", "anything", env={**cli_env, "ATELIER_URL": server.url})
    assert result.returncode == atelier_cli.EXIT_SERVER == 6
    assert "error: http_500: <html><body><h1>Server Error (500)</h1></body></html>" in (
        result.stderr
    )

    env = {**cli_env, "ATELIER_URL": f"http://127.0.0.1:{free_port()}"}
    result = run_cli("leaderboard", "anything", env=env)
    assert result.returncode == atelier_cli.EXIT_CONNECTION == 7
    assert "error: connection_failed: Cannot reach http://127.0.0.1:" in result.stderr


def test_token_and_address_come_from_the_config_file(
    live_server, cli_env, participant: User, joined: Challenge, tiny_checkpoint: Path, tmp_path
) -> None:
    submission = submission_create(
        user=participant,
        challenge=joined,
        checkpoint_path=tiny_checkpoint,
        checkpoint_name="tiny.safetensors",
        architecture="transformer_net",
    )
    config = Path(cli_env["HOME"], ".config", "atelier", "config.toml")
    config.parent.mkdir(parents=True)
    token = Token.objects.create(user=participant).key
    config.write_text(f'url = "{live_server.url}"\ntoken = "{token}"\n')

    result = run_cli("status", str(submission.pk), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Submission {submission.pk}: queued (")

    elsewhere = tmp_path / "other.toml"
    elsewhere.write_text('token = "stale"\n')
    env = {**cli_env, "ATELIER_CONFIG": str(elsewhere), "ATELIER_URL": live_server.url}
    result = run_cli("status", str(submission.pk), env=env)
    assert result.returncode == atelier_cli.EXIT_AUTH

    # The environment's token wins over the file's.
    result = run_cli("status", str(submission.pk), env={**env, "ATELIER_TOKEN": token})
    assert result.returncode == 0, result.stderr

    elsewhere.write_text("token = unquoted\n")
    result = run_cli("status", str(submission.pk), env=env)
    assert result.returncode == atelier_cli.EXIT_USAGE
    assert f"error: config_invalid: Cannot read the configuration file {elsewhere}" in (
        result.stderr
    )


def test_wait_ends_non_zero_on_failed_and_cancelled_and_gives_up_at_the_timeout(
    live_server, cli_env, participant: User, joined: Challenge, tiny_checkpoint: Path
) -> None:
    submission = submission_create(
        user=participant,
        challenge=joined,
        checkpoint_path=tiny_checkpoint,
        checkpoint_name="tiny.safetensors",
        architecture="transformer_net",
    )
    env = {
        **cli_env,
        "ATELIER_URL": live_server.url,
        "ATELIER_TOKEN": Token.objects.create(user=participant).key,
    }
    result = run_cli("status", str(submission.pk), "--wait", "--timeout", "1.5", env=env)
    assert result.returncode == atelier_cli.EXIT_TIMEOUT == 8
    assert "error: wait_timeout:" in result.stderr
    assert "scoring:   0% queued" in result.stderr

    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.FAILED,
        error_code="time_limit",
        error_message="The generator took longer than 60 s.",
    )
    result = run_cli("status", str(submission.pk), "--wait", env=env)
    assert result.returncode == atelier_cli.EXIT_SUBMISSION_FAILED == 1
    assert "error: time_limit: The generator took longer than 60 s." in result.stdout

    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.CANCELLED, error_code="", error_message=""
    )
    result = run_cli("status", str(submission.pk), env=env)
    assert result.returncode == atelier_cli.EXIT_SUBMISSION_FAILED
    assert result.stdout == f"Submission {submission.pk}: cancelled\n"


def test_upload_bar_redraws_in_place_on_a_terminal(
    live_server, cli_env, participant_token: str, joined: Challenge, tiny_checkpoint: Path
) -> None:
    env = {**cli_env, "ATELIER_URL": live_server.url, "ATELIER_TOKEN": participant_token}
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run(
            [
                sys.executable,
                str(ROOT / "atelier_cli.py"),
                "submit",
                "--challenge",
                joined.slug,
                "--arch",
                "transformer_net",
                str(tiny_checkpoint),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
            check=False,
        )
        os.close(terminal)
        terminal = -1
        shown = read_all(controller)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert process.returncode == 0, shown
    assert UUID.match(process.stdout.strip())
    assert "\ruploading tiny.safetensors [" in shown
    assert "####] 100%" in shown


def test_private_leaderboard_is_refused_and_empty_public_board_says_so(
    live_server, cli_env, challenge: Challenge
) -> None:
    env = {**cli_env, "ATELIER_URL": live_server.url}
    result = run_cli("leaderboard", challenge.slug, env=env)
    assert result.returncode == 0, result.stderr
    assert "challenge-a · Development · public leaderboard (0 rows)" in result.stdout
    assert "No scored submission on this leaderboard yet." in result.stdout

    result = run_cli("leaderboard", challenge.slug, "--board", "private", env=env)
    assert result.returncode == atelier_cli.EXIT_REFUSED
    assert "error: permission_denied:" in result.stderr


def test_submissions_lists_own_submissions(
    live_server, cli_env, participant: User, joined: Challenge, tiny_checkpoint: Path
) -> None:
    submission = submission_create(
        user=participant,
        challenge=joined,
        checkpoint_path=tiny_checkpoint,
        checkpoint_name="tiny.safetensors",
        architecture="transformer_net",
        description="listed",
    )
    env = {
        **cli_env,
        "ATELIER_URL": live_server.url,
        "ATELIER_TOKEN": Token.objects.create(user=participant).key,
    }
    result = run_cli("submissions", joined.slug, env=env)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if str(submission.pk) in line)
    assert row.split()[3:6] == ["Development", "queued", "transformer_net"]
    assert row.endswith("listed")

    result = run_cli("submissions", joined.slug, "--status", "scored", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "No submissions yet.\n"


def test_submissions_on_a_server_without_the_listing_says_where_to_look(cli_env) -> None:
    body = {"error_code": "method_not_allowed", "detail": 'Method "GET" not allowed.'}
    with CannedServer(
        405, json.dumps(body).encode(), {"Content-Type": "application/json"}
    ) as server:
        env = {**cli_env, "ATELIER_URL": server.url, "ATELIER_TOKEN": "t"}
        result = run_cli("submissions", "some-challenge", env=env)
    assert result.returncode == atelier_cli.EXIT_REFUSED
    assert "error: not_supported:" in result.stderr
    assert f"{server.url}/challenges/some-challenge/submissions/ in a browser" in result.stderr


def test_help_documents_the_exit_codes() -> None:
    assert CONSOLE_SCRIPT.exists(), "run `pip install -e .` to install the atelier script"
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for code, meaning in ((3, "no API token"), (5, "too many requests"), (9, "checkpoint file")):
        assert re.search(rf"^  {code} +.*{meaning}", result.stdout, re.MULTILINE), result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_all(descriptor: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # EIO: the other end is closed and everything has been read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
