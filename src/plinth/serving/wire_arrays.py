"""JSON values as typed NumPy arrays and pandas frames, shared by both inference codecs.

The Open Inference Protocol (:mod:`plinth.serving.oip`) and MLflow's scoring protocol
(:mod:`plinth.serving.mlflow_scoring`) both carry tensors and table columns as JSON lists,
and JSON has a single number type. A value is converted only when the conversion keeps it::

    bool      <- true / false only
    integers  <- whole numbers (3 or 3.0) inside the type's range
    floats    <- any number; null becomes NaN; values beyond the float16/32 range are refused
    text      <- strings; null stays missing
    datetime  <- ISO-8601 strings; offsets are converted to UTC and dropped (MLflow's
                 datetime columns are naive)
    binary    <- base64 strings, the way MLflow's and MLServer's codecs send bytes

Anything else raises ``InvalidArgumentError`` naming the field (``inputs[1] ('age')``,
``column 'age'``) and what it expected: no value is silently truncated, wrapped or turned
into text. Numeric checks are whole-array NumPy operations; only text, bytes and rare
``null``-bearing inputs look at single values.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray

from plinth.errors import InvalidArgumentError
from plinth.models.signature import ColumnSpec, ModelSignature, TensorSpec, numpy_dtype

Array: TypeAlias = npt.NDArray[Any]
Column: TypeAlias = Array | ExtensionArray
"""One frame column: a 1-D ndarray, or pandas' string array for text."""

_NONE = type(None)
_NUMBER_TYPES = frozenset({int, float, _NONE})
_TEXT_TYPES = frozenset({str, _NONE})


def named_columns(signature: ModelSignature | None) -> list[ColumnSpec]:
    """The signature's input columns when every input is a named column, else ``[]``.

    Mirrors :func:`plinth.models.enforce.input_plan`: MLflow's unnamed-column schemas are
    not enforced, so the codecs treat them like no signature.
    """
    specs = signature.inputs if signature is not None else ()
    columns = [s for s in specs if isinstance(s, ColumnSpec) and s.name]
    return columns if columns and len(columns) == len(specs) else []


def tensor_specs(signature: ModelSignature | None) -> list[TensorSpec]:
    """The signature's input tensors when it is tensor-based, else ``[]``."""
    specs = signature.inputs if signature is not None else ()
    return [s for s in specs if isinstance(s, TensorSpec)]


def json_array(values: object, dtype: np.dtype[Any] | None, *, field: str) -> Array:
    """Nested JSON lists (or one scalar) as an ndarray of ``dtype``.

    Args:
        values: The decoded JSON value.
        dtype: The target dtype; ``object`` takes strings. ``None`` keeps what JSON gave:
            bool, int64, float64, or objects for strings, nulls and mixed values.
        field: Where the values sit in the request, for error messages.

    Raises:
        InvalidArgumentError: ragged nested lists, or a value the dtype cannot hold.
    """
    if dtype is not None and dtype.kind in "OUS":
        return require_text(_nested(values, np.dtype(object), field), field=field)
    raw = _nested(values, None, field)
    if raw.dtype.kind in "US":
        # NumPy turns mixed lists such as [1, "a"] into fixed-width text; keep the values.
        raw = _nested(values, np.dtype(object), field)
    if dtype is None:
        return raw
    if dtype.kind in "iu" and raw.dtype.kind in "fO":
        return _exact_integers(values, raw, dtype, field)
    return cast_array(raw, dtype, field=field)


def _nested(values: object, dtype: np.dtype[Any] | None, field: str) -> Array:
    try:
        return np.asarray(values, dtype=dtype)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"{field} must be a rectangular array, but its nested lists differ in length."
        ) from exc


def cast_array(array: Array, dtype: np.dtype[Any], *, field: str) -> Array:
    """``array`` as ``dtype`` when every value survives the conversion (see module docstring).

    Raises:
        InvalidArgumentError: naming ``field``, the expected and the found values.
    """
    if array.dtype == dtype:
        return array
    if array.size == 0:
        return array.astype(dtype)
    if array.dtype.kind == "O":
        array = _numbers_from_objects(array, dtype, field)
    kind = array.dtype.kind
    if dtype.kind == "b" and kind == "b":
        return array.astype(dtype)
    if dtype.kind in "iu" and kind in "iuf":
        return _to_integers(array, dtype, field)
    if dtype.kind == "f" and kind in "iuf":
        return _to_floats(array, dtype, field)
    raise InvalidArgumentError(f"{field} must hold {_expected(dtype)}; got {_found(array)}.")


def _numbers_from_objects(array: Array, dtype: np.dtype[Any], field: str) -> Array:
    # JSON gives an object array for numbers mixed with null, or for integers beyond 64 bits.
    kinds = set(map(type, array.ravel().tolist()))
    if _NONE in kinds and dtype.kind != "f" and kinds <= _NUMBER_TYPES | {bool}:
        raise _missing_values(field, dtype)
    if not kinds <= _NUMBER_TYPES or dtype.kind not in "iuf":
        raise InvalidArgumentError(f"{field} must hold {_expected(dtype)}; got {_found(array)}.")
    if dtype.kind != "f":
        raise _out_of_range(field, dtype)
    return array.astype(np.float64)


def _exact_integers(values: object, raw: Array, dtype: np.dtype[Any], field: str) -> Array:
    # NumPy infers float64 for [0, 2**64 - 1] and objects for [2**64], losing or hiding
    # digits; once the values are known to be whole, parse the JSON again into the type.
    if raw.dtype.kind == "O":
        kinds = set(map(type, raw.ravel().tolist()))
        if _NONE in kinds:
            raise _missing_values(field, dtype)
        if not kinds <= {int, float}:
            raise InvalidArgumentError(f"{field} must hold {_expected(dtype)}; got {_found(raw)}.")
    else:
        _require_whole(raw, dtype, field)
    with np.errstate(over="raise", invalid="raise"):
        try:
            return np.asarray(values, dtype=dtype)
        except (OverflowError, FloatingPointError) as exc:
            raise _out_of_range(field, dtype) from exc


def _require_whole(array: Array, dtype: np.dtype[Any], field: str) -> None:
    if np.isnan(array).any():
        raise _missing_values(field, dtype)
    fractional = array != np.trunc(array)
    if fractional.any():
        raise InvalidArgumentError(
            f"{field} must hold {_expected(dtype)}; got fractional numbers such as "
            f"{array[fractional].flat[0].item()!r}."
        )


def _to_integers(array: Array, dtype: np.dtype[Any], field: str) -> Array:
    info = np.iinfo(dtype)
    if array.dtype.kind == "f":
        _require_whole(array, dtype, field)
        # float(max) + 1 is a power of two and exact, unlike float(max) for 64 bits.
        if array.min() < float(info.min) or array.max() >= float(info.max) + 1:
            raise _out_of_range(field, dtype)
    elif not np.can_cast(array.dtype, dtype, casting="safe") and (
        array.min() < info.min or array.max() > info.max
    ):
        raise _out_of_range(field, dtype)
    return array.astype(dtype)


def _to_floats(array: Array, dtype: np.dtype[Any], field: str) -> Array:
    with np.errstate(over="raise"):
        try:
            return array.astype(dtype)
        except FloatingPointError as exc:
            raise _out_of_range(field, dtype) from exc


def require_text(array: Array, *, field: str) -> Array:
    """``array`` if it holds only strings and missing values, as Python objects with
    ``None`` for missing (pandas and MLflow's client write missing text as NaN)."""
    if array.dtype.kind in "US" or array.size == 0:
        return array.astype(object)
    if array.dtype.kind == "f" and np.isnan(array).all():
        return np.full(array.shape, None, dtype=object)  # a column of NaN: all missing
    kinds = set(map(type, array.ravel().tolist())) if array.dtype.kind == "O" else set()
    if float in kinds and kinds <= _TEXT_TYPES | {float}:
        array = array.copy()
        array[pd.isna(array)] = None
        kinds = set(map(type, array.ravel().tolist()))
    if not kinds or not kinds <= _TEXT_TYPES:
        raise InvalidArgumentError(f"{field} must hold strings; got {_found(array)}.")
    return array


def text_column(array: Array) -> Column:
    """Strings (and ``None``) in the running pandas' default text dtype (``str`` on
    pandas 3, objects before), so frames match what a model was trained on and
    enforcement takes its fast path."""
    dtype = _text_dtype()
    if dtype == np.dtype(object):
        return array
    if getattr(dtype, "storage", None) == "pyarrow":
        # The array is known to hold text: building the Arrow array directly skips
        # pd.array's re-validation, at a third of the cost (~6 us instead of ~18 us).
        arrow_strings: Any = pd.arrays.ArrowStringArray  # pandas-stubs lack its dtype=
        column: Column = arrow_strings(pa.array(array, type=pa.large_string()), dtype=dtype)
        return column
    converted: Column = pd.array(array, dtype=dtype)
    return converted


@functools.cache
def _text_dtype() -> Any:
    return pd.Series(["text"]).dtype


def column_values(array: Array, spec: ColumnSpec, *, field: str) -> Column:
    """A 1-D array converted to the type of a signature column.

    Raises:
        InvalidArgumentError: a value the column type cannot hold, naming ``field``.
    """
    if spec.type == "string":
        return text_column(require_text(array, field=field))
    if spec.type == "binary":
        return _from_base64(require_text(array, field=field), field)
    if spec.type == "datetime":
        return _datetimes(array, field)
    target = numpy_dtype(spec.type)
    if target is None:
        return array  # MLflow's array / object / map types: not enforced (see enforce.py)
    return cast_array(array, target, field=field)


def _from_base64(array: Array, field: str) -> Array:
    out = np.empty(len(array), dtype=object)
    for row, value in enumerate(array.tolist()):
        try:
            out[row] = None if value is None else base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise InvalidArgumentError(
                f"{field}[{row}] must be base64-encoded bytes: {exc}."
            ) from exc
    return out


def _datetimes(array: Array, field: str) -> Array:
    if array.dtype.kind == "M":
        return array.astype("datetime64[ns]")
    text = require_text(array, field=field)
    try:
        parsed = pd.to_datetime(text, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"{field} must hold ISO-8601 date-times such as '2024-05-01T12:00:00'; {exc}."
        ) from exc
    return parsed.tz_convert(None).as_unit("ns").to_numpy()


def tensor_values(array: Array, spec: TensorSpec, *, field: str) -> Array:
    """``array`` in the dtype of a signature tensor, checked against its shape.

    Raises:
        InvalidArgumentError: a value the dtype cannot hold, or a dimension that differs
            from a fixed (non ``-1``) one, naming ``field``.
    """
    target = np.dtype(spec.dtype)
    if target.kind in "OUS":
        array = require_text(array, field=field).astype(target)
    else:
        array = cast_array(array, target, field=field)
    if array.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=False)
    ):
        raise InvalidArgumentError(
            f"{field} has shape {list(array.shape)}, but the model's signature expects a "
            f"{spec.dtype} tensor of shape {list(spec.shape)} (-1: any size)."
        )
    return array


def require_columns(present: Collection[str], specs: Sequence[ColumnSpec], *, what: str) -> None:
    """Raise when a required signature column is absent from ``present``.

    Raises:
        InvalidArgumentError: naming every missing column (also in
            ``details["missing_columns"]``) and the columns the signature lists.
    """
    missing = [str(s.name) for s in specs if s.required and s.name not in present]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise InvalidArgumentError(
            f"Missing {what}{plural} {', '.join(repr(n) for n in missing)} required by the "
            f"model's signature ({describe_columns(specs)}).",
            details={"missing_columns": missing},
        )


def describe_columns(specs: Sequence[ColumnSpec]) -> str:
    return ", ".join(f"{s.name} ({s.type})" for s in specs)


def build_frame(
    columns: Mapping[str, Column], *, field: str, index: pd.Index | None = None
) -> pd.DataFrame:
    """A DataFrame over ``columns`` (1-D, equal lengths) whose dtypes are already right.

    ``pd.DataFrame(dict)`` re-infers every column at ~100 us per request on pandas 3,
    more than the whole decode budget; pandas' public block constructor
    (``pandas.api.internals``, pandas >= 3) takes the typed arrays as they are, grouped
    into one block per dtype. Older pandas uses the plain constructor.

    Raises:
        InvalidArgumentError: columns of different lengths, naming each length.
    """
    rows = _common_length(columns, field)
    if index is None:
        index = _range_index(rows)
    create = _block_constructor()
    if create is None or not columns:
        return pd.DataFrame(dict(columns), index=index, copy=False)
    return create(_blocks(list(columns.values())), index=index, columns=_index(tuple(columns)))


def _common_length(columns: Mapping[str, Column], field: str) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise InvalidArgumentError(
            f"{field}: every column needs the same number of rows; got {listed}."
        )
    return next(iter(lengths.values()), 0)


def _blocks(arrays: list[Column]) -> list[tuple[Column, Array]]:
    # One 2-D block per NumPy dtype, as pandas' own constructors consolidate them.
    by_dtype: dict[np.dtype[Any], list[tuple[int, Array]]] = {}
    blocks: list[tuple[Column, Array]] = []
    for position, values in enumerate(arrays):
        if isinstance(values, np.ndarray):
            by_dtype.setdefault(values.dtype, []).append((position, values))
        else:
            blocks.append((values, np.array([position], dtype=np.intp)))
    for dtype, group in by_dtype.items():
        # np.array over equal-length 1-D arrays is np.stack without its Python overhead.
        stacked = np.array([values for _, values in group], dtype=dtype)
        blocks.append((stacked, np.array([p for p, _ in group], dtype=np.intp)))
    return blocks


@functools.lru_cache(maxsize=256)
def _index(names: tuple[str, ...]) -> pd.Index:
    # pd.Index infers a string dtype on every call (~45 us on pandas 3); requests to one
    # model repeat the same columns, and an Index is immutable, so one object serves all.
    return pd.Index(list(names))


@functools.lru_cache(maxsize=64)
def _range_index(rows: int) -> pd.RangeIndex:
    return pd.RangeIndex(rows)  # immutable, so shared like the column Index


@functools.cache
def _block_constructor() -> Callable[..., pd.DataFrame] | None:
    internals = getattr(pd.api, "internals", None)
    return getattr(internals, "create_dataframe_from_blocks", None)


def _expected(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "b":
        return "booleans (true / false)"
    if dtype.kind in "iu":
        return f"whole numbers that fit {dtype.name}"
    if dtype.kind == "f":
        return f"numbers ({dtype.name})"
    return "strings"


def _found(array: Array) -> str:
    if array.dtype.kind == "O":
        names = {
            "NoneType": "null",
            "str": "strings",
            "bool": "booleans",
            "int": "integers",
            "float": "numbers",
            "list": "lists",
            "dict": "objects",
        }
        kinds = sorted({names.get(type(v).__name__, type(v).__name__) for v in array.flat})
        return ", ".join(kinds)
    return {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}.get(
        array.dtype.kind, str(array.dtype)
    )


def _missing_values(field: str, dtype: np.dtype[Any]) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{field} has missing values (null or NaN), which {dtype.name} cannot hold; send "
        "a value for every element (only floating-point types hold NaN)."
    )


def _out_of_range(field: str, dtype: np.dtype[Any]) -> InvalidArgumentError:
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    return InvalidArgumentError(
        f"{field} has values outside the {dtype.name} range [{info.min}, {info.max}]."
    )


def plain_array(values: object) -> Array:
    """Predictions as an ndarray orjson writes natively: numbers, or objects.

    pandas' nullable numbers become float64 with NaN for missing values (written as
    ``null``); text and other extension dtypes become objects with ``None``; date-times
    become ISO-8601 strings.
    """
    if isinstance(values, pd.Series | pd.Index):
        array = _series_array(values)
    else:
        array = np.asarray(values)
    kind = array.dtype.kind
    if kind == "M":
        return _iso_strings(array)
    if kind in "US":
        return array.astype(object)
    if not array.dtype.isnative:
        # orjson refuses big-endian arrays outright, without asking ``default``.
        return array.astype(array.dtype.newbyteorder("="))
    return array


def _iso_strings(array: Array) -> Array:
    """Date-times as ISO-8601 text in the coarsest exact unit, seconds at least
    (``2024-05-01T12:00:00`` as ``Timestamp.isoformat`` writes it); NaT as ``None``."""
    missing = np.isnat(array)
    unit = next(
        (u for u in ("s", "ms", "us") if (array.astype(f"M8[{u}]") == array)[~missing].all()),
        None,
    )
    text = np.datetime_as_string(array if unit is None else array.astype(f"M8[{unit}]"))
    text = text.astype(object)
    text[missing] = None
    return text


def _series_array(values: pd.Series[Any] | pd.Index) -> Array:
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind != "O":
        return values.to_numpy()
    numbers = getattr(dtype, "numpy_dtype", None)
    if isinstance(numbers, np.dtype) and numbers.kind in "biuf":
        if values.hasnans:
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return values.to_numpy(dtype=numbers)
    return values.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload,no-any-return]


def json_default(value: object) -> object:
    """orjson's ``default`` hook for what it does not write itself.

    Raises:
        TypeError: a value with no JSON form (orjson reports it as a JSONEncodeError).
    """
    if isinstance(value, np.ndarray):
        return plain_array(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Series | pd.Index):
        return plain_array(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
