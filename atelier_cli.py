#!/usr/bin/env python3
"""atelier: submit checkpoints to an Atelier server and follow them from a terminal.

One file that needs only Python 3.11+ and ``requests``, so that a participant can download it
from a challenge's Data tab and run it on a training machine without installing the platform.
It speaks the REST API of DESIGN.md section 9 and nothing else.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests

__version__ = "1.0"

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_CONFIG = "~/.config/atelier/config.toml"
# For the help text only: the server decides what it accepts and says why it refuses.
ARCHITECTURES = ("transformer_net", "resnet_generator", "unet_generator", "adain", "exported")
IO_RANGES = ("0-1", "0-255", "-1-1")
ACTIVE = ("queued", "running")

# Exit codes: stable, so that scripts can tell "try again later" from "fix your input".
EXIT_OK = 0
EXIT_SUBMISSION_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_REFUSED = 4
EXIT_THROTTLED = 5
EXIT_SERVER = 6
EXIT_CONNECTION = 7
EXIT_TIMEOUT = 8
EXIT_LOCAL_FILE = 9
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = f"""\
exit codes:
  {EXIT_OK}    success (status/submit --wait: the submission was scored)
  {EXIT_SUBMISSION_FAILED}    the submission failed or was cancelled
  {EXIT_USAGE}    bad command line or configuration file
  {EXIT_AUTH}    no API token, or the server refused it (401)
  {EXIT_REFUSED}    the server refused the request (other 4xx: quota, validation, not found...)
  {EXIT_THROTTLED}    too many requests (429): wait and try again
  {EXIT_SERVER}    the server failed (5xx) or answered something unexpected
  {EXIT_CONNECTION}    the server could not be reached
  {EXIT_TIMEOUT}    --wait gave up after --timeout seconds
  {EXIT_LOCAL_FILE}    the checkpoint file is missing or unreadable

configuration:
  ATELIER_TOKEN   API token (else `token` in the configuration file)
  ATELIER_URL     server address (--url wins; else `url` in the file, else {DEFAULT_URL})
  ATELIER_CONFIG  configuration file (default {DEFAULT_CONFIG}), TOML:
                    url = "https://atelier.example.org"
                    token = "0123abcd..."
"""

# How many bytes the upload reads and sends at a time.
UPLOAD_CHUNK = 256 * 1024
# (connect, read) timeouts in seconds; an upload's answer waits for the server to check the
# checkpoint, which takes longer than an ordinary request.
REQUEST_TIMEOUT = (10, 60)
UPLOAD_TIMEOUT = (10, 600)
# Polling for status --wait: start quickly, slow down while nothing changes.
POLL_FIRST_S = 1.0
POLL_MAX_S = 10.0
POLL_GROWTH = 1.5
# Metrics the leaderboard shows unless --all-metrics.
LEADERBOARD_METRICS = (
    "composite",
    "content_distance",
    "style_distance",
    "palette_distance",
    "judge_realism",
    "memorization_rate",
)


class CliError(Exception):
    """A failure to report as ``error: CODE: DETAIL`` and end with a given exit code."""

    def __init__(
        self,
        code: str,
        detail: str,
        exit_code: int,
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.exit_code = exit_code
        self.hint = hint
        self.retry_after = retry_after


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    config_path: Path


def settings_load(url_option: str | None, environ: dict[str, str] | None = None) -> Settings:
    """The server address (--url, ATELIER_URL, the file, the default, in that order) and the
    token (ATELIER_TOKEN, else the file: a token on the command line would show in `ps`)."""
    environ = dict(os.environ if environ is None else environ)
    explicit = environ.get("ATELIER_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG).expanduser()
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise CliError(
                "config_invalid", f"Cannot read the configuration file {path}: {error}", EXIT_USAGE
            ) from error
    elif explicit:
        raise CliError(
            "config_missing", f"ATELIER_CONFIG names {path}, which does not exist.", EXIT_USAGE
        )
    for key in ("url", "token"):
        if key in values and not isinstance(values[key], str):
            raise CliError(
                "config_invalid", f"`{key}` in {path} must be a string in quotes.", EXIT_USAGE
            )
    url = url_option or environ.get("ATELIER_URL") or values.get("url") or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        raise CliError(
            "bad_url", f"The server address must start with http:// or https://: {url}", EXIT_USAGE
        )
    token = (environ.get("ATELIER_TOKEN") or values.get("token") or "").strip() or None
    return Settings(url=url.rstrip("/"), token=token, config_path=path)


# --- progress on stderr ----------------------------------------------------------------------


class ProgressBar:
    """A bar redrawn in place on a terminal; a line per notable change when not a terminal
    (a log file or a CI job would otherwise fill up with carriage returns)."""

    REDRAW_EVERY_S = 0.1

    def __init__(self, label: str, stream: TextIO | None = None, *, steps: int = 4) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.steps = steps
        self._last_draw = 0.0
        self._last_step = -1
        self._last_text: str | None = None
        self._drawn = False

    def update(self, fraction: float, text: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if self.tty:
            self._draw(fraction, text)
            return
        step = math.floor(fraction * self.steps)
        if step != self._last_step or text != self._last_text:
            self._last_step, self._last_text = step, text
            self.stream.write(f"{self.label}: {fraction:4.0%} {text}".rstrip() + "\n")
            self.stream.flush()

    def _draw(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        if fraction < 1 and now - self._last_draw < self.REDRAW_EVERY_S:
            return
        self._last_draw = now
        columns = shutil.get_terminal_size((80, 24)).columns
        width = max(10, min(40, columns - len(self.label) - len(text) - 12))
        filled = round(width * fraction)
        line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {text}"
        self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


# --- a streamed multipart body ---------------------------------------------------------------


def _quote(value: str) -> str:
    """A form-data name or filename with the characters that would end the header escaped."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartUpload:
    """A multipart/form-data body that reads the file while it is sent.

    requests sends an iterable body piece by piece and, because ``len()`` works, with a
    Content-Length header instead of chunked encoding (WSGI servers need the length). Each
    piece handed over is counted for the progress bar, and the checkpoint is never held in
    memory whole.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        file_field: str,
        path: Path,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self.path = path
        self.on_progress = on_progress
        head = []
        for name, value in fields:
            head.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"'
                f"\r\n\r\n{value}\r\n"
            )
        head.append(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(path.name)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        self._head = "".join(head).encode("utf-8")
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._file_size = path.stat().st_size

    def __len__(self) -> int:
        return len(self._head) + self._file_size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        total = len(self)
        sent = 0

        def handed(piece: bytes) -> bytes:
            nonlocal sent
            sent += len(piece)
            if self.on_progress:
                self.on_progress(sent, total)
            return piece

        yield handed(self._head)
        with self.path.open("rb") as handle:
            remaining = self._file_size
            while remaining > 0:
                piece = handle.read(min(UPLOAD_CHUNK, remaining))
                if not piece:
                    raise CliError(
                        "file_changed", f"{self.path} shrank while it was sent.", EXIT_LOCAL_FILE
                    )
                remaining -= len(piece)
                yield handed(piece)
        yield handed(self._tail)


# --- the API ---------------------------------------------------------------------------------


class Api:
    """The REST API of one server, turning every failure into a CliError."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"atelier-cli/{__version__}"
        self.session.headers["Accept"] = "application/json"
        if settings.token:
            self.session.headers["Authorization"] = f"Token {settings.token}"

    def require_token(self) -> None:
        if not self.settings.token:
            raise CliError(
                "no_token",
                'No API token: set ATELIER_TOKEN, or write token = "..." into '
                f"{self.settings.config_path}.",
                EXIT_AUTH,
                hint=f"Sign in and copy it from {self.settings.url}/accounts/token/ (API token).",
            )

    def url(self, path: str) -> str:
        return f"{self.settings.url}/api/v1/{path.lstrip('/')}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        try:
            response = self.session.request(method, self.url(path), **kwargs)
        except requests.exceptions.Timeout as error:
            raise CliError(
                "timeout", f"{self.settings.url} did not answer in time ({error}).", EXIT_CONNECTION
            ) from error
        except requests.exceptions.ConnectionError as error:
            uploading = "data" in kwargs
            detail = (
                f"The connection to {self.settings.url} broke during the upload; the server may "
                "have refused a file this large."
                if uploading
                else f"Cannot reach {self.settings.url}: is the server running and the address "
                "right (ATELIER_URL or --url)?"
            )
            raise CliError("connection_failed", detail, EXIT_CONNECTION) from error
        return self._body(response)

    def _body(self, response: requests.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok:
            if body is None:
                raise CliError(
                    "unexpected_response",
                    f"{response.url} answered HTTP {response.status_code} without JSON: is "
                    "this an Atelier server?",
                    EXIT_SERVER,
                )
            return body
        raise _error_for(response, body)


def _error_for(response: requests.Response, body: Any) -> CliError:
    """The API's own error code and sentence, with the exit code its HTTP status calls for."""
    status = response.status_code
    if isinstance(body, dict) and "error_code" in body:
        code = str(body["error_code"])
        detail = str(body.get("detail", ""))
    else:
        text = " ".join(response.text.split())[:200]
        code = f"http_{status}"
        detail = text or response.reason or "no details"
    detail = f"{detail} (HTTP {status})"
    fields = body.get("fields") if isinstance(body, dict) else None
    if isinstance(fields, dict):
        for name, problems in fields.items():
            listed = problems if isinstance(problems, list) else [problems]
            detail += f"\n  {name}: {' '.join(map(str, listed))}"
    hint = ""
    retry_after = None
    if status == 401 or code in ("authentication_failed", "not_authenticated"):
        exit_code = EXIT_AUTH
        hint = "Check the token in ATELIER_TOKEN or the configuration file."
    elif status == 429:
        exit_code = EXIT_THROTTLED
        wait = response.headers.get("Retry-After")
        hint = f"Try again in {wait} seconds." if wait else "Try again later."
        retry_after = float(wait) if wait and wait.isdigit() else None
    elif status >= 500:
        exit_code = EXIT_SERVER
    elif status >= 400:
        exit_code = EXIT_REFUSED
    else:
        exit_code = EXIT_SERVER
    return CliError(code, detail, exit_code, hint, retry_after)


# --- tables ----------------------------------------------------------------------------------


def format_number(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if name == "params":
        return f"{value:,.0f}"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """Columns padded to their widest cell; numbers (from `numeric_from` on) right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in [headers, *rows]:
        cells = [
            str(cell).rjust(width) if index >= numeric_from else str(cell).ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def scores_table(scores: dict[str, dict[str, Any]]) -> str:
    boards = list(scores)
    metrics = list(dict.fromkeys(name for board in boards for name in scores[board]))
    rows = [[name, *(format_number(name, scores[b].get(name)) for b in boards)] for name in metrics]
    return table(["metric", *boards], rows)


# --- commands --------------------------------------------------------------------------------


def command_submit(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.file).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CliError("file_not_found", f"{path} {what}.", EXIT_LOCAL_FILE)
    if not os.access(path, os.R_OK):
        raise CliError("file_unreadable", f"{path} cannot be read.", EXIT_LOCAL_FILE)
    fields = [("architecture", args.arch)]
    if args.config is not None:
        try:
            config = json.loads(args.config)
        except json.JSONDecodeError as error:
            raise CliError(
                "config_not_json", f"--config is not JSON: {error}", EXIT_USAGE
            ) from error
        if not isinstance(config, dict):
            raise CliError(
                "config_not_object",
                '--config must be a JSON object, e.g. {"width": 16}.',
                EXIT_USAGE,
            )
        fields.append(("config", json.dumps(config)))
    for name, value in (("io_range", args.io_range), ("phase", args.phase)):
        if value:
            fields.append((name, value))
    if args.description:
        fields.append(("description", args.description))
    api.require_token()

    bar = ProgressBar(f"uploading {path.name}")

    def progress(sent: int, total: int) -> None:
        bar.update(sent / total, f"{human_size(sent)} of {human_size(total)}")

    body = MultipartUpload(fields, "checkpoint", path, progress)
    try:
        submission = api.call(
            "POST",
            f"challenges/{args.challenge}/submissions/",
            data=body,
            headers={"Content-Type": body.content_type},
            timeout=UPLOAD_TIMEOUT,
        )
    finally:
        bar.close()
    submission_id = submission.get("id", "")
    out.write(f"{submission_id}\n")
    out.flush()
    sys.stderr.write(
        f"Submission {submission_id} is {submission.get('status', 'queued')}. "
        f"Follow it with: atelier status {submission_id} --wait\n"
    )
    if args.wait:
        return wait_for_result(api, submission_id, args.timeout, out)
    return EXIT_OK


def command_status(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    api.require_token()
    if args.wait:
        return wait_for_result(api, args.id, args.timeout, out)
    submission = api.call("GET", f"submissions/{args.id}/")
    return report_submission(submission, out, with_stage=True)


def wait_for_result(api: Api, submission_id: str, timeout: float, out: TextIO) -> int:
    """Poll until the submission finishes, with backoff while nothing changes.

    A server restart, a 5xx or a 429 while waiting is not the submission's fault: say so and
    keep polling until the deadline.
    """
    bar = ProgressBar("scoring")
    deadline = time.monotonic() + timeout
    delay = POLL_FIRST_S
    seen: tuple[str, str] | None = None
    fraction = 0.0
    try:
        while True:
            try:
                submission = api.call("GET", f"submissions/{submission_id}/")
            except CliError as error:
                if error.exit_code not in (EXIT_SERVER, EXIT_CONNECTION, EXIT_THROTTLED):
                    raise
                bar.update(fraction, f"{error.code}: retrying")
                delay = max(delay, error.retry_after or 0)
            else:
                if submission.get("status") not in ACTIVE:
                    bar.update(1.0 if submission.get("status") == "scored" else 0, "")
                    bar.close()
                    return report_submission(submission, out, with_stage=False)
                state = (submission.get("status", ""), submission.get("stage", ""))
                fraction = float(submission.get("progress") or 0)
                bar.update(fraction, state[1] or state[0])
                if state != seen:
                    seen, delay = state, POLL_FIRST_S
            left = deadline - time.monotonic()
            if left <= 0:
                bar.close()
                raise CliError(
                    "wait_timeout",
                    f"Submission {submission_id} was still not finished after {timeout:g} s; "
                    "it keeps running on the server.",
                    EXIT_TIMEOUT,
                    hint=f"Look again with: atelier status {submission_id} --wait",
                )
            time.sleep(min(delay, left))
            delay = min(delay * POLL_GROWTH, POLL_MAX_S)
    finally:
        bar.close()


def report_submission(submission: dict[str, Any], out: TextIO, *, with_stage: bool) -> int:
    status = submission.get("status", "unknown")
    line = f"Submission {submission.get('id')}: {status}"
    if with_stage and status in ACTIVE:
        stage = submission.get("stage")
        progress = f"{float(submission.get('progress') or 0):.0%}"
        line += f" ({stage}, {progress})" if stage and stage != status else f" ({progress})"
    out.write(line + "\n")
    if status == "failed":
        out.write(f"error: {submission.get('error_code')}: {submission.get('error_message')}\n")
    scores = submission.get("scores") or {}
    if scores:
        out.write(scores_table(scores) + "\n")
    out.flush()
    return EXIT_SUBMISSION_FAILED if status in ("failed", "cancelled") else EXIT_OK


def command_leaderboard(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    params: dict[str, Any] = {"board": args.board, "page_size": args.limit}
    if args.phase:
        params["phase"] = args.phase
    page = api.call("GET", f"challenges/{args.challenge}/leaderboard/", params=params)
    entries = page.get("entries") or []
    out.write(
        f"{page.get('challenge')} · {page.get('phase')} · {page.get('board')} leaderboard"
        f" ({page.get('count', len(entries))} rows)\n"
    )
    if page.get("rule"):
        out.write(f"{page['rule']}\n")
    if not entries:
        out.write("No scored submission on this leaderboard yet.\n")
        out.flush()
        return EXIT_OK
    if args.all_metrics:
        metrics = list(dict.fromkeys(name for entry in entries for name in entry.get("scores", {})))
    else:
        metrics = list(LEADERBOARD_METRICS)
    # The rule's own number gets a column when it is not simply one of the metrics shown.
    with_score = any(
        entry.get("score") is not None
        and entry.get("score") != (entry.get("scores") or {}).get("composite")
        for entry in entries
    )
    headers = ["#", "participant", *(["score"] if with_score else []), *metrics, "submissions"]
    rows = []
    for entry in entries:
        rank = "base" if entry.get("is_baseline") else str(entry.get("rank") or "-")
        name = str(entry.get("participant", "")) + (" (stale)" if entry.get("stale") else "")
        scores = entry.get("scores") or {}
        rows.append(
            [
                rank,
                name,
                *([format_number("score", entry.get("score"))] if with_score else []),
                *(format_number(metric, scores.get(metric)) for metric in metrics),
                str(entry.get("submissions", "")),
            ]
        )
    out.write(table(headers, rows, numeric_from=2) + "\n")
    if page.get("pages", 1) > 1:
        out.write(f"Showing the first {len(entries)} rows; --limit shows more.\n")
    out.flush()
    return EXIT_OK


def command_submissions(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    """Your submissions to a challenge, newest first, one API page (--limit rows) at most."""
    api.require_token()
    params: dict[str, Any] = {"page_size": args.limit}
    if args.status:
        params["status"] = args.status
    try:
        body = api.call("GET", f"challenges/{args.challenge}/submissions/", params=params)
    except CliError as error:
        if error.code == "method_not_allowed":
            raise CliError(
                "not_supported",
                "This server does not list submissions through its API; see "
                f"{api.settings.url}/challenges/{args.challenge}/submissions/ in a browser.",
                EXIT_REFUSED,
            ) from error
        raise
    items = body.get("results", []) if isinstance(body, dict) else body
    if not items:
        out.write("No submissions yet.\n")
        out.flush()
        return EXIT_OK
    rows = []
    for item in items:
        status = str(item.get("status", ""))
        if item.get("error_code"):
            status += f" ({item['error_code']})"
        elif status in ACTIVE and item.get("stage") not in (None, "", status):
            status += f" ({item['stage']})"
        rows.append(
            [
                str(item.get("id", "")),
                str(item.get("created_at") or "")[:16].replace("T", " "),
                str(item.get("phase", "")),
                status,
                str(item.get("architecture", "")),
                " ".join(str(item.get("description") or "").split())[:30],
            ]
        )
    headers = ["id", "submitted", "phase", "status", "architecture", "description"]
    out.write(table(headers, rows, numeric_from=len(headers)) + "\n")
    count = body.get("count") if isinstance(body, dict) else None
    if isinstance(count, int) and count > len(items):
        out.write(f"Showing the newest {len(items)} of {count}; --limit shows more.\n")
    out.write("Scores: atelier status ID\n")
    out.flush()
    return EXIT_OK


# --- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help=f"server address (default {DEFAULT_URL})"
    )
    parser = argparse.ArgumentParser(
        prog="atelier",
        description="Submit style-transfer checkpoints to an Atelier server and follow them.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=None, help=f"server address (default {DEFAULT_URL})")
    parser.add_argument("--version", action="version", version=f"atelier {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser(
        "submit", parents=[common], help="upload a checkpoint as a new submission"
    )
    submit.add_argument(
        "file",
        metavar="FILE",
        help=".safetensors, a PyTorch state dict (.pt/.pth/.model/.ckpt/.bin) or .pt2; "
        "recognised by its content",
    )
    submit.add_argument("--challenge", required=True, metavar="SLUG")
    submit.add_argument(
        "--arch", required=True, metavar="NAME", help=f"architecture: {', '.join(ARCHITECTURES)}"
    )
    submit.add_argument("--io-range", choices=IO_RANGES, help="pixel range of the generator")
    submit.add_argument("--config", metavar="JSON", help="e.g. '{\"width\": 16}'")
    submit.add_argument("--phase", metavar="NAME", help="default: the open phase")
    submit.add_argument("--description", default="", metavar="TEXT")
    submit.add_argument("--wait", action="store_true", help="then wait for the scores")
    submit.add_argument("--timeout", type=float, default=3600, metavar="SECONDS")
    submit.set_defaults(run=command_submit)

    status = commands.add_parser(
        "status", parents=[common], help="show a submission's status and scores"
    )
    status.add_argument("id", metavar="ID")
    status.add_argument("--wait", action="store_true", help="follow it until it finishes")
    status.add_argument("--timeout", type=float, default=3600, metavar="SECONDS")
    status.set_defaults(run=command_status)

    board = commands.add_parser(
        "leaderboard", parents=[common], help="print a challenge's leaderboard"
    )
    board.add_argument("challenge", metavar="SLUG")
    board.add_argument("--phase", metavar="NAME", help="default: the open phase")
    board.add_argument("--board", choices=("public", "private"), default="public")
    board.add_argument("--limit", type=int, default=100, metavar="ROWS")
    board.add_argument("--all-metrics", action="store_true", help="every metric, not five")
    board.set_defaults(run=command_leaderboard)

    mine = commands.add_parser(
        "submissions", parents=[common], help="list your submissions to a challenge"
    )
    mine.add_argument("challenge", metavar="SLUG")
    mine.add_argument(
        "--status", choices=("queued", "running", "scored", "failed", "cancelled"), default=None
    )
    mine.add_argument("--limit", type=int, default=20, metavar="ROWS")
    mine.set_defaults(run=command_submissions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_load(getattr(args, "url", None))
        return args.run(Api(settings), args, sys.stdout)
    except CliError as error:
        sys.stderr.write(f"error: {error.code}: {error.detail}\n")
        if error.hint:
            sys.stderr.write(f"hint: {error.hint}\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
