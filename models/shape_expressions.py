"""The grammar of symbolic shapes in a .pt2 program, parsed here before torch ever sees them.

A program's sizes and strides may be expressions of its dynamic sizes, which torch's
deserialiser hands to `sympy.sympify`, an `eval` that also evaluates whatever the text
computes: `2**2**2**2**2**2` froze a web process for 74 s. So every expression is parsed first
by this grammar, and anything it does not describe is refused (`unsafe_program`):

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "//" | "%") unary)*
    unary      := ("-" | "+") unary | atom
    atom       := integer | size | "true" | "false" | "(" expression ")"
                | "Integer(" ["-"] integer ")"
                | "Float('" decimal "', precision=53)"
                | "Symbol('" size "'" ("," assumption "=" ("True" | "False"))* ")"
                | function "(" expression ("," expression)* ")"

Integers are at most 2**63 (torch's sizes are int64), sizes are torch's size symbols (`s0`,
`s12`), and the functions are sums and products, floor division, modulo, maxima and minima,
conversions between integers and floats, comparisons and logic: the shape functions torch
registers for deserialisation and SymPy's classes torch's own printer writes
(`Add(Symbol('s0', positive=True, integer=True), Integer(-1))`; older versions wrote
`s0 - 1`). Powers, shifts, attributes, other strings and names are not part of it. The text is
at most MAX_EXPRESSION_CHARS long and nests at most MAX_DEPTH deep, so what SymPy later
evaluates is harmless and small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.errors import UNSAFE_PROGRAM, ErrorCode, ModelError

# The longest expression of the zoo's exported generators is about 250 characters; of other
# programs tried (pooling, interpolation, attention), about 400.
MAX_EXPRESSION_CHARS = 4_000
MAX_DEPTH = 32
MAX_LITERAL = 2**63
NOT_SHAPE_ARITHMETIC = "a symbolic shape that is not integer arithmetic on sizes"

# Functions by their (fewest, most) arguments.
_ARITIES = {
    (2, 32): "Add Mul",
    (2, 8): "Max Min And Or",
    (2, 2): "FloorDiv Mod PythonMod CeilDiv CleanDiv IntTrueDiv FloatTrueDiv Eq Ne Lt Le Gt Ge "
    "Equality Unequality StrictLessThan StrictGreaterThan LessThan GreaterThan",
    (1, 1): "ToFloat TruncToInt FloorToInt CeilToInt RoundToInt TruncToFloat Identity Not",
}
FUNCTIONS = {name: arity for arity, names in _ARITIES.items() for name in names.split()}
ASSUMPTIONS = frozenset(
    ["positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite"]
)
_SIZE = re.compile(r"s[0-9]{1,9}")
_DECIMAL = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?(?:e[-+]?[0-9]{1,2})?")
_TOKEN = re.compile(
    r"(?P<space>[ \t\n]+)|(?P<integer>[0-9]+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<string>'[^'\\]*')|(?P<operator>\*\*|//|[-+*%(),=])"
)
_FLOAT_PRECISION = "53"


@dataclass(frozen=True)
class Number:
    value: int | float | bool


@dataclass(frozen=True)
class Size:
    name: str


@dataclass(frozen=True)
class Apply:
    """A function of FUNCTIONS, an infix operator (+ - * // %) or "neg", on its arguments."""

    function: str
    arguments: tuple[Expression, ...]
    depth: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        deepest = max(
            argument.depth if isinstance(argument, Apply) else 0 for argument in self.arguments
        )
        object.__setattr__(self, "depth", 1 + deepest)


Expression = Number | Size | Apply


def parse_shape_expression(text: str) -> Expression:
    """The expression `text` stands for; a ModelError (`unsafe_program`) if the grammar does
    not describe it."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise _refused(f"longer than {MAX_EXPRESSION_CHARS} characters", text)
    parser = _Parser(text, _tokens(text))
    expression = parser.expression()
    if parser.position != len(parser.tokens):
        raise _refused(f"unexpected {parser.tokens[parser.position][1]!r}", text)
    return expression


def _refused(reason: str, text: str) -> ModelError:
    return ModelError(
        ErrorCode.UNSAFE_PROGRAM,
        UNSAFE_PROGRAM.format(what=NOT_SHAPE_ARITHMETIC),
        detail=f"{reason}: {text[:120]!r}",
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every token but spaces; anything that is no token is refused."""
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _refused(f"the character {text[position]!r}", text)
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens; every level of nesting is counted against MAX_DEPTH."""

    def __init__(self, text: str, tokens: list[tuple[str, str]]) -> None:
        self.text = text
        self.tokens = tokens
        self.position = 0
        self.nesting = 0

    def expression(self) -> Expression:
        left = self.term()
        while self._peek() in ("+", "-"):
            operator = self._next()[1]
            left = self._apply(operator, (left, self.term()))
        return left

    def term(self) -> Expression:
        left = self.unary()
        while self._peek() in ("*", "//", "%"):
            operator = self._next()[1]
            left = self._apply(operator, (left, self.unary()))
        if self._peek() == "**":
            raise self._refused("a power")
        return left

    def unary(self) -> Expression:
        if self._peek() not in ("-", "+"):
            return self.atom()
        sign = self._next()[1]
        self._enter()
        operand = self.unary()
        self.nesting -= 1
        return self._apply("neg", (operand,)) if sign == "-" else operand

    def atom(self) -> Expression:
        kind, token = self._next()
        if kind == "integer":
            return Number(self._integer(token))
        if token == "(":
            self._enter()
            inner = self.expression()
            self._expect(")")
            self.nesting -= 1
            return inner
        if kind != "name":
            raise self._refused(f"unexpected {token!r}")
        if self._peek() == "(":
            return self.call(token)
        if token in ("true", "false"):
            return Number(token == "true")
        if _SIZE.fullmatch(token):
            return Size(token)
        raise self._refused(f"the name {token!r}")

    def call(self, name: str) -> Expression:
        self._expect("(")
        self._enter()
        if name == "Integer":
            negative = self._peek() == "-"
            if negative:
                self._next()
            kind, token = self._next()
            if kind != "integer":
                raise self._refused(f"Integer of {token!r}")
            result: Expression = Number(-self._integer(token) if negative else self._integer(token))
        elif name == "Float":
            result = Number(float(self._string(_DECIMAL)))
            self._expect(",")
            self._keyword("precision", _FLOAT_PRECISION)
        elif name == "Symbol":
            result = Size(self._string(_SIZE))
            while self._peek() == ",":
                self._next()
                self._keyword(None, "True", "False")
        elif name in FUNCTIONS:
            result = self._function(name)
        else:
            raise self._refused(f"the function {name!r}")
        self._expect(")")
        self.nesting -= 1
        return result

    def _function(self, name: str) -> Expression:
        arguments = [self.expression()]
        while self._peek() == ",":
            self._next()
            arguments.append(self.expression())
        fewest, most = FUNCTIONS[name]
        if not fewest <= len(arguments) <= most:
            raise self._refused(f"{name} of {len(arguments)} arguments")
        return self._apply(name, tuple(arguments))

    def _keyword(self, name: str | None, *values: str) -> None:
        """`name=value`, one of `values`; a None name is any of the Symbol assumptions."""
        kind, token = self._next()
        if kind != "name" or token not in (ASSUMPTIONS if name is None else {name}):
            raise self._refused(f"the argument {token!r}")
        self._expect("=")
        value = self._next()[1]
        if value not in values:
            raise self._refused(f"{token}={value!r}")

    def _string(self, pattern: re.Pattern[str]) -> str:
        kind, token = self._next()
        if kind != "string" or not pattern.fullmatch(token[1:-1]):
            raise self._refused(f"the string {token[:40]!r}")
        return token[1:-1]

    def _integer(self, token: str) -> int:
        if len(token) > 20 or int(token) > MAX_LITERAL:
            raise self._refused(f"the integer {token[:40]} (more than 2**63)")
        return int(token)

    def _apply(self, function: str, arguments: tuple[Expression, ...]) -> Apply:
        applied = Apply(function, arguments)
        if applied.depth > MAX_DEPTH:
            raise self._refused(f"nested more than {MAX_DEPTH} deep")
        return applied

    def _enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self._refused(f"nested more than {MAX_DEPTH} deep")

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise self._refused("unexpected end")
        self.position += 1
        return self.tokens[self.position - 1]

    def _expect(self, token: str) -> None:
        found = self._next()[1]
        if found != token:
            raise self._refused(f"{found!r} where {token!r} belongs")

    def _refused(self, reason: str) -> ModelError:
        return _refused(reason, self.text)
