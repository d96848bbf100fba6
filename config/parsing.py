"""Untrusted request input, read one way everywhere.

JSON from a request body or a form field goes through ``parse_json``, which refuses a
document over a size or nesting limit before ``json.loads`` sees it: the standard decoder
recurses once per array or object, so a body nested 100,000 deep would otherwise end in a
``RecursionError`` (a 500). ``JSONBodyParser`` (the API's JSON parser), ``JSONFormField``
(forms) and ``JSONSerializerField`` (JSON sent as the text of a multipart field) are its
three doors; each failure is one ``JSONInputError``, answered 400 ``invalid_json`` by the API.

Integer query parameters (``?page=``, ``?quote=``) go through ``query_int``.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import IO, Any, NoReturn

from django import forms
from django.conf import settings
from rest_framework import serializers
from rest_framework.parsers import JSONParser

from config.errors import ApplicationError

INVALID_JSON = "invalid_json"
JSON_TOO_LARGE = "The JSON is over {limit:,} bytes, the most accepted."
JSON_TOO_DEEP = "The JSON nests arrays and objects over {limit} levels deep, the most accepted."
JSON_NOT_UTF8 = "The JSON is not UTF-8 text."
JSON_MALFORMED = "This is not valid JSON: {reason} (line {line}, column {column})."
JSON_BAD_NUMBER = "The JSON holds a number out of range: numbers must be finite."

# A JSON string, escapes included; the closing quote is optional so that an unterminated
# string still ends. Unrolled as "[^"\\]*(\\.[^"\\]*)*", the pattern cannot backtrack.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# 1 to 9 ASCII digits: "²" and "١٢" are digits to str.isdigit(), and int() of 5,000 digits
# raises; nine digits fit any database integer.
_QUERY_INT = re.compile(r"[0-9]{1,9}")


class JSONInputError(ApplicationError):
    """Untrusted JSON refused: malformed, too large or too deeply nested."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_JSON, message)


def parse_json(data: str | bytes, *, max_depth: int, max_bytes: int) -> Any:
    """The value of a JSON document from an untrusted source, or ``JSONInputError``.

    Bytes must be UTF-8 (RFC 8259 §8.1). NaN, Infinity and numbers beyond a float's range
    are refused: they are not JSON, and PostgreSQL's jsonb cannot store them. Linear time.
    """
    # The cheap length test first, so that a huge text is never encoded to be measured.
    if len(data) > max_bytes or (
        isinstance(data, str) and len(data.encode("utf-8", "surrogatepass")) > max_bytes
    ):
        raise JSONInputError(JSON_TOO_LARGE.format(limit=max_bytes))
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise JSONInputError(JSON_NOT_UTF8) from error
    if json_depth(data) > max_depth:
        raise JSONInputError(JSON_TOO_DEEP.format(limit=max_depth))
    try:
        return json.loads(data, parse_constant=_refuse_number, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise JSONInputError(
            JSON_MALFORMED.format(reason=error.msg, line=error.lineno, column=error.colno)
        ) from error
    except ValueError as error:  # from the hooks below, or an integer of over 4,300 digits
        raise JSONInputError(JSON_BAD_NUMBER) from error


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``, brackets inside strings not counted.

    No recursion, and regular expressions rather than a Python loop per character: a few
    tens of milliseconds for a megabyte of brackets. It sees strings where ``json.loads``
    does for as far as the text is valid JSON, and the decoder stops at the first invalid
    character: so the decoder never nests deeper than this count.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _refuse_number(constant: str) -> NoReturn:
    raise ValueError(constant)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _limits() -> dict[str, int]:
    """The settings' limits, read per call so that tests and deployments can change them."""
    return {
        "max_depth": settings.ATELIER_JSON_MAX_DEPTH,
        "max_bytes": settings.ATELIER_JSON_MAX_BYTES,
    }


class JSONBodyParser(JSONParser):
    """The API's JSON parser: ``parse_json`` on the body, which is read no further than the
    size limit. A ``charset`` parameter is ignored: JSON is UTF-8 (RFC 8259 §11)."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        limits = _limits()
        return parse_json(stream.read(limits["max_bytes"] + 1), **limits)


class JSONFormField(forms.CharField):
    """A JSON document typed into a form: its value, None when left empty, or a form error."""

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse_json(text, **_limits())
        except JSONInputError as error:
            raise forms.ValidationError(error.message, code=error.code) from error


class JSONSerializerField(serializers.JSONField):
    """A JSON document sent as the text of a multipart field (a JSON body's values arrive
    parsed by ``JSONBodyParser``); refused as the API refuses a JSON body: 400 invalid_json."""

    def to_internal_value(self, data: Any) -> Any:
        if not (self.binary or getattr(data, "is_json_string", False)):
            return super().to_internal_value(data)
        try:
            return parse_json(data, **_limits())
        except JSONInputError as error:
            raise JSONInputError(f"{self.field_name}: {error.message}") from error


def query_int(text: str | None) -> int | None:
    """A query parameter as an int from 1 to 999,999,999, else None (absent or anything else:
    signs, spaces, non-ASCII digits, more than nine digits); the caller picks the fallback."""
    if text is None or not _QUERY_INT.fullmatch(text):
        return None
    return int(text) or None
