"""Validation rules for what is logged, shared by every store (MLflow's limits).

Messages name the field and say what would be valid, because they reach users verbatim
through the SDK, the CLI and the REST API.
"""

from __future__ import annotations

import json
import math
import operator
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from plinth.errors import InvalidArgumentError, PayloadTooLargeError

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 256
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_TOTAL = 1000
# Millisecond timestamps between 1970 and 2100: anything else is almost surely seconds,
# nanoseconds or garbage, and would sort runs nonsensically.
MAX_TIMESTAMP_MS = 4_102_444_800_000

UNPAIRED_SURROGATE = (
    "a text value is not valid Unicode: it holds an unpaired surrogate (JSON's \\ud800-style "
    "escape of half a character); send valid UTF-8 text"
)

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,255}$")


def validate_key(kind: str, key: object) -> str:
    """A metric, param or tag key: non-empty, at most 250 characters, no path tricks."""
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(f"{kind} key must be a non-empty string, got {key!r}.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(
            f"{kind} key '{key[:40]}...' is {len(key)} characters long; "
            f"the limit is {MAX_KEY_LENGTH}."
        )
    if not _KEY_RE.match(key):
        raise InvalidArgumentError(
            f"Invalid {kind.lower()} name: '{key}'. Names may only contain alphanumerics, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    if ".." in key.split("/") or key.startswith("/"):
        # Keys name files in some tools (MLflow's file store): no path out of the run.
        raise InvalidArgumentError(
            f"Invalid {kind.lower()} name: '{key}'. A name may not start with '/' or have "
            "'..' between slashes."
        )
    if posixpath.normpath(key) != key or key == ".":
        # As MLflow refuses them: 'a//b' and 'a/b' (or 'a/' and 'a') would be two keys
        # naming one file there, and look alike everywhere.
        plain = posixpath.normpath(key)
        hint = f": use '{plain}'" if plain != "." else ""
        raise InvalidArgumentError(
            f"Invalid {kind.lower()} name: '{key}' must not resolve to other names when "
            f"treated as a path{hint}."
        )
    return key


def validate_text(field: str, value: object, max_length: int | None = None) -> str:
    """Any stored text: valid Unicode without NUL characters (PostgreSQL cannot store them),
    within the column."""
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"{field} must be a string, got {type(value).__name__} {value!r}."
        )
    if "\x00" in value:
        raise InvalidArgumentError(f"{field} contains a NUL character (\\x00); remove it.")
    if not value.isascii():  # only then can it hold an unpaired surrogate
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidArgumentError(f"Invalid {field}: {UNPAIRED_SURROGATE}.") from None
    if max_length is not None and len(value) > max_length:
        raise InvalidArgumentError(
            f"{field} is {len(value)} characters long; the limit is {max_length}."
        )
    return value


def validate_param_value(key: str, value: object) -> str:
    text = validate_text(f"Param '{key}' value", str(value))
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidArgumentError(
            f"Param '{key}' has a value of {len(text)} characters; "
            f"the limit is {MAX_PARAM_VALUE_LENGTH}."
        )
    return text


def validate_tag_value(key: str, value: object) -> str:
    text = validate_text(f"Tag '{key}' value", "" if value is None else str(value))
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidArgumentError(
            f"Tag '{key}' has a value of {len(text)} characters; "
            f"the limit is {MAX_TAG_VALUE_LENGTH}."
        )
    return text


def validate_params(params: Iterable[Any]) -> dict[str, str]:
    """Params' keys and values (``.key``, ``.value``), a key repeated only with its value."""
    values: dict[str, str] = {}
    for p in params:
        key = validate_key("Param", p.key)
        value = validate_param_value(key, p.value)
        if values.get(key, value) != value:
            raise InvalidArgumentError(
                f"Param '{key}' appears twice in one batch with different values."
            )
        values[key] = value
    return values


def validate_metric_value(key: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"Metric '{key}' got value {value!r}; metric values must be numbers."
        ) from None
    except OverflowError:  # an int past the largest float
        raise InvalidArgumentError(
            f"Metric '{key}' value is beyond the largest float (about 1.8e308)."
        ) from None


def validate_timestamp(field: str, value: object) -> int:
    number = value if isinstance(value, float) and math.isfinite(value) else _integer(value)
    if number is None:
        raise InvalidArgumentError(f"{field} must be epoch milliseconds, got {value!r}.")
    ms = int(number)
    if not 0 <= ms <= MAX_TIMESTAMP_MS:
        raise InvalidArgumentError(
            f"{field} {_short(ms)} is not epoch milliseconds between 1970 and 2100 "
            "(seconds need multiplying by 1000)."
        )
    return ms


def validate_time_window(since_ms: int | None, until_ms: int | None) -> None:
    """``[since_ms, until_ms)``, either end optional: epoch milliseconds (a forged 2**63
    would overflow the database's integers), the start not after the end."""
    for field, value in (("since_ms", since_ms), ("until_ms", until_ms)):
        if value is not None:
            validate_timestamp(field, value)
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise InvalidArgumentError(
            f"since_ms ({since_ms}) is after until_ms ({until_ms}); swap them or drop one"
        )


def validate_step(field: str, value: object) -> int:
    """A step: an integer (NumPy's too) of 64 bits; ``field`` names it in errors."""
    step = _integer(value)
    if step is None:
        raise InvalidArgumentError(f"{field} must be an integer, got {value!r}.")
    if abs(step) >= 2**63:
        raise InvalidArgumentError(f"{field} {_short(step)} does not fit in 64 bits.")
    return step


def _short(number: int) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"


def _integer(value: object) -> int | None:
    """``value`` as a Python int if it is an integer of any kind (NumPy's included, as the
    server reads them from JSON), else None; booleans are not integers here."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def validate_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidArgumentError(
            f"Invalid run ID {run_id!r}: expected a 32-character hexadecimal id."
        )
    return run_id


def validate_experiment_id(experiment_id: object) -> int:
    try:
        value = int(str(experiment_id))
    except ValueError:
        raise InvalidArgumentError(
            f"Invalid experiment ID {experiment_id!r}: experiment IDs are integers."
        ) from None
    if value < 0 or value >= 2**31:
        raise InvalidArgumentError(f"Invalid experiment ID {experiment_id!r}: out of range.")
    return value


def validate_mapping(field: str, value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping (``None`` is an empty one) of names to values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{field} must be a dict of names to values, got {type(value).__name__}."
        )
    return value


def validate_list(
    field: str, items: object, *, of: type | None = None, limit: int | None = None
) -> list[Any]:
    """A list (not one value, not a str read letter by letter), of ``of`` instances when
    given, at most ``limit`` long."""
    what = of.__name__ if of is not None else "ids such as ['1']"
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidArgumentError(f"{field} must be a list of {what}, got {items!r:.40}.")
    if limit is not None and len(items) > limit:
        raise InvalidArgumentError(f"{field}: {len(items)} items; pass at most {limit} at once.")
    if of is not None:
        for index, item in enumerate(items):
            if not isinstance(item, of):
                raise InvalidArgumentError(
                    f"{field}[{index}] must be a {of.__name__}, got {type(item).__name__}."
                )
    return list(items)


def validate_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError("Experiment name must be a non-empty string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidArgumentError(
            f"Experiment name is {len(name)} characters long; the limit is "
            f"{MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return validate_text("Experiment name", name)


def validate_user_name(name: object) -> str:
    if not isinstance(name, str) or not _USER_NAME_RE.match(name):
        raise InvalidArgumentError(
            f"Invalid user name {name!r}: use letters, digits, '_', '.', '@' or '-' "
            "(at most 256 characters, starting with a letter or digit)."
        )
    return name


def validate_batch_size(n_metrics: int, n_params: int, n_tags: int) -> None:
    for count, limit, what in (
        (n_metrics, MAX_BATCH_METRICS, "metrics"),
        (n_params, MAX_BATCH_PARAMS, "params"),
        (n_tags, MAX_BATCH_TAGS, "tags"),
        (n_metrics + n_params + n_tags, MAX_BATCH_TOTAL, "metrics, params and tags in total"),
    ):
        if count > limit:
            raise PayloadTooLargeError(
                f"A batch may hold at most {limit} {what}; got {count}. Split it into "
                "several log_batch calls."
            )


"""Why text no database driver (nor URL, nor orjson) can carry is refused."""


def unstorable(value: object, where: str = "", *, integers: bool = False) -> str | None:
    """The error for the first part of a JSON-like ``value`` that cannot be stored, naming
    its path (``params[0].value``): text holding an unpaired surrogate, and with
    ``integers`` an integer beyond 64 bits. ``None`` if there is none."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"Invalid value for {where or 'the request'}: {UNPAIRED_SURROGATE}."
    elif integers and isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**64:
            return f"Invalid value for {where or 'the request'}: {value} is beyond 64 bits."
    elif isinstance(value, dict):
        for key, item in value.items():
            found = unstorable(key, where or "an object key") or unstorable(
                item, f"{where}.{key}" if where else str(key), integers=integers
            )
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable(item, f"{where}[{index}]", integers=integers)
            if found:
                return found
    return None


def json_text(value: object, where: str, *, sort_keys: bool = False) -> str:
    """``value`` as the JSON text a store keeps, or an error naming ``where``.

    ``json.dumps`` writes an unpaired surrogate as an ASCII ``\\ud800`` escape, which the
    database accepts and every later read then fails to return as UTF-8: checked first so
    that such a value is refused instead of making what was written unreadable.
    Values JSON has no type for (dates, ``Decimal``) are written as their text.

    Raises:
        InvalidArgumentError: ``value`` holds text that is not valid Unicode.
    """
    problem = unstorable(value, where)
    if problem:
        raise InvalidArgumentError(problem)
    return json.dumps(value, sort_keys=sort_keys, default=str)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_unstorable(text: bytes | str, value: object) -> str | None:
    """:func:`unstorable` for ``value`` decoded from the JSON ``text``, walking ``value``
    only if ``text`` could hold a surrogate: a ``\\ud800``-style escape (or, in text,
    the character itself). Most bodies have none, and a walk of a 10,000-row request costs
    more than its decoding."""
    if isinstance(text, str):
        try:
            text = text.encode()
        except UnicodeEncodeError:
            return unstorable(value)
    if _SURROGATE_ESCAPE.search(text) is None:
        return None
    return unstorable(value)
