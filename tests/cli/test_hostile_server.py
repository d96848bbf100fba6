"""The `atelier` client against a server that answers garbage: every command that talks to it
ends with a one-line error and a documented exit code (6: an unexpected answer; 7: the
connection failed or ran past its deadline), within a bound, never with a traceback; and the
token never leaves the server's own address."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import atelier_cli
from tests.cli.conftest import ROOT

TOKEN = "secret-token-0123"
# Short, so that a server dripping bytes costs the test about this long.
DEADLINE_S = 1.5
# Any case ends within the deadline and this much more (interpreter start, a slow machine).
SLACK_S = 8.0
DRIP_EVERY_S = 0.1

Answer = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Hostile.Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        # The upload is read whole first: answering before it would cut the client off.
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            length -= len(self.rfile.read(min(length, 1 << 16)))
        self._answer()

    def _answer(self) -> None:
        self.server.hostile.requests.append((self.command, self.path, dict(self.headers)))
        self.close_connection = True
        # OSError: the client gave up (as it should); nothing to clean up.
        with contextlib.suppress(OSError):
            self.server.hostile.answer(self)

    def raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.raw(
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    def drip(self, data: bytes) -> None:
        """One byte at a time, until the test ends or the client hangs up."""
        for byte in data:
            if self.server.hostile.closing.wait(DRIP_EVERY_S):
                return
            self.raw(bytes([byte]))

    def log_message(self, *args: object) -> None:
        pass


class Hostile:
    """A local HTTP server that answers every request with `answer` and records what it got."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        hostile: Hostile

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.closing = threading.Event()
        self.server = Hostile.Server(("127.0.0.1", 0), Handler)
        self.server.hostile = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval: shutting down waits for the next poll.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def json_answer(value: Any, status: int = 200) -> Answer:
    body = json.dumps(value).encode()
    return lambda handler: handler.send(status, body)


def raw_answer(data: bytes) -> Answer:
    return lambda handler: handler.raw(data)


def huge_declared(handler: Handler) -> None:
    handler.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    handler.raw(b"Content-Length: 100000000000\r\n\r\n[")
    for _ in range(20):
        handler.raw(b" " * 65536)


def huge_streamed(handler: Handler) -> None:
    """Chunked, so that no header gives the size away: 64 MB of a JSON list of zeros."""
    handler.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    handler.raw(b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n")
    piece = b"0," * 32768
    for _ in range(1000):
        handler.raw(b"%x\r\n%s\r\n" % (len(piece), piece))


def redirect_to(where: Callable[[Handler], str]) -> Answer:
    def answer(handler: Handler) -> None:
        handler.raw(
            f"HTTP/1.1 302 Found\r\nLocation: {where(handler)}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n".encode()
        )

    return answer


def drip_body(handler: Handler) -> None:
    handler.raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    handler.drip(b'{"id": "s1", "status": "scored"' + b" " * 900 + b"}")


def drip_headers(handler: Handler) -> None:
    handler.raw(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    handler.drip(b"a" * 1000)


def truncated_chunked(handler: Handler) -> None:
    handler.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    handler.raw(b'Transfer-Encoding: chunked\r\n\r\n40\r\n{"id": "s1", "sta')


def truncated_length(handler: Handler) -> None:
    handler.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    handler.raw(b'{"id": "s1", "sta')


# One body that every command reads a wrong type from.
STRINGS_FOR_NUMBERS = {
    "id": "s1",
    "status": "running",
    "stage": "generating",
    "progress": "0.5",
    "challenge": "c",
    "phase": "p",
    "board": "public",
    "count": "1",
    "pages": "1",
    "entries": [{"rank": "1", "participant": "p", "scores": {"composite": "0.5"}}],
    "results": [{"id": "s1", "status": "queued", "phase": "p"}],
}
NUMBERS_FOR_STRINGS = {
    "id": "s1",
    "status": "failed",
    "error_code": 7,
    "error_message": 8,
    "challenge": 1,
    "entries": [{"participant": 2}],
    "results": [{"id": "s1", "status": "failed", "error_code": 3}],
}
NESTED = {
    "id": "s1",
    "status": {"status": {"status": "scored"}},
    "challenge": {"a": {"b": {}}},
    "entries": [[[[{"rank": 1}]]]],
    "results": [[{"id": "s1"}]],
}
HTML_500 = b"<html><body><h1>Server Error (500)</h1><p>\x1b[2J</p></body></html>"

# Case: (the server's answer, the exit code, the error code it prints).
CASES: dict[str, tuple[Answer, int, str]] = {
    "list": (json_answer([1, "two", None]), 6, "unexpected_response"),
    "null": (json_answer(None), 6, "unexpected_response"),
    "strings_for_numbers": (json_answer(STRINGS_FOR_NUMBERS), 6, "unexpected_response"),
    "numbers_for_strings": (json_answer(NUMBERS_FOR_STRINGS), 6, "unexpected_response"),
    "nested_where_text_belongs": (json_answer(NESTED), 6, "unexpected_response"),
    "nested_too_deep_to_parse": (
        lambda handler: handler.send(200, b"[" * 100_000 + b"]" * 100_000),
        6,
        "unexpected_response",
    ),
    "not_json": (
        lambda handler: handler.send(200, b"hello", "text/plain"),
        6,
        "unexpected_response",
    ),
    "empty_body": (lambda handler: handler.send(200, b""), 6, "unexpected_response"),
    "html_500": (lambda handler: handler.send(500, HTML_500, "text/html"), 6, "http_500"),
    "error_of_wrong_shape": (
        json_answer({"error_code": {"a": 1}, "detail": [1], "fields": [2]}, status=503),
        6,
        "http_503",
    ),
    "huge_declared": (huge_declared, 6, "answer_too_large"),
    "huge_streamed": (huge_streamed, 6, "answer_too_large"),
    "redirect_loop": (redirect_to(lambda handler: handler.path), 6, "too_many_redirects"),
    "redirect_without_location": (raw_answer(b"HTTP/1.1 302 Found\r\n\r\n"), 6, "http_302"),
    "slow_drip_of_the_body": (drip_body, 7, "timeout"),
    "slow_drip_of_the_headers": (drip_headers, 7, "timeout"),
    "truncated_chunked_body": (truncated_chunked, 7, "connection_broken"),
    "truncated_body": (truncated_length, 7, "connection_broken"),
    "not_http": (raw_answer(b"SSH-2.0-OpenSSH_9.6\r\n"), 7, "connection_failed"),
}
# The loop's requests: the first and every redirect followed.
MAX_REDIRECTS_SEEN = atelier_cli.MAX_REDIRECTS + 1
# An upload redirected cannot be sent again: the client says so instead of looping.
UPLOAD_CODES = {"redirect_loop": "redirected_elsewhere"}


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"not checked by the client" * 100)
    return path


@pytest.fixture
def commands(checkpoint: Path) -> dict[str, list[str]]:
    """Every command that talks to the server; submit waits, so that it polls as well."""
    return {
        "submit": [
            "submit",
            "--challenge",
            "c",
            "--arch",
            "transformer_net",
            str(checkpoint),
            "--wait",
            "--timeout",
            "5",
        ],
        "status": ["status", "s1"],
        "leaderboard": ["leaderboard", "c", "--all-metrics"],
        "submissions": ["submissions", "c"],
    }


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], None]:
    """Point the in-process client at a server, with the token and the short deadline."""

    def point_at(url: str) -> None:
        for name in ("ATELIER_CONFIG",):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("ATELIER_URL", url)
        monkeypatch.setenv("ATELIER_TOKEN", TOKEN)
        monkeypatch.setenv("ATELIER_REQUEST_DEADLINE", str(DEADLINE_S))

    return point_at


def run_main(argv: list[str]) -> tuple[int, str, str, float]:
    """`atelier ARGV` in this process: exit code, stdout, stderr and seconds taken."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = atelier_cli.main(argv)
    return code, out.getvalue(), err.getvalue(), time.monotonic() - started


def assert_clean(stdout: str, stderr: str) -> None:
    assert "Traceback" not in stderr + stdout
    # Nothing from the server reaches the terminal raw: no escape sequences, no fake lines.
    assert all(char.isprintable() or char == "\n" for char in stdout + stderr), repr(stderr)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["submit", "status", "leaderboard", "submissions"])
def test_garbage_answers_end_with_a_documented_code(
    case: str, command: str, commands, environment
) -> None:
    answer, exit_code, error_code = CASES[case]
    if command == "submit":
        error_code = UPLOAD_CODES.get(case, error_code)
    with Hostile(answer) as server:
        environment(server.url)
        code, stdout, stderr, seconds = run_main(commands[command])

    assert code == exit_code, stderr
    # Before it, submit's progress lines; after it, at most a hint.
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, stderr
    assert error_lines[0].startswith(f"error: {error_code}: "), stderr
    assert_clean(stdout, stderr)
    assert seconds < DEADLINE_S + SLACK_S
    assert all(
        headers.get("Authorization") == f"Token {TOKEN}" for _, _, headers in server.requests
    )


@pytest.mark.parametrize("case", ["list", "numbers_for_strings", "huge_streamed", "redirect_loop"])
def test_waiting_stops_at_an_answer_that_will_not_improve(case: str, environment) -> None:
    answer, exit_code, error_code = CASES[case]
    with Hostile(answer) as server:
        environment(server.url)
        code, stdout, stderr, seconds = run_main(["status", "s1", "--wait", "--timeout", "30"])
    assert (code, exit_code) == (atelier_cli.EXIT_SERVER, atelier_cli.EXIT_SERVER)
    assert f"error: {error_code}: " in stderr
    assert_clean(stdout, stderr)
    assert seconds < SLACK_S
    assert len(server.requests) <= MAX_REDIRECTS_SEEN


@pytest.mark.parametrize(
    "case", ["html_500", "error_of_wrong_shape", "slow_drip_of_the_body", "truncated_body"]
)
def test_waiting_polls_through_what_a_restart_looks_like_until_its_timeout(
    case: str, environment
) -> None:
    answer, _, error_code = CASES[case]
    with Hostile(answer) as server:
        environment(server.url)
        code, stdout, stderr, seconds = run_main(["status", "s1", "--wait", "--timeout", "2"])
    assert code == atelier_cli.EXIT_TIMEOUT
    assert f"scoring:   0% {error_code}: retrying" in stderr
    assert "error: wait_timeout: Submission s1 was still not finished after 2 s" in stderr
    assert_clean(stdout, stderr)
    assert seconds < 2 + DEADLINE_S + SLACK_S


@pytest.mark.parametrize("command", ["submit", "status", "leaderboard", "submissions"])
def test_a_redirect_to_another_port_is_not_followed_and_the_token_stays_home(
    command: str, commands, environment
) -> None:
    elsewhere = Hostile(json_answer({"id": "s1", "status": "scored"}))
    with elsewhere, Hostile(redirect_to(lambda handler: elsewhere.url + handler.path)) as server:
        environment(server.url)
        code, stdout, stderr, _ = run_main(commands[command])

    assert code == atelier_cli.EXIT_SERVER
    assert f"error: redirected_elsewhere: {server.url}/api/v1/" in stderr
    assert f"redirects to {elsewhere.url}/api/v1/" in stderr
    assert "hint: If the server has moved, set ATELIER_URL" in stderr
    assert_clean(stdout, stderr)
    assert elsewhere.requests == []
    assert len(server.requests) == 1


def test_a_redirect_within_the_server_is_followed_with_the_token(environment) -> None:
    def answer(handler: Handler) -> None:
        if handler.path.startswith("/api/v1/submissions/old/"):
            redirect_to(lambda _: "/api/v1/submissions/new/")(handler)
        else:
            json_answer({"id": "new", "status": "cancelled"})(handler)

    with Hostile(answer) as server:
        environment(server.url)
        code, stdout, stderr, _ = run_main(["status", "old"])
    assert code == atelier_cli.EXIT_SUBMISSION_FAILED, stderr
    assert stdout == "Submission new: cancelled\n"
    assert [path for _, path, _ in server.requests] == [
        "/api/v1/submissions/old/",
        "/api/v1/submissions/new/",
    ]
    assert all(headers["Authorization"] == f"Token {TOKEN}" for _, _, headers in server.requests)


def test_server_text_is_shown_without_escape_sequences(environment) -> None:
    failed = {
        "id": "s1\x1b]0;pwned\x07",
        "status": "failed",
        "error_code": "bad\ncode",
        "error_message": "line one\nerror: fake second line \x1b[31mred\x1b[0m",
        "scores": {"public\x1b[2J": {"composite\r": 0.5}},
    }
    with Hostile(json_answer(failed)) as server:
        environment(server.url)
        code, stdout, stderr, _ = run_main(["status", "s1"])
    assert code == atelier_cli.EXIT_SUBMISSION_FAILED, stderr
    assert_clean(stdout, stderr)
    assert stdout.splitlines()[:2] == [
        "Submission s1?]0;pwned?: failed",
        "error: bad?code: line one?error: fake second line ?[31mred?[0m",
    ]


def test_the_deadline_must_be_a_positive_number(environment) -> None:
    environment("http://127.0.0.1:9")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATELIER_REQUEST_DEADLINE", "soon")
        code, _, stderr, _ = run_main(["status", "s1"])
    assert code == atelier_cli.EXIT_USAGE
    assert stderr.startswith("error: bad_deadline: ATELIER_REQUEST_DEADLINE must be")


def test_a_bug_in_the_client_is_a_short_message_not_a_traceback(
    environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> int:
        raise ZeroDivisionError("division by zero")

    environment("http://127.0.0.1:9")
    monkeypatch.setattr(atelier_cli, "command_status", broken)
    code, _, stderr, _ = run_main(["status", "s1"])
    assert code == atelier_cli.EXIT_INTERNAL == 10
    assert stderr.startswith("error: internal_error: ZeroDivisionError: division by zero\n")
    assert "please report it" in stderr


@pytest.mark.parametrize(
    "case", ["slow_drip_of_the_headers", "truncated_chunked_body", "huge_streamed", "list"]
)
def test_as_a_separate_process_it_ends_in_time_without_a_traceback(
    case: str, cli_env: dict[str, str]
) -> None:
    """The installed entry point, not only `main`: a thread left reading a dripping answer
    must not keep the process alive."""
    answer, exit_code, error_code = CASES[case]
    env = {**cli_env, "ATELIER_TOKEN": TOKEN, "ATELIER_REQUEST_DEADLINE": str(DEADLINE_S)}
    with Hostile(answer) as server:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(ROOT / "atelier_cli.py"), "status", "s1"],
            env={**env, "ATELIER_URL": server.url},
            capture_output=True,
            text=True,
            timeout=DEADLINE_S + SLACK_S,
            check=False,
        )
        seconds = time.monotonic() - started
    assert result.returncode == exit_code, result.stderr
    assert result.stderr.startswith(f"error: {error_code}: ")
    assert_clean(result.stdout, result.stderr)
    assert seconds < DEADLINE_S + SLACK_S


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
TEXT = st.text(max_size=20)
# What a server may send in a number field: null, NaN and infinities included.
NUMBER = st.none() | st.integers(-(10**15), 10**15) | st.floats()


def api_shapes(
    number: st.SearchStrategy, text: st.SearchStrategy, flag: st.SearchStrategy
) -> dict[str, st.SearchStrategy]:
    """Answers shaped like the API's, for each command, with these strategies for the fields."""
    metrics = st.dictionaries(TEXT, number, max_size=4)
    # A submission's scores per leaderboard; an entry's for its own.
    scores = st.dictionaries(TEXT, metrics, max_size=3)
    submission = st.fixed_dictionaries(
        {"id": st.uuids().map(str), "status": st.sampled_from(atelier_cli.STATUSES)},
        optional={
            "stage": text,
            "progress": number,
            "error_code": text,
            "error_message": text,
            "scores": scores,
            "created_at": text,
            "phase": text,
            "architecture": text,
            "description": text,
        },
    )
    entry = st.fixed_dictionaries(
        {},
        optional={
            "rank": number.filter(lambda n: not isinstance(n, float)),
            "participant": text,
            "scores": metrics,
            "score": number,
            "is_baseline": flag,
            "stale": flag,
        },
    )
    page = st.fixed_dictionaries(
        {},
        optional={
            "challenge": text,
            "phase": text,
            "board": text,
            "rule": text,
            "entries": st.lists(entry, max_size=3),
            "results": st.lists(submission, max_size=3),
        },
    )
    return {"status": submission, "leaderboard": page, "submissions": page}


WELL_TYPED = api_shapes(NUMBER, TEXT, st.booleans())
# Each field holds what the API sends there about as often as anything else, so that the
# examples reach past the first check.
LOOSE = api_shapes(NUMBER | JSON, TEXT | JSON, st.booleans() | JSON)
ANSWERS = JSON | st.one_of(*LOOSE.values()) | st.lists(LOOSE["status"], max_size=3)
COMMANDS = {
    "status": ["status", "s1"],
    "leaderboard": ["leaderboard", "c", "--all-metrics"],
    "submissions": ["submissions", "c"],
}


@pytest.fixture(scope="module")
def answering() -> Iterator[Hostile]:
    """One server for every example; each sets what it answers."""
    with Hostile(json_answer(None)) as server:
        yield server


@pytest.mark.parametrize("command", list(COMMANDS))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=ANSWERS)
def test_any_json_answer_gives_a_report_or_a_one_line_error(
    answering: Hostile, environment, command: str, value: Any
) -> None:
    answering.answer = json_answer(value)
    environment(answering.url)
    code, stdout, stderr, _ = run_main(COMMANDS[command])
    assert code in (
        atelier_cli.EXIT_OK,
        atelier_cli.EXIT_SUBMISSION_FAILED,
        atelier_cli.EXIT_SERVER,
    )
    assert_clean(stdout, stderr)
    if code == atelier_cli.EXIT_SERVER:
        assert stderr.startswith("error: unexpected_response: "), stderr
        assert stdout == ""


@pytest.mark.parametrize("command", list(COMMANDS))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_answer_of_the_right_shape_is_reported(
    answering: Hostile, environment, command: str, data: st.DataObject
) -> None:
    """The checks refuse nothing the API may send: NaN, null and negative numbers included."""
    value = data.draw(WELL_TYPED[command])
    answering.answer = json_answer(value)
    environment(answering.url)
    code, stdout, stderr, _ = run_main(COMMANDS[command])
    failed = command == "status" and value["status"] in ("failed", "cancelled")
    assert code == (atelier_cli.EXIT_SUBMISSION_FAILED if failed else atelier_cli.EXIT_OK), stderr
    assert_clean(stdout, stderr)
