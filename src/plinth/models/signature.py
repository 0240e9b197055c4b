"""Model signatures in MLflow's shape: named, typed columns or tensor specs.

A signature is inferred from an input example (``infer_signature``), stored in ``MLmodel``
as MLflow stores it (JSON strings under ``signature.inputs`` / ``signature.outputs``, so
``mlflow.models.Model.load(...).signature`` reads it) and enforced at predict time by
:mod:`plinth.models.enforce`.

Column types are MLflow's ``DataType`` names::

    boolean  integer (int32)  long (int64)  float (float32)  double (float64)
    string   binary           datetime

Tensor specs carry a NumPy dtype name and a shape whose ``-1`` entries match any size
(the batch dimension is always ``-1``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from plinth.errors import InvalidArgumentError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DataType = Literal["boolean", "integer", "long", "float", "double", "string", "binary", "datetime"]

NUMPY_DTYPES: dict[str, str] = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
"""The NumPy dtype each column type is enforced as (string and binary stay objects)."""

_NUMERIC_TYPES: dict[str, DataType] = {
    "bool": "boolean",
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "uint8": "integer",
    "uint16": "integer",
    "int64": "long",
    "uint32": "long",
    "uint64": "double",  # no int64 holds every uint64; float64 holds them approximately
    "float16": "float",
    "float32": "float",
    "float64": "double",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSpec:
    """One input or output column.

    Attributes:
        type: An MLflow column type (``"double"``, ``"long"``, ``"string"`` ...). Types this
            module does not know (MLflow's ``array``, ``object``, ``map``) load, but are not
            enforced.
        name: The column name; ``None`` for the single unnamed column of a 1-D output.
        required: Whether predict fails when the column is absent.
    """

    type: str
    name: str | None = None
    required: bool = True

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorSpec:
    """One tensor input or output.

    Attributes:
        dtype: NumPy dtype name (``"float32"``).
        shape: Dimensions; ``-1`` matches any size.
        name: The tensor name, for models with several named inputs (ONNX).
    """

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "type": "tensor",
            "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)},
        }
        if self.name is not None:
            out["name"] = self.name
        return out


Schema = tuple[ColumnSpec, ...] | tuple[TensorSpec, ...]
"""A signature side: all columns or all tensors, never mixed (as in MLflow)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSignature:
    """What a model takes and returns.

    Attributes:
        inputs: Column specs (DataFrame input) or tensor specs (array input).
        outputs: Same, for the predictions; ``None`` when unknown.
    """

    inputs: Schema
    outputs: Schema | None = None

    @property
    def is_tensor_based(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    @property
    def column_names(self) -> list[str]:
        """The named input columns, in order (empty for tensor signatures)."""
        return [s.name for s in self.inputs if isinstance(s, ColumnSpec) and s.name]

    def to_mlmodel(self) -> dict[str, str | None]:
        """The ``signature`` section of ``MLmodel``, in MLflow's encoding."""
        return {
            "inputs": _schema_json(self.inputs),
            "outputs": None if self.outputs is None else _schema_json(self.outputs),
            "params": None,
        }

    @classmethod
    def of(cls, value: object) -> ModelSignature | None:
        """``value`` as a signature: Plinth's own, MLflow's ``ModelSignature`` (what
        ``mlflow.models.infer_signature`` returns) or its ``MLmodel`` dict; ``None`` stays.

        Raises:
            InvalidArgumentError: anything else, or a schema Plinth cannot read.
        """
        if value is None or isinstance(value, cls):
            return value
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict) and type(value).__module__.startswith("mlflow."):
            value = to_dict()  # MLflow's own encoding, the one MLmodel files hold
        if isinstance(value, Mapping):
            if not isinstance(value.get("inputs"), str):
                raise InvalidArgumentError(
                    "signature has no input schema; give one (infer_signature(input_example)) "
                    "or leave signature= out to infer it from input_example."
                )
            signature = cls.from_mlmodel(value)
            _check_kept(value, signature)
            return signature
        raise InvalidArgumentError(
            "signature must be a plinth.models.ModelSignature (infer_signature makes one), an "
            f"MLflow ModelSignature or its MLmodel dict, not {type(value).__name__}."
        )

    @classmethod
    def from_mlmodel(cls, section: Mapping[str, object]) -> ModelSignature:
        """Parse the ``signature`` section of an ``MLmodel`` file (Plinth's or MLflow's).

        Raises:
            InvalidArgumentError: the section is not MLflow's signature encoding.
        """
        inputs = section.get("inputs")
        if not isinstance(inputs, str):
            raise InvalidArgumentError("MLmodel signature has no 'inputs' schema.")
        outputs = section.get("outputs")
        return cls(
            inputs=_parse_schema(inputs),
            outputs=_parse_schema(outputs) if isinstance(outputs, str) else None,
        )


def _check_kept(section: Mapping[str, object], signature: ModelSignature) -> None:
    """Refuse a signature Plinth would write back with less in it (MLflow's ``params``,
    nested ``array``/``object``/``map`` column types): the package would say something other
    than what was given, and MLflow could no longer read it."""
    if section.get("params") not in (None, "", "[]"):
        raise InvalidArgumentError(
            "signature has inference params, which Plinth does not keep; log the model "
            "without them (params= of infer_signature)."
        )
    written = signature.to_mlmodel()
    for side in ("inputs", "outputs"):
        given = section.get(side)
        if isinstance(given, str) and json.loads(given) != json.loads(written[side] or "null"):
            raise InvalidArgumentError(
                f"signature {side} hold column types Plinth cannot keep as given (nested "
                "array, object or map types); use plain columns or tensors."
            )


def infer_signature(model_input: object, model_output: object = None) -> ModelSignature:
    """Infer a signature from an input example (and optionally the model's output on it).

    Args:
        model_input: A DataFrame (column names and types), a list of dicts (records, as
            JSON clients send them) or an ndarray (a tensor spec with a ``-1`` batch size).
        model_output: The model's predictions for ``model_input``; ``None`` leaves the
            outputs unknown.

    Returns:
        The signature.

    Raises:
        InvalidArgumentError: an input type not listed above, or a column whose values
            have no single type (for example ints mixed with strings).
    """
    inputs = infer_schema(model_input)
    outputs = None if model_output is None else infer_schema(model_output)
    return ModelSignature(inputs=inputs, outputs=outputs)


def infer_schema(data: object) -> Schema:
    """The schema of one example value; see ``infer_signature``."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return tuple(_column_spec(str(name), data[name]) for name in data.columns)
    if isinstance(data, pd.Series):
        return (ColumnSpec(type=_series_type(str(data.name), data), name=None),)
    if isinstance(data, np.ndarray):
        if data.ndim == 1 and data.dtype.name in _NUMERIC_TYPES:
            # A 1-D prediction vector reads as one unnamed column, as MLflow infers it.
            return (ColumnSpec(type=_NUMERIC_TYPES[data.dtype.name]),)
        return (TensorSpec(dtype=data.dtype.name, shape=(-1, *data.shape[1:])),)
    if is_records(data):
        return infer_schema(pd.DataFrame.from_records(list(data)))  # type: ignore[call-overload]
    raise InvalidArgumentError(
        "Cannot infer a signature from "
        f"{type(data).__name__}; pass a pandas DataFrame, a list of dicts or a numpy ndarray."
    )


def is_records(data: object) -> bool:
    """Whether ``data`` is a non-empty list of dicts (JSON records)."""
    return isinstance(data, list) and bool(data) and all(isinstance(r, Mapping) for r in data)


def _column_spec(name: str, column: pd.Series[Any]) -> ColumnSpec:
    return ColumnSpec(type=_series_type(name, column), name=name)


def _series_type(name: str, column: pd.Series[Any]) -> str:
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if dtype.kind == "M":
        return "datetime"
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)  # pandas nullable Int64, boolean ...
    if numpy_dtype.name in _NUMERIC_TYPES:
        return _NUMERIC_TYPES[numpy_dtype.name]
    if dtype.kind == "O":
        return _object_type(name, column)
    raise InvalidArgumentError(
        f"Cannot infer a signature type for column {name!r} of dtype {dtype}."
    )


def _object_type(name: str, column: pd.Series[Any]) -> str:
    kinds = {type(v) for v in column.dropna()}
    if kinds <= {str}:
        return "string"
    if kinds <= {bytes, bytearray}:
        return "binary"
    inferred = column.infer_objects()
    if inferred.dtype.kind != "O":
        return _series_type(name, inferred)
    found = ", ".join(sorted(k.__name__ for k in kinds))
    raise InvalidArgumentError(
        f"Cannot infer a signature type for column {name!r}: its values mix {found}."
    )


def _schema_json(schema: Sequence[ColumnSpec | TensorSpec]) -> str:
    return json.dumps([spec.to_json() for spec in schema])


def _parse_schema(text: str) -> Schema:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"MLmodel signature is not valid JSON: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidArgumentError("MLmodel signature schema must be a JSON list of objects.")
    if items and all(i.get("type") == "tensor" for i in items):
        return tuple(_parse_tensor(i) for i in items)
    if any(i.get("type") == "tensor" for i in items):
        raise InvalidArgumentError("MLmodel signature mixes tensor and column specs.")
    return tuple(_parse_column(i) for i in items)


def _parse_column(item: dict[str, object]) -> ColumnSpec:
    name = item.get("name")
    return ColumnSpec(
        type=str(item.get("type")),
        name=None if name is None else str(name),
        required=bool(item.get("required", True)),
    )


def _parse_tensor(item: dict[str, object]) -> TensorSpec:
    spec = item.get("tensor-spec")
    if not isinstance(spec, dict):
        raise InvalidArgumentError("MLmodel tensor spec has no 'tensor-spec' entry.")
    name = item.get("name")
    return TensorSpec(
        dtype=str(spec.get("dtype")),
        shape=tuple(int(d) for d in spec.get("shape") or ()),
        name=None if name is None else str(name),
    )


def numpy_dtype(column_type: str) -> np.dtype[Any] | None:
    """The dtype a column type is enforced as, or ``None`` for a type not enforced."""
    import numpy as np

    name = NUMPY_DTYPES.get(column_type)
    return None if name is None else np.dtype(name)
