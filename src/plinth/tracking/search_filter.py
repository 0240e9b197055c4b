"""MLflow's search grammar for runs and experiments, parsed into typed clauses.

Pure: no SQL here. ``store/sql/search.py`` turns the clauses into statements. The grammar is
MLflow's (``mlflow/utils/search_utils.py``, 3.x), checked clause by clause against it::

    filter  := clause (AND clause)*
    clause  := identifier op value | identifier [NOT] IN (value, ...) | identifier IS [NOT] NULL
    identifier := [entity "."] key         entity and key may be quoted with backticks;
                                            a key may also be quoted with "..." or '...'
    order_by := identifier [ASC | DESC]

Keywords are case-insensitive; entity prefixes and keys are case-sensitive, as in MLflow.
Without a prefix an identifier names an attribute (``status = 'FINISHED'``). String values
take single or double quotes (a doubled quote inside stands for one); numbers are plain.

Deliberate supersets of MLflow, harmless for its clients: ``IN``/``NOT IN`` wherever ``=`` on
a string works (MLflow: only ``run_id``, ``experiment_id``, dataset fields); ``lifecycle_stage``
as a run attribute; entity aliases (``attributes.name``) and bare ``experiment_id`` numbers in
experiment filters. Stricter: a dangling or doubled ``AND`` is an error (MLflow ignores it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from plinth.errors import InvalidArgumentError

Entity: TypeAlias = Literal["metric", "param", "tag", "attribute", "dataset"]
OrderEntity: TypeAlias = Literal["metric", "param", "tag", "attribute"]
Operator: TypeAlias = Literal[
    "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"
]
Value: TypeAlias = str | float | tuple[str, ...] | None

MAX_FILTER_CLAUSES = 100
"""The most comparisons one filter may AND together."""
MAX_ORDER_BY_KEYS = 20
"""The most fields one ``order_by`` may name."""
MAX_IN_VALUES = 10_000
"""The most values a filter's ``IN`` lists may hold together (and a search's experiment
ids): PostgreSQL binds at most 65,535 values in one statement."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """One ``AND``-ed clause. ``key`` is canonical: aliases such as ``created`` are resolved.

    ``value`` is a ``str`` for string comparisons, an ``int`` (integral literal) or ``float``
    for numeric ones, a tuple for ``IN``/``NOT IN`` and ``None`` for ``IS [NOT] NULL``.
    """

    entity: Entity
    key: str
    op: Operator
    value: Value


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderKey:
    entity: OrderEntity
    key: str
    ascending: bool


_ENTITY_ALIASES: dict[str, Entity] = {
    **dict.fromkeys(("metric", "metrics"), "metric"),
    **dict.fromkeys(("param", "params", "parameter", "parameters"), "param"),
    **dict.fromkeys(("tag", "tags"), "tag"),
    **dict.fromkeys(("attribute", "attributes", "attr", "run"), "attribute"),
    **dict.fromkeys(("dataset", "datasets"), "dataset"),
}
_NUMERIC_OPS: frozenset[Operator] = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS: frozenset[Operator] = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
_NULL_OPS: frozenset[Operator] = frozenset({"IS NULL", "IS NOT NULL"})
_KEY_VALUE_OPS = _STRING_OPS | _NULL_OPS
_ID_OPS: frozenset[Operator] = frozenset({"=", "!=", "IN", "NOT IN"})
# Every operator by its spelling, so a parsed string becomes an ``Operator`` without a cast.
_OPERATORS: dict[str, Operator] = {op: op for op in _NUMERIC_OPS | _KEY_VALUE_OPS}

_RUN_STRING_ATTRIBUTES = frozenset(
    {"run_id", "run_name", "user_id", "status", "artifact_uri", "lifecycle_stage"}
)
_RUN_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
# MLflow's UI column titles, accepted as attribute keys (``attributes.`Run name` = 'x'``).
_RUN_ATTRIBUTE_ALIASES = {
    **dict.fromkeys(("created", "Created"), "start_time"),
    **dict.fromkeys(("run name", "Run name", "Run Name"), "run_name"),
}
_DATASET_KEYS = frozenset({"name", "digest", "context"})

_EXPERIMENT_ENTITIES = frozenset({"attribute", "tag"})
_EXPERIMENT_NUMERIC_ATTRIBUTES = frozenset({"creation_time", "last_update_time"})
_EXPERIMENT_ATTRIBUTES = frozenset({"name", "experiment_id"}) | _EXPERIMENT_NUMERIC_ATTRIBUTES


def _fmt(choices: frozenset[str]) -> str:
    return ", ".join(sorted(choices))


_TokenKind: TypeAlias = Literal["ident", "string", "number", "op", "keyword", "punct", "end"]
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _TokenKind
    text: str  # as written, for error messages
    value: str = ""  # keyword upper-cased, string unquoted, operator symbol
    parts: tuple[str, ...] = ()  # identifier segments, unquoted


_SPACE = re.compile(r"\s+")
_OPERATOR = re.compile(r"!=|<>|==|<=|>=|=|<|>")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.])")
_BARE_HEAD = re.compile(r"[A-Za-z_]\w*")
_BARE_SEGMENT = re.compile(r"\w+")
# Characters that may legally follow a token; anything else glued on is an unquoted key
# with special characters (``metrics.val-loss``), which MLflow also rejects.
_BOUNDARY = re.compile(r"[\s=<>!(),]|$")
_QUOTE_HINT = ": quote keys with characters other than letters, digits, '_', '.' in backticks"
# A doubled quote inside a string stands for one (SQL's rule); backticks cannot be escaped.
_QUOTED = {q: re.compile(f"{q}((?:[^{q}]|{q}{q})*){q}") for q in ("'", '"')}
_QUOTED["`"] = re.compile(r"`([^`]*)`")


def _quoted(text: str, pos: int, quote: str) -> tuple[str, int]:
    """Read the quoted run at ``pos``; returns (value, end)."""
    match = _QUOTED[quote].match(text, pos)
    if match is None:
        raise InvalidArgumentError(f"Unterminated quote {quote} in {text!r} at: {text[pos:]!r}")
    return match.group(1).replace(quote * 2, quote), match.end()


def _segment(text: str, pos: int, *, head: bool) -> tuple[str, int] | None:
    ch = text[pos : pos + 1]
    if ch == "`" or (not head and ch in ("'", '"')):
        return _quoted(text, pos, ch)
    match = (_BARE_HEAD if head else _BARE_SEGMENT).match(text, pos)
    return (match.group(), match.end()) if match else None


def _identifier(text: str, pos: int) -> tuple[_Token, int] | None:
    first = _segment(text, pos, head=True)
    if first is None:
        return None
    parts, end = [first[0]], first[1]
    while text.startswith(".", end) and (nxt := _segment(text, end + 1, head=False)):
        parts.append(nxt[0])
        end = nxt[1]
    raw = text[pos:end]
    if len(parts) == 1 and text[pos] != "`" and raw.upper() in _KEYWORDS:
        return _Token("keyword", raw, raw.upper()), end
    return _Token("ident", raw, parts=tuple(parts)), end


def _next_token(text: str, pos: int) -> tuple[_Token, int]:
    ch = text[pos]
    if ch in "(),":
        return _Token("punct", ch, ch), pos + 1
    if op := _OPERATOR.match(text, pos):
        return _Token("op", op.group(), op.group()), op.end()
    if num := _NUMBER.match(text, pos):
        return _Token("number", num.group(), num.group()), num.end()
    if ch in ("'", '"'):
        value, end = _quoted(text, pos, ch)
        return _Token("string", text[pos:end], value), end
    if found := _identifier(text, pos):
        return found
    word = text[pos:].split(maxsplit=1)[0]
    raise InvalidArgumentError(f"Invalid token {word!r} in {text!r}")


def _glued(text: str, token: _Token, end: int) -> InvalidArgumentError:
    word = token.text + text[end:].split(maxsplit=1)[0]
    hint = _QUOTE_HINT + ", e.g. metrics.`val-loss`" if token.kind == "ident" else ""
    return InvalidArgumentError(f"Invalid token {word!r} in {text!r}{hint}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        if space := _SPACE.match(text, pos):
            pos = space.end()
        if pos >= len(text):
            tokens.append(_Token("end", "end of input"))
            return tokens
        token, end = _next_token(text, pos)
        if token.kind in ("ident", "keyword", "number") and not _BOUNDARY.match(text, end):
            raise _glued(text, token, end)
        tokens.append(token)
        pos = end


@dataclass(frozen=True, slots=True)
class _Clause:
    """A syntactically valid clause before the entity's rules are checked."""

    ident: _Token
    op: str
    value: _Token | tuple[_Token, ...] | None


class _Parser:
    """Recursive descent over the token list; every error names the token it stopped at."""

    def __init__(self, text: str | None) -> None:
        self.text = _filter_text(text)
        self.tokens = _tokenize(self.text)
        self.pos = 0
        self.in_values = 0  # across the filter's IN lists

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, value: str) -> bool:
        return self.peek().kind in ("keyword", "punct") and self.peek().value == value

    def accept(self, value: str) -> bool:
        if self.at(value):
            self.pos += 1
            return True
        return False

    def fail(self, expected: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"Invalid filter {self.text!r}: expected {expected}, found {self.peek().text!r}"
        )

    def clauses(self) -> list[_Clause]:
        found = [self.clause()]
        while self.peek().kind != "end":
            if self.accept("OR"):
                raise InvalidArgumentError(
                    f"Invalid clause(s) in filter string: 'OR'. OR is not supported in search "
                    f"filters; combine clauses with AND (filter {self.text!r})"
                )
            if not self.accept("AND"):
                raise self.fail("AND or the end of the filter")
            found.append(self.clause())
            if len(found) > MAX_FILTER_CLAUSES:
                # Past this a database refuses the statement ("Expression tree is too
                # large"), which would read as an outage rather than as the caller's error.
                raise InvalidArgumentError(
                    f"Invalid filter: more than {MAX_FILTER_CLAUSES} clauses; narrow the "
                    "search with fewer comparisons (IN takes several values in one)"
                )
        return found

    def clause(self) -> _Clause:
        ident = self.peek()
        if ident.kind != "ident":
            raise self.fail("an identifier such as metrics.<key>, params.<key> or tags.<key>")
        self.take()
        if self.peek().kind == "op":
            return _Clause(ident, self.take().value, self.scalar())
        for op in ("LIKE", "ILIKE", "IN"):
            if self.accept(op):
                return _Clause(ident, op, self.values() if op == "IN" else self.scalar())
        if self.accept("NOT"):
            if not self.accept("IN"):
                raise self.fail("IN after NOT")
            return _Clause(ident, "NOT IN", self.values())
        if self.accept("IS"):
            op = "IS NOT NULL" if self.accept("NOT") else "IS NULL"
            if not self.accept("NULL"):
                raise self.fail("NULL")
            return _Clause(ident, op, None)
        raise self.fail(f"a comparison operator after {ident.text!r}")

    def scalar(self) -> _Token:
        if self.peek().kind not in ("string", "number", "ident"):
            raise self.fail("a value")
        return self.take()

    def values(self) -> tuple[_Token, ...]:
        if not self.accept("("):
            raise self.fail("a parenthesised list of values")
        items: list[_Token] = []
        while not self.accept(")"):
            items.append(self.scalar())
            self.in_values += 1
            if self.in_values > MAX_IN_VALUES:
                # PostgreSQL binds at most 65,535 values in one statement.
                raise InvalidArgumentError(
                    f"Invalid filter: its IN lists hold more than {MAX_IN_VALUES} values "
                    "together; search in several requests"
                )
            if not self.accept(",") and not self.at(")"):
                raise self.fail("',' or ')' in the value list")
        if not items:
            raise InvalidArgumentError(
                "While parsing a list in the query, expected a non-empty list of string values, "
                "but got empty list"
            )
        return tuple(items)


def _entity(written: str, allowed: frozenset[str] | None = None) -> Entity:
    entity = _ENTITY_ALIASES.get(written)
    if entity is None or (allowed is not None and entity not in allowed):
        valid = _fmt(allowed if allowed is not None else frozenset(_ENTITY_ALIASES))
        raise InvalidArgumentError(f"Invalid entity type '{written}'. Valid values are {valid}")
    return entity


def _known(key: str, valid: frozenset[str], what: str) -> str:
    if key not in valid:
        raise InvalidArgumentError(
            f"Invalid {what} key '{key}' specified. Valid keys are {_fmt(valid)}"
        )
    return key


def _split_identifier(ident: _Token) -> tuple[str, str]:
    """(entity as written, key); an unprefixed identifier names an attribute."""
    if len(ident.parts) == 1:
        return "attribute", ident.parts[0]
    return ident.parts[0], ".".join(ident.parts[1:])


def _check_op(clause: _Clause, allowed: frozenset[Operator], what: str) -> Operator:
    op = _OPERATORS.get(clause.op)
    if op is None or op not in allowed:
        raise InvalidArgumentError(
            f"Invalid comparator '{clause.op}' for {what}; not one of {_fmt(frozenset(allowed))}"
        )
    return op


def _string_value(clause: _Clause, what: str) -> str | tuple[str, ...] | None:
    def one(token: _Token) -> str:
        if token.kind != "string":
            raise InvalidArgumentError(
                f"Expected a quoted string value for {what} (e.g. 'my-value'). "
                f"Got value {token.text}"
            )
        return token.value

    if clause.value is None or isinstance(clause.value, _Token):
        return None if clause.value is None else one(clause.value)
    return tuple(one(t) for t in clause.value)


def _number_value(clause: _Clause, what: str, *, integral: bool = False) -> float:
    token = clause.value
    if not isinstance(token, _Token) or token.kind != "number":
        found = token.text if isinstance(token, _Token) else "a list"
        raise InvalidArgumentError(f"Expected numeric value type for {what}. Found {found}")
    if re.fullmatch(r"-?\d+", token.value):
        value = int(token.value)
        if -(2**63) <= value < 2**63:
            return value
        if integral:
            raise InvalidArgumentError(
                f"Invalid value for {what}: {token.text} is out of range (64-bit integers)"
            )
        # Beyond any stored integer, and compared as such: a float (huge, or infinite)
        # compares right where an int would overflow the database driver.
        return float(token.value)
    if integral:
        raise InvalidArgumentError(f"Invalid value for {what}: {token.text!r} is not an integer")
    return float(token.value)


def _make(clause: _Clause, entity: Entity, key: str, ops: frozenset[Operator]) -> Comparison:
    what = f"{entity} '{key}'"
    op = _check_op(clause, ops, what)
    return Comparison(entity=entity, key=key, op=op, value=_string_value(clause, what))


def _numeric(clause: _Clause, entity: Entity, key: str, *, integral: bool = False) -> Comparison:
    what = f"{entity} '{key}'"
    op = _check_op(clause, _NUMERIC_OPS, what)
    value = _number_value(clause, what, integral=integral)
    return Comparison(entity=entity, key=key, op=op, value=value)


def _metric(clause: _Clause, key: str) -> Comparison:
    # Metrics are floats whatever the literal looks like; time attributes keep ints.
    what = f"metric '{key}'"
    op = _check_op(clause, _NUMERIC_OPS, what)
    return Comparison(entity="metric", key=key, op=op, value=float(_number_value(clause, what)))


def _run_comparison(clause: _Clause) -> Comparison:
    written, key = _split_identifier(clause.ident)
    entity = _entity(written)
    if entity == "metric":
        return _metric(clause, key)
    if entity in ("param", "tag"):
        return _make(clause, entity, key, _KEY_VALUE_OPS)
    if entity == "dataset":
        return _make(clause, entity, _known(key, _DATASET_KEYS, "dataset"), _STRING_OPS)
    key = _run_attribute_key(key)
    if key in _RUN_NUMERIC_ATTRIBUTES:
        return _numeric(clause, "attribute", key)
    return _make(clause, "attribute", key, _STRING_OPS)


def _run_attribute_key(key: str) -> str:
    key = _RUN_ATTRIBUTE_ALIASES.get(key, key)
    return _known(key, _RUN_STRING_ATTRIBUTES | _RUN_NUMERIC_ATTRIBUTES, "attribute")


def _experiment_comparison(clause: _Clause) -> Comparison:
    written, key = _split_identifier(clause.ident)
    entity = _entity(written, _EXPERIMENT_ENTITIES)
    if entity == "tag":
        return _make(clause, "tag", key, _KEY_VALUE_OPS)
    if _known(key, _EXPERIMENT_ATTRIBUTES, "attribute") in _EXPERIMENT_NUMERIC_ATTRIBUTES:
        return _numeric(clause, "attribute", key, integral=True)
    if key == "experiment_id":
        return _experiment_id(clause)
    return _make(clause, "attribute", key, _STRING_OPS)


def _experiment_id(clause: _Clause) -> Comparison:
    """``experiment_id`` takes quoted (MLflow) or bare integers; kept as decimal strings."""
    op = _check_op(clause, _ID_OPS, "attribute 'experiment_id'")
    tokens = clause.value if isinstance(clause.value, tuple) else (clause.value,)
    ids: list[str] = []
    for token in tokens:
        if (
            token is None
            or token.kind == "ident"
            or not re.fullmatch(r"\d+", token.value)
            or int(token.value) >= 2**63
        ):
            shown = "NULL" if token is None else token.text
            raise InvalidArgumentError(
                f"Invalid experiment ID {shown}: experiment_id takes integers such as '1'"
            )
        ids.append(str(int(token.value)))
    value = tuple(ids) if isinstance(clause.value, tuple) else ids[0]
    return Comparison(entity="attribute", key="experiment_id", op=op, value=value)


def parse_run_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``search_runs`` filter into its ``AND``-ed comparisons.

    Args:
        filter_string: MLflow filter syntax, e.g. ``metrics.acc > 0.9 and params.lr = '0.1'``.
            ``None``, empty or blank means no filter.

    Returns:
        The comparisons in the order written, keys resolved to canonical names.

    Raises:
        InvalidArgumentError: The filter does not parse, uses ``OR``, names an unknown entity
            or attribute, or uses an operator or value the entity does not support.
    """
    if _blank(filter_string):
        return []
    return [_run_comparison(c) for c in _Parser(filter_string).clauses()]


def parse_experiment_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``search_experiments`` filter (attributes ``name``, ``experiment_id``,
    ``creation_time``, ``last_update_time`` and ``tags.<key>``).

    Raises:
        InvalidArgumentError: As for :func:`parse_run_filter`.
    """
    if _blank(filter_string):
        return []
    return [_experiment_comparison(c) for c in _Parser(filter_string).clauses()]


def _blank(filter_string: str | None) -> bool:
    """Whether a filter is absent (None, empty or spaces); the parser refuses a non-str."""
    return filter_string is None or (isinstance(filter_string, str) and not filter_string.strip())


def search_arguments(
    filter_string: str | None, order_by: Sequence[str] | None
) -> tuple[str | None, tuple[str, ...]]:
    """A search's filter and order_by, type-checked before any parsing, caching or sending.

    Raises:
        InvalidArgumentError: The filter is not a str, order_by is one str rather than a list
            of them, or an item of it is not a str.
    """
    if filter_string is not None:
        _filter_text(filter_string)
    return filter_string, tuple(_order_item(c) for c in _order_items(order_by or ()))


def _filter_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f'filter_string must be a str such as "metrics.auc > 0.8", got {type(text).__name__}.'
        )
    return text


def _order_item(clause: object) -> str:
    if not isinstance(clause, str):
        raise InvalidArgumentError(
            f"order_by items must be str such as 'metrics.auc DESC', got {clause!r}."
        )
    return clause


def _order_items(order_by: Sequence[str]) -> Sequence[str]:
    if isinstance(order_by, str):
        # Iterated, a string would be read one letter at a time ("Invalid attribute 'm'").
        raise InvalidArgumentError(
            f"order_by must be a list of str, e.g. [{order_by!r}], not one str."
        )
    return order_by


def _order_token(clause: str) -> tuple[_Token, bool]:
    """Split one ``order_by`` item into its identifier token and direction."""
    tokens = _tokenize(_order_item(clause))
    kinds = [t.kind for t in tokens]
    if kinds not in (["ident", "end"], ["ident", "ident", "end"]):
        raise InvalidArgumentError(f"Invalid order_by clause '{clause}'. Could not be parsed.")
    if kinds[1] == "end":
        return tokens[0], True
    direction = tokens[1].text.upper()
    if direction not in ("ASC", "DESC"):
        raise InvalidArgumentError(
            f"Invalid ordering key in order_by clause '{clause}': expected ASC or DESC, "
            f"found {tokens[1].text!r}"
        )
    return tokens[0], direction == "ASC"


def _check_unique(keys: list[OrderKey], order_by: Sequence[str]) -> list[OrderKey]:
    if len({(k.entity, k.key) for k in keys}) != len(keys):
        raise InvalidArgumentError(f"`order_by` contains duplicate fields: {list(order_by)}")
    if len(keys) > MAX_ORDER_BY_KEYS:
        # Each key of a run search is a join, and SQLite joins at most 64 tables.
        raise InvalidArgumentError(
            f"`order_by` has {len(keys)} fields; at most {MAX_ORDER_BY_KEYS} are allowed"
        )
    return keys


def _run_order_key(clause: str) -> OrderKey:
    ident, ascending = _order_token(clause)
    written, key = _split_identifier(ident)
    entity = _entity(written)
    if entity == "dataset":
        raise InvalidArgumentError(f"Invalid order_by entity type 'dataset' in '{clause}'")
    if entity == "attribute":
        key = _run_attribute_key(key)
    return OrderKey(entity=entity, key=key, ascending=ascending)


def parse_order_by(order_by: Sequence[str]) -> list[OrderKey]:
    """Parse ``search_runs`` ``order_by`` items such as ``metrics.auc DESC`` or ``start_time``.

    Raises:
        InvalidArgumentError: An item does not parse, names a dataset or unknown attribute, or
            the same field appears twice.
    """
    return _check_unique([_run_order_key(c) for c in _order_items(order_by)], order_by)


def _experiment_order_key(clause: str) -> OrderKey:
    ident, ascending = _order_token(clause)
    written, key = _split_identifier(ident)
    if _entity(written, _EXPERIMENT_ENTITIES) != "attribute":
        raise InvalidArgumentError(f"Invalid order_by entity: {written} (in '{clause}')")
    key = _known(key, _EXPERIMENT_ATTRIBUTES, "attribute")
    return OrderKey(entity="attribute", key=key, ascending=ascending)


def parse_experiment_order_by(order_by: Sequence[str]) -> list[OrderKey]:
    """Parse ``search_experiments`` ``order_by`` items (``name``, ``experiment_id``,
    ``creation_time``, ``last_update_time``, each optionally ``ASC``/``DESC``).

    Raises:
        InvalidArgumentError: As for :func:`parse_order_by`.
    """
    return _check_unique([_experiment_order_key(c) for c in _order_items(order_by)], order_by)


# --- Registry searches: plain attributes plus tags (and params) -----------------------------


def parse_attribute_filter(
    filter_string: str | None,
    *,
    strings: frozenset[str],
    numbers: frozenset[str] = frozenset(),
    children: frozenset[Entity] = frozenset({"tag"}),
) -> list[Comparison]:
    """Parse a registry filter (registered models, model versions, logged models).

    Unprefixed identifiers are attributes: ``strings`` take ``=``, ``!=``, ``LIKE``, ``ILIKE``
    and ``[NOT] IN``; ``numbers`` take integer comparisons. ``children`` are the key-value
    entities allowed besides attributes (``tags.<key>``, ``params.<key>``, ``metrics.<key>``,
    which compares numbers).

    Raises:
        InvalidArgumentError: As for :func:`parse_run_filter`.
    """
    if _blank(filter_string):
        return []
    allowed = children | {"attribute"}
    return [
        _attribute_comparison(c, allowed, strings, numbers)
        for c in _Parser(filter_string).clauses()
    ]


def _attribute_comparison(
    clause: _Clause, allowed: frozenset[str], strings: frozenset[str], numbers: frozenset[str]
) -> Comparison:
    written, key = _split_identifier(clause.ident)
    entity = _entity(written, allowed)
    if entity == "metric":
        return _metric(clause, key)
    if entity != "attribute":
        return _make(clause, entity, key, _KEY_VALUE_OPS)
    if _known(key, strings | numbers, "attribute") in numbers:
        return _numeric(clause, "attribute", key, integral=True)
    return _make(clause, "attribute", key, _STRING_OPS)


def parse_attribute_order_by(order_by: Sequence[str], attributes: frozenset[str]) -> list[OrderKey]:
    """Parse registry ``order_by`` items: one of ``attributes``, optionally ``ASC``/``DESC``.

    Raises:
        InvalidArgumentError: As for :func:`parse_order_by`.
    """
    keys = []
    for clause in _order_items(order_by):
        ident, ascending = _order_token(clause)
        written, key = _split_identifier(ident)
        _entity(written, frozenset({"attribute"}))
        key = _known(key, attributes, "order_by")
        keys.append(OrderKey(entity="attribute", key=key, ascending=ascending))
    return _check_unique(keys, order_by)
