"""MLflow's scoring protocol (``mlflow models serve``): decode invocations, encode predictions.

Pure functions over bytes (INTERFACES.md section 3.3); the route reads the body, enforces
the size limit and calls these. Accepted bodies, as MLflow 2.x's scoring server reads them:

- ``text/csv``: a header row and one row per record, read by pandas; columns the
  signature types as text stay text (``"007"`` is not read as 7).
- ``application/json``: an object with exactly one of

  - ``dataframe_split``: ``{"columns": [...], "data": [[...], ...], "index"?: [...]}``
  - ``dataframe_records``: ``[{"col": value, ...}, ...]``
  - ``instances`` or ``inputs``: records (a list of objects) give a DataFrame; an object
    of lists gives columns (a DataFrame for a column signature, else a dict of arrays);
    a list of lists gives an ndarray, or a DataFrame in the column signature's order

  plus an optional ``params`` object. Other top-level keys are ignored, as MLflow does;
  MLflow's unwrapped LLM bodies (``messages``, ``prompt``, ``input``) are not served.

Column signatures convert each named column to its type (:mod:`plinth.serving.wire_arrays`)
and refuse a missing required column; columns the signature does not name are kept, so
the router can read A/B sticky keys before dropping them. Responses are
``{"predictions": ...}`` with MLflow's ``records`` orientation and ``null`` for NaN.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson
import pandas as pd

from plinth.entities.validation import json_unstorable
from plinth.errors import InvalidArgumentError, UnsupportedMediaTypeError
from plinth.models.signature import ModelSignature
from plinth.serving.wire_arrays import (
    Array,
    Column,
    build_frame,
    column_values,
    describe_columns,
    json_array,
    json_default,
    named_columns,
    plain_array,
    require_columns,
    require_text,
    tensor_specs,
    tensor_values,
    text_column,
)

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
ACCEPTED_CONTENT_TYPES = (JSON_TYPE, CSV_TYPE)
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")

PROTOCOL_HINT = (
    "MLflow 2.0 changed the scoring protocol: a JSON body must be an object with exactly one "
    "of the keys dataframe_split, dataframe_records, instances or inputs (and optionally "
    'params), e.g. {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}. '
    "Clients written for MLflow 1.x (a bare list, or a pandas 'format' content-type "
    "parameter) need that update."
)
"""Appended to every format error, as MLflow's scoring server does."""

ModelInput = pd.DataFrame | Array | dict[str, Array]


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """A decoded invocation.

    Attributes:
        data: The model input: a DataFrame, an ndarray, or a dict of named arrays.
        params: The body's ``params`` object, passed on to ``predict``; ``None`` if absent.
    """

    data: ModelInput
    params: dict[str, object] | None


def decode_invocation(
    body: bytes, content_type: str | None, signature: ModelSignature | None
) -> Invocation:
    """Parse an invocation body into model input (see the module docstring).

    Args:
        body: The raw request body.
        content_type: The request's ``Content-Type`` header.
        signature: The model's signature, or ``None``.

    Raises:
        UnsupportedMediaTypeError: a content type other than JSON or CSV, a charset other
            than utf-8, or other content-type parameters (415).
        InvalidArgumentError: malformed JSON or CSV, zero or several format keys (with
            MLflow's protocol hint), or data that does not fit the signature, naming the
            field.
    """
    if _media_type(content_type) == CSV_TYPE:
        return Invocation(data=_csv_input(body, signature), params=None)
    doc = _json_object(body)
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        raise InvalidArgumentError(
            f"Expected exactly one of {', '.join(FORMATS)}; got "
            f"{'the keys ' + ', '.join(sorted(doc)) if doc else 'no keys'}. {PROTOCOL_HINT}"
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidArgumentError(f"params must be a JSON object; got {params!r}.")
    return Invocation(data=_json_input(keys[0], doc[keys[0]], signature), params=params)


def _media_type(content_type: str | None) -> str:
    mime, *parameters = (p.strip() for p in (content_type or "").split(";"))
    mime = mime.lower()
    if mime not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content type {content_type!r} is not supported; send "
            f"{' or '.join(ACCEPTED_CONTENT_TYPES)}."
        )
    for parameter in filter(None, parameters):
        key, _, value = parameter.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if key != "charset":
            raise UnsupportedMediaTypeError(
                f"Content-type parameter {key!r} is not supported (only charset=utf-8). "
                + PROTOCOL_HINT
            )
        if value not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError(
                f"Charset {value!r} is not supported; send the body as utf-8."
            )
    return mime


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        # MLflow's own client writes NaN as a bare NaN token (json.dumps' default), which
        # orjson rejects as invalid JSON; the standard parser reads it.
        doc = _loads_with_nan(body)
    if isinstance(doc, list):
        raise InvalidArgumentError(f"Expected a JSON object; got a list. {PROTOCOL_HINT}")
    if not isinstance(doc, dict):
        raise InvalidArgumentError(
            f"Expected a JSON object; got {type(doc).__name__}. {PROTOCOL_HINT}"
        )
    return doc


def _loads_with_nan(body: bytes) -> object:
    try:
        doc = json.loads(body)
    # RecursionError: nesting deeper than the parser's stack (orjson refused it first).
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidArgumentError(f"Request body is not valid JSON: {exc}.") from None
    # orjson also refuses "\ud800"-style escapes of unpaired surrogates, text the model's
    # input (and the prediction log) cannot encode.
    problem = json_unstorable(body, doc)
    if problem:
        raise InvalidArgumentError(problem)
    return doc


def _json_input(key: str, value: object, signature: ModelSignature | None) -> ModelInput:
    if key == "dataframe_split":
        return _split_input(value, signature)
    if key == "dataframe_records" or _is_records(value):
        return _records_input(value, signature, field=key)
    if isinstance(value, dict):
        return _dict_input(value, signature, field=key)
    if isinstance(value, list):
        return _list_input(value, signature, field=key)
    raise InvalidArgumentError(
        f"{key} must be a list (rows or a tensor) or an object of columns; got "
        f"{type(value).__name__}."
    )


def _is_records(value: object) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict)


def _split_input(value: object, signature: ModelSignature | None) -> ModelInput:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise InvalidArgumentError(
            'dataframe_split must be an object {"columns": [...], "data": [[...], ...]} '
            "(pandas' split orientation)."
        )
    rows, columns = value["data"], value.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise InvalidArgumentError("dataframe_split.columns must be a list of strings.")
    index = value.get("index")
    if index is not None and not isinstance(index, list):
        raise InvalidArgumentError("dataframe_split.index must be a list.")
    if index is not None and len(index) != len(rows):
        raise InvalidArgumentError(
            f"dataframe_split.index has {len(index)} labels for {len(rows)} rows of data; "
            "send one label per row, or no index."
        )
    frame_index = None if index is None else pd.Index(index)
    return _rows_input(rows, columns, signature, field="dataframe_split", index=frame_index)


def _rows_input(
    rows: list[Any],
    columns: list[str] | None,
    signature: ModelSignature | None,
    *,
    field: str,
    index: pd.Index | None = None,
) -> ModelInput:
    """Rows of values (``dataframe_split.data``, or a list of lists for a column signature)
    as columns named by ``columns`` or, failing that, the signature's order."""
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, list)), None)
    if bad is not None:
        raise InvalidArgumentError(f"{field} row {bad} must be a list of values.")
    names = columns if columns is not None else _default_names(rows, signature)
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"{field} names a column twice: {', '.join(names)}.")
    widths = {len(r) for r in rows}
    if widths - {len(names)}:
        raise InvalidArgumentError(
            f"{field} rows must each have {len(names)} values ({', '.join(names)}); got "
            f"rows of {', '.join(str(w) for w in sorted(widths))}."
        )
    values = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)) if rows else {}
    data = _columns_input({n: values.get(n, []) for n in names}, signature, field, index)
    if columns is None and not named_columns(signature) and isinstance(data, pd.DataFrame):
        # Unnamed columns are numbered, as pandas numbers them (and scikit-learn then sees
        # a model input without feature names, like the ndarray it was fitted on).
        return data.set_axis(pd.RangeIndex(len(names)), axis=1)
    return data


def _default_names(rows: list[Any], signature: ModelSignature | None) -> list[str]:
    specs = named_columns(signature)
    if specs:
        return [str(s.name) for s in specs]
    return [str(i) for i in range(len(rows[0]) if rows else 0)]


def _records_input(value: object, signature: ModelSignature | None, *, field: str) -> ModelInput:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise InvalidArgumentError(f"{field} must be a list of objects, one per row.")
    if not value:  # no rows, so no columns either: say the first, not the second
        raise InvalidArgumentError(
            f"The request holds no rows ({field} is empty); send at least one."
        )
    names = list(dict.fromkeys(chain.from_iterable(value)))
    columns = {name: [row.get(name) for row in value] for name in names}
    return _columns_input(columns, signature, field, None)


def _dict_input(
    value: dict[str, Any], signature: ModelSignature | None, *, field: str
) -> ModelInput:
    if named_columns(signature):
        bad = next((k for k, v in value.items() if not isinstance(v, list)), None)
        if bad is not None:
            raise InvalidArgumentError(f"{field}.{bad} must be a list of column values.")
        return _columns_input(value, signature, field, None)
    specs = {s.name: s for s in tensor_specs(signature) if s.name}
    missing = [name for name in specs if name not in value] if len(specs) > 1 else []
    if missing:
        raise InvalidArgumentError(
            f"{field} is missing the tensor{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(n) for n in missing)} the model's signature requires.",
            details={"missing_inputs": missing},
        )
    arrays: dict[str, Array] = {}
    for name, values in value.items():
        array = json_array(values, None, field=f"{field}.{name}")
        spec = specs.get(name)
        arrays[name] = (
            array if spec is None else tensor_values(array, spec, field=f"{field}.{name}")
        )
    return arrays


def _list_input(value: list[Any], signature: ModelSignature | None, *, field: str) -> ModelInput:
    specs = named_columns(signature)
    if specs and value and all(isinstance(r, list) for r in value):
        return _rows_input(value, None, signature, field=field)
    if len(specs) == 1:
        # A flat list for a one-column model is that column, as MLflow reads it.
        return _columns_input({str(specs[0].name): value}, signature, field, None)
    if specs:
        raise InvalidArgumentError(
            f"{field} must hold rows (lists of {len(specs)} values), records or an object of "
            f"columns for the model's columns {describe_columns(specs)}."
        )
    tensors = tensor_specs(signature)
    if len(tensors) > 1:
        raise InvalidArgumentError(
            f"This model takes the named tensors {', '.join(str(t.name) for t in tensors)}; "
            f'send {field} as an object {{"name": [...], ...}}.'
        )
    if not tensors:
        return json_array(value, None, field=field)
    array = json_array(value, np.dtype(tensors[0].dtype), field=field)
    return tensor_values(array, tensors[0], field=field)


def _columns_input(
    columns: Mapping[str, list[Any]],
    signature: ModelSignature | None,
    field: str,
    index: pd.Index | None,
) -> ModelInput:
    typed = {
        name: _json_column(values, field=f"{field} column {name!r}")
        for name, values in columns.items()
    }
    return _typed_input(typed, signature, field=field, index=index)


def _json_column(values: list[Any], *, field: str) -> Array:
    array = json_array(values, None, field=field)
    if array.ndim == 1:
        return array
    # Lists per row (MLflow's array columns): one object per row.
    column = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        column[row] = value
    return column


def _typed_input(
    columns: Mapping[str, Array],
    signature: ModelSignature | None,
    *,
    field: str,
    index: pd.Index | None,
) -> ModelInput:
    """Columns as model input: converted to a column signature's types, or for a
    one-tensor signature the frame's values as that tensor."""
    specs = named_columns(signature)
    tensors = tensor_specs(signature)
    if len(tensors) == 1:
        frame = build_frame(dict(columns), field=field, index=index)
        return tensor_values(frame.to_numpy(), tensors[0], field=field)
    require_columns(columns, specs, what="column")
    by_name = {str(s.name): s for s in specs}
    converted: dict[str, Column] = {}
    for name, values in columns.items():
        spec = by_name.get(name)
        where = f"{field} column {name!r}"
        converted[name] = (
            _plain_column(values) if spec is None else column_values(values, spec, field=where)
        )
    ordered = {n: converted[n] for n in by_name if n in converted} | converted
    return build_frame(ordered, field=field, index=index)


def _plain_column(values: Array) -> Column:
    """A column no signature types, read as pandas reads JSON: strings as text, numbers
    with nulls as float64 with NaN; anything else as it came."""
    if values.dtype.kind != "O":
        return values
    kinds = set(map(type, values.tolist()))
    if kinds <= {str, type(None)}:
        return text_column(values)
    if kinds <= {int, float, type(None)}:
        return values.astype(np.float64)
    return values


def _csv_input(body: bytes, signature: ModelSignature | None) -> ModelInput:
    specs = named_columns(signature)
    text_types = {str(s.name): "str" for s in specs if s.type in ("string", "binary", "datetime")}
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=text_types or None, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InvalidArgumentError(
            "Could not read the body as CSV (a header row, then one row per record, as "
            f"pandas.DataFrame.to_csv writes it): {exc}"
        ) from exc
    columns = {str(name): _csv_column(column) for name, column in frame.items()}
    return _typed_input(columns, signature, field="CSV", index=None)


def _csv_column(column: pd.Series[Any]) -> Array:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind != "O":
        return column.to_numpy()
    return require_text(plain_array(column), field=f"CSV column {column.name!r}")


def encode_predictions(predictions: object) -> bytes:
    """``{"predictions": ...}`` as MLflow's scoring server writes it.

    ndarrays and Series become (nested) lists, DataFrames lists of records, dicts of
    arrays dicts of lists, NumPy scalars plain numbers; NaN and missing values are
    ``null``.
    """
    return orjson.dumps(
        {"predictions": _jsonable(predictions)},
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        default=json_default,
    )


def _jsonable(predictions: object) -> object:
    if isinstance(predictions, pd.DataFrame):
        return _records(predictions)
    if isinstance(predictions, pd.Series | np.ndarray):
        return plain_array(predictions)
    if isinstance(predictions, Mapping):
        return {str(k): _jsonable(v) for k, v in predictions.items()}
    return predictions


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    names = [str(name) for name in frame.columns]
    columns = [plain_array(column).tolist() for _, column in frame.items()]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
