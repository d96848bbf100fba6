"""The grammar of symbolic shapes: what real exports write parses, nothing else does, and what
parses means what Python's integer arithmetic says it means."""

from __future__ import annotations

import json
import math
import operator
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import errors
from models.errors import ErrorCode, ModelError
from models.loading import CheckpointSpec, validate_checkpoint
from models.shape_expressions import (
    MAX_DEPTH,
    MAX_EXPRESSION_CHARS,
    NOT_SHAPE_ARITHMETIC,
    Apply,
    Expression,
    Number,
    Size,
    parse_shape_expression,
)
from tests.models.checkpoint_files import GENERATOR_CASES
from tests.models.test_hostile import edit_program, rewrite_archive

UNSAFE_SHAPE = errors.UNSAFE_PROGRAM.format(what=NOT_SHAPE_ARITHMETIC)
# SymPy would evaluate each of these to a number of billions of digits, or run code.
POWER_TOWERS = [
    "2**2**2**2**2**2**2",
    "Pow(Integer(10), Pow(Integer(10), Integer(10)))",
    "PowByNatural(Integer(10), Integer(10000000000))",
    "FloatPow(Float('10.0', precision=53), Float('1e99', precision=53))",
    "LShift(Integer(1), Integer(10000000000))",
]
REFUSED = [
    *POWER_TOWERS,
    "s0.__class__",
    "__import__('os').system('true')",
    "s0 + 'text'",
    "Symbol('__import__')",
    "Symbol('s0', evaluate=False)",
    "Float('1.5', precision=100000000)",
    "Integer(99999999999999999999)",
    "s0 / 2",
    "s0 ^ 2",
    "x0 + 1",
    "Max(s0)",
    "FloorDiv(s0, 2, 3)",
    "lambda: 0",
    "s0 if s0 else 1",
    "(" * (MAX_DEPTH + 1) + "s0" + ")" * (MAX_DEPTH + 1),
    "-" * (MAX_DEPTH + 1) + "s0",
    "+".join(["s0"] * (MAX_DEPTH + 2)),
    "s0 + " * (MAX_EXPRESSION_CHARS // 5) + "1",
]
SIZES = ["s0", "s12", "s77"]
# What the functions of the grammar mean, as Python integer arithmetic: the oracle Python's own
# parser evaluates a generated text with.
MEANINGS: dict[str, Callable[..., Any]] = {
    "Add": lambda *terms: sum(terms),
    "Mul": lambda *factors: math.prod(factors),
    "FloorDiv": operator.floordiv,
    "Mod": operator.mod,
    "PythonMod": operator.mod,
    "Max": max,
    "Min": min,
}
_OPERATORS: dict[str, Callable[..., Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
    "neg": operator.neg,
}


def evaluate(expression: Expression, sizes: dict[str, int]) -> Any:
    """The value of a parsed expression for given sizes."""
    if isinstance(expression, Number):
        return expression.value
    if isinstance(expression, Size):
        return sizes[expression.name]
    assert isinstance(expression, Apply)
    arguments = [evaluate(argument, sizes) for argument in expression.arguments]
    return {**MEANINGS, **_OPERATORS}[expression.function](*arguments)


def python_value(text: str, sizes: dict[str, int]) -> Any:
    """What Python makes of the same text (test-generated only), the functions as MEANINGS."""
    namespace = {
        **MEANINGS,
        **sizes,
        "Integer": int,
        "Symbol": lambda name, **assumptions: sizes[name],
    }
    return eval(text, {"__builtins__": {}}, namespace)


def outcome(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except ZeroDivisionError:
        return ZeroDivisionError


def expression_texts() -> st.SearchStrategy[str]:
    """Grammar-valid texts in both of torch's spellings, mixed: infix and SymPy's classes."""
    literal = st.integers(0, 2**63)
    leaves = st.one_of(
        literal.map(str),
        st.integers(-(2**63), 2**63).map(lambda value: f"Integer({value})"),
        st.sampled_from(SIZES),
        st.sampled_from(SIZES).map(lambda name: f"Symbol('{name}', positive=True, integer=True)"),
    )

    def call(name: str, arguments: list[str]) -> str:
        fixed = name in ("FloorDiv", "Mod", "PythonMod")
        return f"{name}({', '.join(arguments[:2] if fixed else arguments)})"

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner)
        calls = st.tuples(st.sampled_from(list(MEANINGS)), st.lists(inner, min_size=2, max_size=3))
        return st.one_of(
            binary.map(" ".join),
            inner.map(lambda text: f"({text})"),
            inner.map(lambda text: f"-{text}"),
            calls.map(lambda parts: call(*parts)),
        )

    # Within the grammar's nesting limit: each operator or bracket nests at most one level.
    return st.recursive(leaves, extend, max_leaves=8).filter(
        lambda text: sum(text.count(mark) for mark in "(+-*/%") <= MAX_DEPTH - 2
    )


@settings(max_examples=300, deadline=None)
@given(text=expression_texts(), values=st.lists(st.integers(1, 10**6), min_size=3, max_size=3))
def test_what_parses_means_what_python_integer_arithmetic_says(
    text: str, values: list[int]
) -> None:
    sizes = dict(zip(SIZES, values, strict=True))
    expression = parse_shape_expression(text)
    assert outcome(lambda: evaluate(expression, sizes)) == outcome(
        lambda: python_value(text, sizes)
    )


GRAMMAR_CHARACTERS = "0123456789s+-*/%(),=' .^_\tIntegrSymbolFatMaxPwpositv"


@settings(max_examples=500, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.text(alphabet=GRAMMAR_CHARACTERS, max_size=400),
        expression_texts().map(lambda text: text[: len(text) // 2]),
    )
)
def test_any_text_parses_or_is_refused_as_unsafe(text: str) -> None:
    result = outcome_of_parsing(text)
    if isinstance(result, ModelError):
        assert (result.code, result.message) == (ErrorCode.UNSAFE_PROGRAM, UNSAFE_SHAPE)
    else:
        assert not isinstance(result, Apply) or result.depth <= MAX_DEPTH


def outcome_of_parsing(text: str) -> Expression | ModelError:
    try:
        return parse_shape_expression(text)
    except ModelError as error:
        return error


@pytest.mark.parametrize("text", REFUSED, ids=lambda text: text[:40])
def test_what_the_grammar_does_not_describe_is_refused(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ModelError) as caught:
        parse_shape_expression(text)
    assert caught.value.code == ErrorCode.UNSAFE_PROGRAM
    assert caught.value.message == UNSAFE_SHAPE
    assert time.perf_counter() - started < 0.1


def test_torchs_own_spellings_parse_to_their_meaning() -> None:
    sizes = {"s0": 37, "s53": 20}
    cases = {
        "Add(FloorDiv(Add(Symbol('s0', positive=True, integer=True), Integer(-1)), Integer(2)), "
        "Integer(1))": 19,
        "Mul(Integer(3), Max(Integer(1), FloorDiv(Symbol('s0', positive=True, integer=True), "
        "Integer(2))), Symbol('s53', positive=True, integer=True))": 1080,
        "TruncToInt(Mul(Float('1.5', precision=53), ToFloat(Symbol('s0', positive=True, "
        "integer=True))))": 55,
        "((s0 - 1)//2) + 1": 19,
        "Mod(s0, 4) + s0 % 3": 2,
    }
    meanings = {
        **MEANINGS,
        "TruncToInt": math.trunc,
        "ToFloat": float,
    }
    for text, value in cases.items():
        expression = parse_shape_expression(text)
        assert _evaluate_with(expression, sizes, meanings) == value, text


def _evaluate_with(
    expression: Expression, sizes: dict[str, int], meanings: dict[str, Callable[..., Any]]
) -> Any:
    if not isinstance(expression, Apply):
        return evaluate(expression, sizes)
    arguments = [_evaluate_with(argument, sizes, meanings) for argument in expression.arguments]
    return {**meanings, **_OPERATORS}[expression.function](*arguments)


def expressions_of(path: Path) -> Iterator[str]:
    with zipfile.ZipFile(path) as archive:
        name = next(name for name in archive.namelist() if name.endswith("models/model.json"))
        document = json.loads(archive.read(name))
    stack: list[Any] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("expr_str"), str):
                yield value["expr_str"]
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


@pytest.mark.parametrize("case", list(GENERATOR_CASES))
def test_every_expression_of_a_real_export_parses(
    case: str, program_file: Callable[[str], Path]
) -> None:
    found = list(expressions_of(program_file(case)))
    assert found
    for text in found:
        parse_shape_expression(text)


@pytest.mark.parametrize("tower", POWER_TOWERS, ids=lambda text: text[:20])
def test_a_power_tower_in_a_program_is_refused_at_once(
    tower: str, program_file: Callable[[str], Path], tmp_path: Path
) -> None:
    def inject(program: dict) -> None:
        values = program["graph_module"]["graph"]["tensor_values"]
        size = next(
            size for value in values.values() for size in value["sizes"] if "as_expr" in size
        )
        size["as_expr"]["expr_str"] = tower

    path = rewrite_archive(
        program_file("transformer_net"), tmp_path / "tower.pt2", edit_program(inject)
    )

    started = time.perf_counter()
    with pytest.raises(ModelError) as caught:
        validate_checkpoint(CheckpointSpec(path, "transformer_net"))

    assert time.perf_counter() - started < 3
    assert caught.value.code == ErrorCode.UNSAFE_PROGRAM
    assert caught.value.message == UNSAFE_SHAPE
