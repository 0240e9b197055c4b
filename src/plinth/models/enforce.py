"""Signature enforcement at predict time, planned once when a model loads.

``input_plan(signature)`` returns a callable that turns the caller's input into what the
model was trained on, or raises ``InvalidArgumentError`` naming the offending column:

- DataFrames whose columns and dtypes already match pass through untouched: one column
  comparison and one dtype comparison, no copy, no per-row Python.
- Otherwise each column is checked against its spec: missing required columns fail, extra
  columns are dropped with a ``SignatureWarning``, and only *safe* conversions happen
  (``numpy.can_cast(..., casting="safe")``: int -> double, int32 -> long, float -> double,
  bool -> numbers). Anything else (double -> float, string -> long) fails.
- Tensor signatures take ndarrays as they are when dtype and shape match.
- Lists of dicts (JSON records) and ndarrays for column signatures become DataFrames first.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from plinth.errors import InvalidArgumentError
from plinth.models.signature import ColumnSpec, ModelSignature, TensorSpec, is_records, numpy_dtype

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

InputPlan = Callable[[object], object]
"""Conforms one predict input to the signature (or passes it through)."""


class SignatureWarning(UserWarning):
    """Predict input that the signature tolerates but the caller should fix (extra columns)."""


def input_plan(signature: ModelSignature | None) -> InputPlan:
    """The enforcement step for ``signature``; records become DataFrames even without one."""
    inputs = signature.inputs if signature is not None else ()
    if len(inputs) == 1 and isinstance(inputs[0], TensorSpec):
        return TensorPlan(inputs[0])
    columns = [s for s in inputs if isinstance(s, ColumnSpec)]
    if columns and len(columns) == len(inputs) and all(s.name for s in columns):
        return ColumnPlan(columns)
    # No signature, several named tensors, or MLflow's unnamed-column schemas: the model
    # gets the input as it came.
    return records_to_frame


def records_to_frame(data: object) -> object:
    """A list of dicts as a DataFrame; anything else unchanged."""
    if type(data) is list:
        return _records_frame(data)
    return data


class ColumnPlan:
    """Enforces a column signature; see the module docstring."""

    def __init__(self, specs: Sequence[ColumnSpec]) -> None:
        import pandas as pd

        self._frame_type = pd.DataFrame
        self._specs = list(specs)
        self._names = [str(s.name) for s in specs]
        self._name_set = frozenset(self._names)
        self._columns = pd.Index(self._names)
        self._index_type = pd.Index
        self._array = self._columns.array
        self._targets = [numpy_dtype(s.type) for s in specs]
        self._exact = [_exact_dtype(s.type) for s in specs]
        self._dtypes_of = _dtype_reader()
        self._matched_columns: object = None

    def __call__(self, data: object) -> object:
        if type(data) is self._frame_type:
            # The fast path: a frame built for this model needs no work at all.
            columns = data.columns
            if (
                columns is self._matched_columns or self._has_signature_columns(columns)
            ) and self._dtypes_of(data) == self._exact:
                return data
            return self._conform(data)
        return self._conform(self._to_frame(data))

    def _has_signature_columns(self, columns: pd.Index[Any]) -> bool:
        # Index.equals costs ~16 us with cold caches, a third of the overhead budget; its
        # backing arrays compare in half that. An Index is immutable, so one that matched
        # once always matches: remember the last one, and frames sliced from the same
        # source (df.iloc[i:j], df.head()) skip the comparison altogether.
        same_array = type(columns) is self._index_type and columns.array.equals(self._array)
        if same_array or columns.equals(self._columns):
            self._matched_columns = columns
            return True
        return False

    def _to_frame(self, data: object) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return data
        if isinstance(data, list):
            return _records_frame(data)
        if isinstance(data, Mapping):
            return pd.DataFrame(dict(data))
        if isinstance(data, np.ndarray):
            return self._array_frame(data)
        raise InvalidArgumentError(
            f"Cannot predict on {type(data).__name__}; pass a pandas DataFrame, a list of "
            f"dicts or a 2-D ndarray with the columns {self._describe()}."
        )

    def _array_frame(self, data: np.ndarray[Any, Any]) -> pd.DataFrame:
        import pandas as pd

        if data.ndim != 2 or data.shape[1] != len(self._names):
            raise InvalidArgumentError(
                f"ndarray input of shape {data.shape} does not fit the model's signature, "
                f"which expects {len(self._names)} columns: {self._describe()}."
            )
        return pd.DataFrame(data, columns=self._names, copy=False)

    def _conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        if frame.columns.has_duplicates:
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise InvalidArgumentError(f"Input has duplicate columns: {', '.join(dupes)}.")
        present = {str(c) for c in frame.columns}
        self._check_missing(present)
        extra = [str(c) for c in frame.columns if c not in self._name_set]
        if extra:
            warnings.warn(
                "Ignoring input columns that are not in the model's signature: "
                + ", ".join(repr(c) for c in extra),
                SignatureWarning,
                stacklevel=4,
            )
        changed = bool(extra) or [str(c) for c in frame.columns] != self._names
        out: dict[str, pd.Series[Any]] = {}
        for spec, name, target in zip(self._specs, self._names, self._targets, strict=True):
            if name not in present:
                continue
            column = frame[name]
            conformed = _conform_column(spec, target, column)
            changed = changed or conformed is not column
            out[name] = conformed
        if not changed:
            return frame
        return pd.DataFrame(out, index=frame.index, copy=False)

    def _check_missing(self, present: set[str]) -> None:
        missing = [n for s, n in zip(self._specs, self._names, strict=True) if s.required]
        missing = [n for n in missing if n not in present]
        if missing:
            raise InvalidArgumentError(
                "Input is missing the column"
                + ("s " if len(missing) > 1 else " ")
                + ", ".join(repr(n) for n in missing)
                + f" required by the model's signature ({self._describe()}).",
                details={"missing_columns": missing},
            )

    def _describe(self) -> str:
        return ", ".join(f"{s.name} ({s.type})" for s in self._specs)


class TensorPlan:
    """Enforces a single-tensor signature: dtype (safe casts only) and fixed dimensions."""

    def __init__(self, spec: TensorSpec) -> None:
        import numpy as np

        self._array_type = np.ndarray
        self._spec = spec
        self._dtype = np.dtype(spec.dtype)
        self._ndim = len(spec.shape)
        self._fixed = [(i, d) for i, d in enumerate(spec.shape) if d != -1]

    def __call__(self, data: object) -> object:
        if (
            type(data) is self._array_type
            and data.dtype == self._dtype
            and data.ndim == self._ndim
            and all(data.shape[i] == d for i, d in self._fixed)
        ):
            return data
        return self._conform(self._to_array(data))

    def _to_array(self, data: object) -> np.ndarray[Any, Any]:
        import numpy as np
        import pandas as pd

        if isinstance(data, np.ndarray):
            return data
        if isinstance(data, pd.DataFrame):
            return data.to_numpy()
        if isinstance(data, list):
            return _records_frame(data).to_numpy() if is_records(data) else np.asarray(data)
        raise InvalidArgumentError(
            f"Cannot predict on {type(data).__name__}; this model takes an ndarray of "
            f"{self._describe()}."
        )

    def _conform(self, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        import numpy as np

        if array.dtype != self._dtype:
            if not np.can_cast(array.dtype, self._dtype, casting="safe"):
                raise InvalidArgumentError(
                    f"Input tensor has dtype {array.dtype}, but the model's signature expects "
                    f"{self._describe()}; {array.dtype} -> {self._dtype} is not a safe cast."
                )
            array = array.astype(self._dtype)
        if array.ndim != self._ndim or any(array.shape[i] != d for i, d in self._fixed):
            raise InvalidArgumentError(
                f"Input tensor has shape {array.shape}, but the model's signature expects "
                f"{self._describe()}."
            )
        return array

    def _describe(self) -> str:
        shape = ", ".join(str(d) for d in self._spec.shape)
        return f"dtype {self._spec.dtype} with shape ({shape}) (-1: any size)"


def _records_frame(data: list[Any]) -> pd.DataFrame:
    import pandas as pd

    if not is_records(data):
        raise InvalidArgumentError(
            "List input must be a non-empty list of dicts (one per row, JSON records)."
        )
    return pd.DataFrame.from_records(data)


def _dtype_reader() -> Callable[[pd.DataFrame], list[object]]:
    """How to read a frame's column dtypes fastest, checked against the public way.

    ``DataFrame.dtypes`` wraps the dtypes in a new Series, 20-30 us: half the predict
    overhead budget. pandas' block manager hands out the same list for ~1 us; it is
    internal, so it is used only when it exists and agrees with ``dtypes`` on a probe.
    """
    import pandas as pd

    probe = pd.DataFrame({"a": [1], "b": [0.5], "c": ["x"]})
    get_dtypes = getattr(getattr(probe, "_mgr", None), "get_dtypes", None)
    if callable(get_dtypes) and list(get_dtypes()) == probe.dtypes.tolist():
        return lambda frame: frame._mgr.get_dtypes().tolist()
    return lambda frame: frame.dtypes.tolist()


def _exact_dtype(column_type: str) -> object:
    """The dtype a column of ``column_type`` has when nothing needs converting."""
    import pandas as pd

    if column_type == "string":
        # The running pandas' default for text: StringDtype on pandas 3, object before.
        return pd.Series(["text"]).dtype
    return numpy_dtype(column_type)


def _conform_column(
    spec: ColumnSpec, target: np.dtype[Any] | None, column: pd.Series[Any]
) -> pd.Series[Any]:
    import pandas as pd

    dtype = column.dtype
    if target is None:
        return column
    if spec.type in ("string", "binary"):
        if dtype.kind == "O" or isinstance(dtype, pd.StringDtype):
            return column
        raise _wrong_type(spec, dtype, "")
    if spec.type == "datetime":
        return _conform_datetime(spec, target, column)
    if dtype == target:
        return column
    if dtype.kind == "O":
        column = column.infer_objects()
        dtype = column.dtype
    return _conform_number(spec, target, column)


def _conform_number(
    spec: ColumnSpec, target: np.dtype[Any], column: pd.Series[Any]
) -> pd.Series[Any]:
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    source = dtype if isinstance(dtype, np.dtype) else getattr(dtype, "numpy_dtype", None)
    if source is None or not np.can_cast(source, target, casting="safe"):
        hint = "" if source is None else f"; {source} -> {target} could change values"
        raise _wrong_type(spec, dtype, hint)
    if isinstance(dtype, np.dtype):
        return column.astype(target)
    # A pandas nullable dtype (Int64, boolean ...): missing values survive only as NaN.
    if column.hasnans and target.kind != "f":
        raise InvalidArgumentError(
            f"Column {spec.name!r} has missing values, but the model's signature expects "
            f"{spec.type}, which cannot hold them.",
            details={"column": spec.name},
        )
    values = (
        column.to_numpy(dtype=target, na_value=np.nan)
        if target.kind == "f"
        else column.to_numpy(dtype=target)
    )
    return pd.Series(values, index=column.index, name=column.name)


def _conform_datetime(
    spec: ColumnSpec, target: np.dtype[Any], column: pd.Series[Any]
) -> pd.Series[Any]:
    import numpy as np

    dtype = column.dtype
    if dtype == target:
        return column
    # Naive datetimes of any precision; zone-aware ones would need a choice of zone.
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return column.astype(target)
    raise _wrong_type(spec, dtype, "")


def _wrong_type(spec: ColumnSpec, dtype: object, hint: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Column {spec.name!r} has type {dtype}, but the model's signature expects "
        f"{spec.type}{hint}.",
        details={"column": spec.name, "expected": spec.type, "actual": str(dtype)},
    )
