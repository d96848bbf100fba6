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
import queue
import shutil
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urljoin, urlsplit

import requests

__version__ = "1.0"

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_CONFIG = "~/.config/atelier/config.toml"
# For the help text only: the server decides what it accepts and says why it refuses.
ARCHITECTURES = (
    "transformer_net",
    "resnet_generator",
    "unet_generator",
    "adain",
    "exported",
    "onnx",
)
IO_RANGES = ("0-1", "0-255", "-1-1")
ACTIVE = ("queued", "running")
STATUSES = (*ACTIVE, "scored", "failed", "cancelled")

# How many bytes the upload reads and sends at a time.
UPLOAD_CHUNK = 256 * 1024
# (connect, read) timeouts in seconds, for each socket operation; an upload's answer waits for
# the server to check the checkpoint, which takes longer than an ordinary request.
REQUEST_TIMEOUT = (10, 60)
UPLOAD_TIMEOUT = (10, 600)
# The deadline of a whole request, in seconds: the timeouts above bound each socket operation
# only, and a server that sends a byte now and then would keep the client waiting forever.
REQUEST_DEADLINE_S = 120.0
UPLOAD_DEADLINE_S = 3600.0
# The API's answers are a few kilobytes; anything much larger is not one.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
READ_CHUNK = 64 * 1024
# Redirects followed within the server's own address (scheme, host and port), for reads only.
MAX_REDIRECTS = 5
# The longest text from the server shown as it is.
MAX_TEXT = 500

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
EXIT_INTERNAL = 10
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = f"""\
exit codes:
  {EXIT_OK}    success (status/submit --wait: the submission was scored)
  {EXIT_SUBMISSION_FAILED}    the submission failed or was cancelled
  {EXIT_USAGE}    bad command line or configuration file
  {EXIT_AUTH}    no API token, or the server refused it (401)
  {EXIT_REFUSED}    the server refused the request (other 4xx: quota, validation, not found...)
  {EXIT_THROTTLED}    too many requests (429): wait and try again
  {EXIT_SERVER}    the server failed (5xx) or answered something unexpected (not the JSON
       expected, too large, or a redirect to another address)
  {EXIT_CONNECTION}    the server could not be reached, did not answer within the request
       deadline, or broke the connection while answering
  {EXIT_TIMEOUT}    --wait gave up after --timeout seconds
  {EXIT_LOCAL_FILE}    the checkpoint file is missing or unreadable
  {EXIT_INTERNAL}   an error inside atelier itself (a bug: please report it)

configuration:
  ATELIER_TOKEN   API token (else `token` in the configuration file)
  ATELIER_URL     server address (--url wins; else `url` in the file, else {DEFAULT_URL})
  ATELIER_CONFIG  configuration file (default {DEFAULT_CONFIG}), TOML:
                    url = "https://atelier.example.org"
                    token = "0123abcd..."
  ATELIER_REQUEST_DEADLINE
                  seconds one request may take in all, connecting, sending and reading
                  (default {REQUEST_DEADLINE_S:g}; an upload {UPLOAD_DEADLINE_S:g})
"""

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


# Failures that waiting does not cure: `status --wait` stops at them instead of polling on.
PERMANENT = (
    "unexpected_response",
    "answer_too_large",
    "redirected_elsewhere",
    "too_many_redirects",
)


def unexpected(detail: str) -> CliError:
    return CliError(
        "unexpected_response",
        detail,
        EXIT_SERVER,
        hint="Is ATELIER_URL (or --url) the address of an Atelier server?",
    )


def printable(value: str, limit: int = MAX_TEXT) -> str:
    """Text from the server as it may be shown: control characters (a terminal's escape
    sequences, line breaks that would fake output lines) replaced, and at most `limit` long."""
    shown = "".join(char if char.isprintable() else "?" for char in value[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    config_path: Path
    # None: REQUEST_DEADLINE_S, or UPLOAD_DEADLINE_S for an upload.
    deadline_s: float | None = None


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
    return Settings(
        url=url.rstrip("/"),
        token=token,
        config_path=path,
        deadline_s=_deadline_setting(environ.get("ATELIER_REQUEST_DEADLINE")),
    )


def _deadline_setting(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise CliError(
            "bad_deadline",
            f"ATELIER_REQUEST_DEADLINE must be a number of seconds above 0, not {value!r}.",
            EXIT_USAGE,
        )
    return seconds


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


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    upload: bool
    # For requests.Session.request: params, data, headers, timeout.
    kwargs: dict[str, Any]
    deadline_s: float
    # deadline_s from the start, on the monotonic clock.
    deadline: float


@dataclass(frozen=True)
class Reply:
    """A whole answer, read within the deadline and the size limit."""

    status: int
    reason: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Api:
    """The REST API of one server, turning every failure into a CliError."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = self._session()

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = f"atelier-cli/{__version__}"
        session.headers["Accept"] = "application/json"
        if self.settings.token:
            session.headers["Authorization"] = f"Token {self.settings.token}"
        return session

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

    def call(self, method: str, path: str, *, upload: bool = False, **kwargs: Any) -> Any:
        """The answer's JSON, or the CliError that explains why there is none."""
        default = UPLOAD_DEADLINE_S if upload else REQUEST_DEADLINE_S
        deadline_s = self.settings.deadline_s or default
        connect, read = UPLOAD_TIMEOUT if upload else REQUEST_TIMEOUT
        kwargs["timeout"] = (min(connect, deadline_s), min(read, deadline_s))
        deadline = time.monotonic() + deadline_s
        request = Request(method, self.url(path), upload, kwargs, deadline_s, deadline)
        return _json_of(self._within_deadline(request))

    def _within_deadline(self, request: Request) -> Reply:
        """The exchange runs in a thread that this one stops waiting for at the deadline:
        nothing else bounds name resolution, or headers and bodies sent a byte at a time."""
        answers: queue.Queue[tuple[Reply | None, BaseException | None]] = queue.Queue(1)
        session = self.session

        def exchange() -> None:
            try:
                answers.put((self._exchange(session, request), None))
            except BaseException as error:  # handed to the waiting thread, raised there
                answers.put((None, error))

        threading.Thread(target=exchange, name="atelier-request", daemon=True).start()
        try:
            reply, error = answers.get(timeout=request.deadline_s)
        except queue.Empty:
            # The abandoned exchange may still hold a connection of this session.
            self.session = self._session()
            raise self._late(request) from None
        if error is not None:
            raise error
        assert reply is not None
        return reply

    def _exchange(self, session: requests.Session, request: Request) -> Reply:
        url = request.url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = session.request(
                    request.method, url, allow_redirects=False, stream=True, **request.kwargs
                )
                with response:
                    target = session.get_redirect_target(response)
                    if target is None:
                        body = self._read_body(response, request)
                        reason = response.reason or ""
                        return Reply(response.status_code, reason, url, response.headers, body)
            except requests.exceptions.RequestException as error:
                raise self._transport_error(error, request.upload) from error
            url = self._redirect(url, urljoin(url, target), request.upload)
        raise CliError(
            "too_many_redirects",
            f"{self.settings.url} redirected more than {MAX_REDIRECTS} times in a row.",
            EXIT_SERVER,
        )

    def _redirect(self, url: str, target: str, upload: bool) -> str:
        """Follow a redirect only within the server's own address, where the token may go."""
        shown = printable(target, 200)
        if _origin(target) != _origin(self.settings.url):
            raise CliError(
                "redirected_elsewhere",
                f"{url} redirects to {shown}, another address; the token is not sent there.",
                EXIT_SERVER,
                hint="If the server has moved, set ATELIER_URL (or --url) to its new address.",
            )
        if upload:
            # The upload's body has been read from the file and sent; it cannot be sent again.
            raise CliError(
                "redirected_elsewhere",
                f"{url} answered the upload with a redirect to {shown}.",
                EXIT_SERVER,
                hint="Set ATELIER_URL (or --url) to the address the server names.",
            )
        return target

    def _read_body(self, response: requests.Response, request: Request) -> bytes:
        """The body, read piece by piece: refused beyond MAX_ANSWER_BYTES, abandoned past the
        deadline (the caller has stopped waiting by then; this ends the exchange's thread)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise self._too_large()
        pieces = []
        size = 0
        try:
            for piece in response.iter_content(READ_CHUNK):
                size += len(piece)
                if size > MAX_ANSWER_BYTES:
                    raise self._too_large()
                if time.monotonic() > request.deadline:
                    raise self._late(request)
                pieces.append(piece)
        except requests.exceptions.ContentDecodingError as error:
            raise unexpected(
                f"{self.settings.url} sent an answer that cannot be decoded."
            ) from error
        except requests.exceptions.RequestException as error:  # cut short, or a read timed out
            raise CliError(
                "connection_broken",
                f"{self.settings.url} broke off its answer before the end; try again.",
                EXIT_CONNECTION,
            ) from error
        return b"".join(pieces)

    def _too_large(self) -> CliError:
        return CliError(
            "answer_too_large",
            f"{self.settings.url} sent an answer over {human_size(MAX_ANSWER_BYTES)}; the "
            "API's answers are a few KB.",
            EXIT_SERVER,
        )

    def _late(self, request: Request) -> CliError:
        return CliError(
            "timeout",
            f"{self.settings.url} did not answer within {request.deadline_s:g} s.",
            EXIT_CONNECTION,
            hint="A slow connection may need longer: set ATELIER_REQUEST_DEADLINE (seconds).",
        )

    def _transport_error(
        self, error: requests.exceptions.RequestException, upload: bool
    ) -> CliError:
        server = self.settings.url
        if isinstance(error, requests.exceptions.Timeout):
            return CliError(
                "timeout",
                f"{server} did not answer in time ({printable(str(error), 200)}).",
                EXIT_CONNECTION,
            )
        if isinstance(error, requests.exceptions.ConnectionError):
            detail = (
                f"The connection to {server} broke during the upload; the server may "
                "have refused a file this large."
                if upload
                else f"Cannot reach {server}: is the server running and the address "
                "right (ATELIER_URL or --url)?"
            )
            return CliError("connection_failed", detail, EXIT_CONNECTION)
        return CliError(
            "connection_failed",
            f"The request to {server} failed: {printable(str(error), 200)}",
            EXIT_CONNECTION,
        )


def _origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port, the port filled in; None for an address that has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _json_of(reply: Reply) -> Any:
    try:
        body = json.loads(reply.body) if reply.body else None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
        body = None
    if 200 <= reply.status < 300:
        if body is None:
            raise unexpected(
                f"{printable(reply.url, 200)} answered HTTP {reply.status} without JSON."
            )
        return body
    raise _error_for(reply, body)


def _error_for(reply: Reply, body: Any) -> CliError:
    """The API's own error code and sentence, with the exit code its HTTP status calls for."""
    status = reply.status
    error_code = body.get("error_code") if isinstance(body, dict) else None
    if isinstance(error_code, str) and error_code:
        code = printable(error_code, 50)
        detail = body.get("detail")
        detail = printable(detail) if isinstance(detail, str) else ""
    else:
        code = f"http_{status}"
        detail = printable(" ".join(reply.text.split()), 200) or printable(reply.reason, 200)
        detail = detail or "no details"
    detail = f"{detail} (HTTP {status})"
    fields = body.get("fields") if isinstance(body, dict) else None
    if isinstance(fields, dict):
        for name, problems in list(fields.items())[:20]:
            listed = problems if isinstance(problems, list) else [problems]
            said = " ".join(printable(p, 200) for p in listed[:5] if isinstance(p, str))
            detail += f"\n  {printable(str(name), 50)}: {said}"
    hint = ""
    retry_after = None
    if status == 401 or code in ("authentication_failed", "not_authenticated"):
        exit_code = EXIT_AUTH
        hint = "Check the token in ATELIER_TOKEN or the configuration file."
    elif status == 429:
        exit_code = EXIT_THROTTLED
        wait = reply.headers.get("Retry-After", "")
        seconds = wait.isascii() and wait.isdigit() and len(wait) < 10
        hint = f"Try again in {wait} seconds." if seconds else "Try again later."
        retry_after = float(wait) if seconds else None
    elif status >= 500:
        exit_code = EXIT_SERVER
    elif status >= 400:
        exit_code = EXIT_REFUSED
    else:
        exit_code = EXIT_SERVER
    return CliError(code, detail, exit_code, hint, retry_after)


# --- reading answers -------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """What a JSON value is, for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


class Answer:
    """A JSON object from the server, read field by field as the type the CLI needs.

    A missing field or null gives the default; a field of any other type is an unexpected
    answer (EXIT_SERVER) that names it, never a traceback further on.
    """

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise unexpected(f"{where} is {_kind(value)}, not a JSON object.")
        self.value = value
        self.where = where

    def _field(self, key: str, wanted: str, accept: Callable[[Any], bool]) -> Any:
        value = self.value.get(key)
        if value is not None and not accept(value):
            shown = printable(key, 50)
            raise unexpected(f"{self.where}: `{shown}` is {_kind(value)}, not {wanted}.")
        return value

    def text(self, key: str, default: str = "", limit: int = MAX_TEXT) -> str:
        value = self._field(key, "a string", lambda v: isinstance(v, str))
        return default if value is None else printable(value, limit)

    def identifier(self, key: str) -> str:
        """A required id, a string or a whole number."""
        value = self._field(
            key, "an id", lambda v: isinstance(v, str | int) and not isinstance(v, bool)
        )
        if value is None or value == "":
            raise unexpected(f"{self.where} has no `{key}`.")
        return printable(str(value), 100)

    def choice(self, key: str, choices: Sequence[str]) -> str:
        """A required string, one of `choices`."""
        value = self._field(key, "a string", lambda v: isinstance(v, str))
        if value not in choices:
            shown = "nothing" if value is None else repr(printable(value, 50))
            raise unexpected(f"{self.where}: `{key}` is {shown}, not one of {', '.join(choices)}.")
        return value

    def integer(self, key: str, default: int | None = None) -> int | None:
        value = self._field(
            key, "a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)
        )
        return default if value is None else value

    def number(self, key: str) -> float | None:
        value = self._field(key, "a number", _is_number)
        return None if value is None else float(value)

    def fraction(self, key: str) -> float:
        """A number between 0 and 1; one out of range is brought into it."""
        value = self.number(key)
        return min(max(value, 0.0), 1.0) if value is not None and math.isfinite(value) else 0.0

    def flag(self, key: str) -> bool:
        return bool(self._field(key, "true or false", lambda v: isinstance(v, bool)))

    def answer(self, key: str) -> Answer:
        """A nested object (empty when missing)."""
        value = self._field(key, "an object", lambda v: isinstance(v, dict))
        return Answer(value or {}, f"{self.where}.{printable(key, 50)}")

    def answers(self, key: str) -> list[Answer]:
        """A list of objects (empty when missing)."""
        value = self._field(key, "a list", lambda v: isinstance(v, list))
        where = f"{self.where}.{printable(key, 50)}"
        return [Answer(item, f"{where}[{index}]") for index, item in enumerate(value or [])]

    def numbers(self) -> dict[str, float | None]:
        """This object as names and numbers (null for a metric without a value)."""
        return {printable(str(name), 100): self.number(name) for name in self.value}


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        float(value)
    except OverflowError:  # an integer beyond any float
        return False
    return True


# --- tables ----------------------------------------------------------------------------------


def format_number(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if name == "params":
        return f"{value:,.0f}"
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


def scores_table(scores: Answer) -> str:
    """Metrics down, leaderboards across, from {"public": {"composite": 0.41, ...}, ...}."""
    boards = {printable(board, 50): scores.answer(board).numbers() for board in scores.value}
    metrics = list(dict.fromkeys(name for values in boards.values() for name in values))
    rows = [
        [name, *(format_number(name, values.get(name)) for values in boards.values())]
        for name in metrics
    ]
    return table(["metric", *boards], rows)


def path_part(value: str) -> str:
    """An id or slug as one segment of an API path, whatever characters it holds."""
    return quote(value, safe="")


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
        answer = api.call(
            "POST",
            f"challenges/{path_part(args.challenge)}/submissions/",
            upload=True,
            data=body,
            headers={"Content-Type": body.content_type},
        )
    finally:
        bar.close()
    submission = Answer(answer, "The new submission")
    submission_id = submission.identifier("id")
    status = submission.choice("status", STATUSES)
    out.write(f"{submission_id}\n")
    out.flush()
    sys.stderr.write(
        f"Submission {submission_id} is {status}. "
        f"Follow it with: atelier status {submission_id} --wait\n"
    )
    if args.wait:
        return wait_for_result(api, submission_id, args.timeout, out)
    return EXIT_OK


def command_status(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    api.require_token()
    if args.wait:
        return wait_for_result(api, args.id, args.timeout, out)
    return report_submission(submission_get(api, args.id), out, with_stage=True)


def submission_get(api: Api, submission_id: str) -> Answer:
    answer = api.call("GET", f"submissions/{path_part(submission_id)}/")
    submission = Answer(answer, "The submission")
    submission.choice("status", STATUSES)
    return submission


def wait_for_result(api: Api, submission_id: str, timeout: float, out: TextIO) -> int:
    """Poll until the submission finishes, with backoff while nothing changes.

    A server restart, a 5xx or a 429 while waiting is not the submission's fault: say so and
    keep polling until the deadline. An answer of the wrong shape will not improve: it ends
    the wait.
    """
    bar = ProgressBar("scoring")
    deadline = time.monotonic() + timeout
    delay = POLL_FIRST_S
    seen: tuple[str, str] | None = None
    fraction = 0.0
    try:
        while True:
            try:
                submission = submission_get(api, submission_id)
            except CliError as error:
                transient = (EXIT_SERVER, EXIT_CONNECTION, EXIT_THROTTLED)
                if error.exit_code not in transient or error.code in PERMANENT:
                    raise
                bar.update(fraction, f"{error.code}: retrying")
                delay = max(delay, error.retry_after or 0)
            else:
                status = submission.text("status")
                if status not in ACTIVE:
                    bar.update(1.0 if status == "scored" else 0, "")
                    bar.close()
                    return report_submission(submission, out, with_stage=False)
                state = (status, submission.text("stage", limit=60))
                fraction = submission.fraction("progress")
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


def report_submission(submission: Answer, out: TextIO, *, with_stage: bool) -> int:
    status = submission.choice("status", STATUSES)
    lines = [f"Submission {submission.identifier('id')}: {status}"]
    if with_stage and status in ACTIVE:
        stage = submission.text("stage", limit=60)
        progress = f"{submission.fraction('progress'):.0%}"
        lines[0] += f" ({stage}, {progress})" if stage and stage != status else f" ({progress})"
    if status == "failed":
        code, message = submission.text("error_code", limit=50), submission.text("error_message")
        lines.append(f"error: {code}: {message}")
    scores = submission.answer("scores")
    if scores.value:
        lines.append(scores_table(scores))
    # Written once every field has been read: a bad one leaves no half report behind.
    out.write("\n".join(lines) + "\n")
    out.flush()
    return EXIT_SUBMISSION_FAILED if status in ("failed", "cancelled") else EXIT_OK


def command_leaderboard(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    params: dict[str, Any] = {"board": args.board, "page_size": args.limit}
    if args.phase:
        params["phase"] = args.phase
    answer = api.call("GET", f"challenges/{path_part(args.challenge)}/leaderboard/", params=params)
    page = Answer(answer, "The leaderboard")
    entries = page.answers("entries")
    lines = [
        f"{page.text('challenge', limit=100)} · {page.text('phase', limit=100)} · "
        f"{page.text('board', limit=20)} leaderboard ({page.integer('count', len(entries))} rows)"
    ]
    if rule := page.text("rule"):
        lines.append(rule)
    if not entries:
        lines.append("No scored submission on this leaderboard yet.")
    else:
        lines.append(leaderboard_table(entries, all_metrics=args.all_metrics))
        if (page.integer("pages") or 1) > 1:
            lines.append(f"Showing the first {len(entries)} rows; --limit shows more.")
    out.write("\n".join(lines) + "\n")
    out.flush()
    return EXIT_OK


def leaderboard_table(entries: list[Answer], *, all_metrics: bool) -> str:
    scores = [entry.answer("scores").numbers() for entry in entries]
    if all_metrics:
        metrics = list(dict.fromkeys(name for values in scores for name in values))
    else:
        metrics = list(LEADERBOARD_METRICS)
    # The rule's own number gets a column when it is not simply one of the metrics shown.
    with_score = any(
        entry.number("score") is not None and entry.number("score") != values.get("composite")
        for entry, values in zip(entries, scores, strict=True)
    )
    headers = ["#", "participant", *(["score"] if with_score else []), *metrics, "submissions"]
    rows = []
    for entry, values in zip(entries, scores, strict=True):
        rank = "base" if entry.flag("is_baseline") else str(entry.integer("rank") or "-")
        name = entry.text("participant", limit=60) + (" (stale)" if entry.flag("stale") else "")
        submitted = entry.integer("submissions")
        rows.append(
            [
                rank,
                name,
                *([format_number("score", entry.number("score"))] if with_score else []),
                *(format_number(metric, values.get(metric)) for metric in metrics),
                "" if submitted is None else str(submitted),
            ]
        )
    return table(headers, rows, numeric_from=2)


def command_submissions(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    """Your submissions to a challenge, newest first, one API page (--limit rows) at most."""
    api.require_token()
    params: dict[str, Any] = {"page_size": args.limit}
    if args.status:
        params["status"] = args.status
    slug = path_part(args.challenge)
    try:
        answer = api.call("GET", f"challenges/{slug}/submissions/", params=params)
    except CliError as error:
        if error.code == "method_not_allowed":
            raise CliError(
                "not_supported",
                "This server does not list submissions through its API; see "
                f"{api.settings.url}/challenges/{slug}/submissions/ in a browser.",
                EXIT_REFUSED,
            ) from error
        raise
    # A page of results, or (from a server without pagination) the list itself.
    page = Answer({"results": answer} if isinstance(answer, list) else answer, "The list")
    items = page.answers("results")
    if not items:
        out.write("No submissions yet.\n")
        out.flush()
        return EXIT_OK
    rows = [submission_row(item) for item in items]
    lines = [table(SUBMISSION_COLUMNS, rows, numeric_from=len(SUBMISSION_COLUMNS))]
    count = page.integer("count")
    if count is not None and count > len(items):
        lines.append(f"Showing the newest {len(items)} of {count}; --limit shows more.")
    lines.append("Scores: atelier status ID")
    out.write("\n".join(lines) + "\n")
    out.flush()
    return EXIT_OK


SUBMISSION_COLUMNS = ["id", "submitted", "phase", "status", "architecture", "description"]


def submission_row(item: Answer) -> list[str]:
    status = item.choice("status", STATUSES)
    stage = item.text("stage", limit=60)
    if error_code := item.text("error_code", limit=50):
        status += f" ({error_code})"
    elif status in ACTIVE and stage not in ("", status):
        status += f" ({stage})"
    return [
        item.identifier("id"),
        item.text("created_at", limit=40)[:16].replace("T", " "),
        item.text("phase", limit=100),
        status,
        item.text("architecture", limit=100),
        " ".join(item.text("description").split())[:30],
    ]


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
    except Exception as error:  # the last resort: a bug here must not print a traceback
        sys.stderr.write(
            f"error: internal_error: {type(error).__name__}: {printable(str(error), 200)}\n"
            f"hint: This is a bug in atelier {__version__}; please report it with the command "
            "you ran.\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
