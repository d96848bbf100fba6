"""config.parsing: untrusted JSON within a depth and a size limit, and integer query
parameters; the properties hold for any input Hypothesis finds."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.parsing import (
    INVALID_JSON,
    JSON_BAD_NUMBER,
    JSON_NOT_UTF8,
    JSON_TOO_DEEP,
    JSON_TOO_LARGE,
    JSONInputError,
    json_depth,
    parse_json,
    query_int,
)

LIMITS = {"max_depth": 64, "max_bytes": 1024**2}


def refusal(data: str | bytes, **limits: int) -> JSONInputError:
    with pytest.raises(JSONInputError) as caught:
        parse_json(data, **{**LIMITS, **limits})
    assert caught.value.code == INVALID_JSON
    return caught.value


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- parse_json ---------------------------------------------------------------------------------


def test_nesting_100000_deep_is_refused_not_a_recursion_error() -> None:
    assert refusal(nested(100_000)).message == JSON_TOO_DEEP.format(limit=64)
    assert refusal('{"a":' * 100_000 + "1" + "}" * 100_000).message == JSON_TOO_DEEP.format(
        limit=64
    )


def test_unclosed_nesting_is_refused_too() -> None:
    assert refusal("[" * 100_000).message == JSON_TOO_DEEP.format(limit=64)


def test_exactly_max_depth_is_accepted_one_more_is_not() -> None:
    assert parse_json(nested(64), **LIMITS) == json.loads(nested(64))
    assert refusal(nested(65)).message == JSON_TOO_DEEP.format(limit=64)
    assert parse_json(nested(3), max_depth=3, max_bytes=100) == [[[]]]


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 1000, "b": ['{"', "\\", '"]]]']})
    assert json_depth(text) == 2
    assert parse_json(text, max_depth=2, max_bytes=10_000) == json.loads(text)


def test_oversize_is_refused_before_it_is_read() -> None:
    document = json.dumps(["x" * 100])
    assert refusal(document, max_bytes=50).message == JSON_TOO_LARGE.format(limit=50)
    assert refusal(document.encode(), max_bytes=50).message == JSON_TOO_LARGE.format(limit=50)
    # Counted in UTF-8 bytes, not in characters.
    assert refusal('"ééé"', max_bytes=6).message == JSON_TOO_LARGE.format(limit=6)
    assert parse_json('"ééé"', max_depth=1, max_bytes=8) == "ééé"


def test_malformed_json_says_where() -> None:
    assert refusal('{"a": }').message == (
        "This is not valid JSON: Expecting value (line 1, column 7)."
    )


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e999", "9" * 5000])
def test_numbers_json_cannot_hold_are_refused(text: str) -> None:
    assert refusal(text).message == JSON_BAD_NUMBER


def test_bytes_must_be_utf8() -> None:
    assert parse_json('{"name": "Zoë"}'.encode(), **LIMITS) == {"name": "Zoë"}
    assert refusal('{"name": "Zoë"}'.encode("latin-1")).message == JSON_NOT_UTF8


@pytest.mark.parametrize(
    "value", [{"width": 16, "norm": "instance"}, [1, 2.5, None, True, "x"], "text", 0, None, {}]
)
def test_valid_documents_round_trip(value: Any) -> None:
    assert parse_json(json.dumps(value), **LIMITS) == value
    assert parse_json(json.dumps(value).encode(), **LIMITS) == value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(st.text() | st.binary())
def test_any_input_is_a_value_or_the_one_error(data: str | bytes) -> None:
    with contextlib.suppress(JSONInputError):
        parse_json(data, max_depth=8, max_bytes=4096)


@given(st.text(alphabet='[]{}"\\:,1 ab'))
def test_any_bracket_soup_is_a_value_or_the_one_error(text: str) -> None:
    with contextlib.suppress(JSONInputError):
        parse_json(text, max_depth=4, max_bytes=4096)


@given(json_values)
def test_any_json_value_within_the_limits_equals_json_loads(value: Any) -> None:
    text = json.dumps(value)
    assert parse_json(text, max_depth=64, max_bytes=1024**2) == json.loads(text)


# --- query_int ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("007", 7),
        ("999999999", 999_999_999),
        (None, None),
        ("", None),
        ("0", None),
        ("-1", None),
        ("+3", None),
        (" 3", None),
        ("3 ", None),
        ("3\n", None),
        ("²", None),
        ("١٢", None),
        ("1000000000", None),
        ("9" * 5000, None),
        ("3.0", None),
    ],
)
def test_query_int_takes_only_one_to_nine_ascii_digits(text: str | None, expected: int) -> None:
    assert query_int(text) == expected


@given(st.text())
def test_query_int_of_any_text_is_none_or_in_range(text: str) -> None:
    value = query_int(text)
    assert value is None or (type(value) is int and 1 <= value <= 999_999_999)
