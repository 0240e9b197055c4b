"""Open Inference Protocol v2 (REST): decode infer requests, encode infer responses.

Pure functions over bytes (INTERFACES.md section 3.2); the routes read the body, enforce
the size limit and call these. How a request becomes model input depends on the
signature:

- **Named columns:** each input is one column of shape ``[n]`` or ``[n, 1]``, as
  MLServer's pandas codec reads them, giving a DataFrame in signature order. Inputs the
  signature does not name stay as extra columns after those: the router reads A/B sticky
  keys from them and drops them before predict.
- **One tensor:** the only input (or the input named like the spec), reshaped to its
  declared shape and converted to the spec's dtype.
- **Several named tensors (ONNX):** a dict of arrays, one per input.
- **No signature:** one input gives an ndarray; several, or ``parameters.content_type``
  ``"pd"`` (MLServer's pandas content type), give a DataFrame of column inputs.

Values are converted only when they survive it (:mod:`plinth.serving.wire_arrays`).
Responses follow MLServer's codecs: a 1-D prediction has shape ``[n, 1]`` (MLServer's
``inject_batch_dimension``) and is named ``predict`` unless the caller names it; a
DataFrame gives one output per column, a dict (ONNX) one per key; text is ``BYTES``.
Model metadata lists column inputs the same way MLServer's MLflow runtime does: shape
``[-1, 1]`` and the column type's datatype (``BYTES`` for string, binary as base64,
and datetime as ISO-8601).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from plinth.errors import InvalidArgumentError, PlinthError
from plinth.models.signature import ColumnSpec, ModelSignature, TensorSpec
from plinth.serving.wire_arrays import (
    Array,
    Column,
    build_frame,
    column_values,
    json_array,
    json_default,
    named_columns,
    plain_array,
    require_columns,
    tensor_specs,
    tensor_values,
    text_column,
)

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
"""The protocol's tensor datatypes and the dtype each decodes to (BYTES: Python str)."""

_DATATYPE_OF: dict[str, str] = {d.name: name for name, d in DATATYPES.items() if d.kind != "O"}
_COLUMN_DATATYPES = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
}
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

DEFAULT_OUTPUT = "predict"
"""The output name of a single unnamed prediction (a 1-D or 2-D array, a Series)."""

ModelInput = pd.DataFrame | Array | dict[str, Array]


@dataclass(frozen=True, slots=True, kw_only=True)
class InferRequest:
    """A decoded infer request.

    Attributes:
        id: The request id to echo, when the client sent one.
        data: A DataFrame for column signatures (or several inputs without a signature),
            an ndarray for a tensor signature (or one input without a signature), a dict
            of arrays for several named tensors.
        parameters: The request's ``parameters`` object.
        requested_outputs: The names listed in ``outputs``; empty means all.
    """

    id: str | None
    data: ModelInput
    parameters: dict[str, object]
    requested_outputs: list[str]


@dataclass(frozen=True, slots=True)
class _Input:
    name: str
    shape: tuple[int, ...]
    datatype: str
    data: object
    field: str


def model_metadata(
    name: str, *, versions: list[str], signature: ModelSignature | None, platform: str
) -> dict[str, object]:
    """The body of ``GET /v2/models/{name}``: inputs and outputs as metadata tensors.

    Args:
        name: The model (endpoint) name.
        versions: The versions the endpoint serves.
        signature: The model's signature; ``None`` lists no inputs or outputs.
        platform: The framework, e.g. ``"mlflow_sklearn"``.
    """
    inputs: Sequence[ColumnSpec | TensorSpec] = signature.inputs if signature else ()
    outputs: Sequence[ColumnSpec | TensorSpec] = (signature.outputs if signature else None) or ()
    return {
        "name": name,
        "versions": versions,
        "platform": platform,
        "inputs": [_metadata_tensor(s, f"input-{i}") for i, s in enumerate(inputs)],
        "outputs": [
            _metadata_tensor(s, n)
            for s, n in zip(outputs, signature_output_names(signature), strict=True)
        ],
    }


def signature_output_names(signature: ModelSignature | None) -> list[str]:
    """The output names the metadata lists; pass them to ``encode_infer_response``.

    Named specs keep their names; a single unnamed output is ``predict``, several are
    ``output-0``, ``output-1`` ... as in MLServer.
    """
    outputs: Sequence[ColumnSpec | TensorSpec] = (signature.outputs if signature else None) or ()
    if len(outputs) == 1 and not outputs[0].name:
        return [DEFAULT_OUTPUT]
    return [s.name or f"output-{i}" for i, s in enumerate(outputs)]


def _metadata_tensor(spec: ColumnSpec | TensorSpec, default_name: str) -> dict[str, object]:
    if isinstance(spec, ColumnSpec):
        datatype, shape = _COLUMN_DATATYPES.get(spec.type, "BYTES"), [-1, 1]
    else:
        datatype, shape = _DATATYPE_OF.get(np.dtype(spec.dtype).name, "BYTES"), list(spec.shape)
    return {"name": spec.name or default_name, "datatype": datatype, "shape": shape}


def decode_infer_request(body: bytes, signature: ModelSignature | None) -> InferRequest:
    """Parse an infer request body into model input (see the module docstring).

    Args:
        body: The raw request body.
        signature: The model's signature, or ``None``.

    Raises:
        InvalidArgumentError: malformed JSON, a missing or mistyped field (named by its
            path, e.g. ``inputs[1].shape``), data that does not fill its shape or fit its
            datatype, a missing signature input, or a shape the signature refuses.
    """
    doc = _json_object(body)
    parameters = _parameters(doc.get("parameters"), "parameters")
    inputs = _inputs(doc.get("inputs"))
    return InferRequest(
        id=_request_id(doc.get("id")),
        data=_model_input(inputs, signature, as_frame=parameters.get("content_type") == "pd"),
        parameters=parameters,
        requested_outputs=_requested_outputs(doc.get("outputs")),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgumentError(f"Request body is not valid JSON: {exc}.") from exc
    if not isinstance(doc, dict):
        raise InvalidArgumentError(
            f"Request body must be a JSON object with an 'inputs' list; got {type(doc).__name__}."
        )
    return doc


def _request_id(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidArgumentError(f"id must be a string; got {value!r}.")


def _parameters(value: object, field: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{field} must be a JSON object; got {value!r}.")
    return value


def _inputs(value: object) -> list[_Input]:
    if not isinstance(value, list) or not value:
        raise InvalidArgumentError(
            "inputs must be a non-empty list of tensors, each "
            '{"name", "shape", "datatype", "data"}.'
        )
    inputs = [_input(item, f"inputs[{i}]") for i, item in enumerate(value)]
    names = [i.name for i in inputs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidArgumentError(f"inputs has duplicate names: {', '.join(duplicated)}.")
    return inputs


def _input(item: object, at: str) -> _Input:
    if not isinstance(item, dict):
        raise InvalidArgumentError(f"{at} must be an object with name, shape, datatype, data.")
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"{at}.name must be a non-empty string; got {name!r}.")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidArgumentError(
            f"{at}.shape must be a list of non-negative integers; got {shape!r}."
        )
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidArgumentError(
            f"{at}.datatype must be one of {', '.join(DATATYPES)}; got {datatype!r}."
        )
    if "data" not in item:
        raise InvalidArgumentError(f"{at}.data is missing: send the values, row-major.")
    _parameters(item.get("parameters"), f"{at}.parameters")
    return _Input(name, tuple(shape), datatype, item["data"], f"{at} ({name!r})")


def _requested_outputs(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgumentError(f'outputs must be a list of {{"name": ...}}; got {value!r}.')
    names = []
    for i, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"outputs[{i}].name must be a non-empty string.")
        names.append(name)
    return names


def _model_input(
    inputs: list[_Input], signature: ModelSignature | None, *, as_frame: bool
) -> ModelInput:
    columns = named_columns(signature)
    if columns:
        return _signature_frame(inputs, columns)
    tensors = tensor_specs(signature)
    if len(tensors) == 1:
        return _signature_tensor(inputs, tensors[0])
    if tensors:
        return _signature_tensors(inputs, tensors)
    if len(inputs) == 1 and not as_frame:
        return _array(inputs[0])
    return build_frame({i.name: _extra_column(i) for i in inputs}, field="inputs")


def _array(inp: _Input) -> Array:
    array = json_array(inp.data, DATATYPES[inp.datatype], field=inp.field)
    expected = math.prod(inp.shape)
    if array.size != expected:
        raise InvalidArgumentError(
            f"{inp.field} has {array.size} values in data, but its shape "
            f"{list(inp.shape)} needs {expected}."
        )
    return array.reshape(inp.shape)


def _column(inp: _Input) -> Array:
    if len(inp.shape) not in (1, 2) or inp.shape[1:] not in ((), (1,)):
        raise InvalidArgumentError(
            f"{inp.field} is a table column, so its shape must be [n] or [n, 1]; "
            f"got {list(inp.shape)}."
        )
    return _array(inp).reshape(-1)


def _extra_column(inp: _Input) -> Column:
    values = _column(inp)
    return text_column(values) if inp.datatype == "BYTES" else values


def _signature_frame(inputs: list[_Input], specs: list[ColumnSpec]) -> pd.DataFrame:
    by_name = {i.name: i for i in inputs}
    require_columns(by_name, specs, what="input")
    columns: dict[str, Column] = {}
    for spec in specs:
        inp = by_name.get(str(spec.name))
        if inp is not None:
            columns[inp.name] = column_values(_column(inp), spec, field=inp.field)
    for inp in inputs:
        if inp.name not in columns:
            columns[inp.name] = _extra_column(inp)
    return build_frame(columns, field="inputs")


def _signature_tensor(inputs: list[_Input], spec: TensorSpec) -> Array:
    chosen = (
        inputs[0]
        if len(inputs) == 1
        else next((i for i in inputs if spec.name and i.name == spec.name), None)
    )
    if chosen is None:
        named = f" named {spec.name!r}" if spec.name else ""
        raise InvalidArgumentError(
            f"This model takes one tensor{named}; got {len(inputs)} inputs "
            f"({', '.join(i.name for i in inputs)})."
        )
    return tensor_values(_array(chosen), spec, field=chosen.field)


def _signature_tensors(inputs: list[_Input], specs: list[TensorSpec]) -> dict[str, Array]:
    by_name = {i.name: i for i in inputs}
    missing = [str(s.name) for s in specs if s.name not in by_name]
    if missing:
        listed = ", ".join(f"{s.name} ({s.dtype} {list(s.shape)})" for s in specs)
        raise InvalidArgumentError(
            f"Missing input{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(n) for n in missing)} required by the model's signature "
            f"({listed}).",
            details={"missing_inputs": missing},
        )
    arrays = {i.name: _array(i) for i in inputs}
    for spec in specs:
        name = str(spec.name)
        arrays[name] = tensor_values(arrays[name], spec, field=by_name[name].field)
    return arrays


def encode_infer_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str,
    predictions: object,
    requested_outputs: Sequence[str] = (),
    output_names: Sequence[str] | None = None,
) -> bytes:
    """The infer response body for ``predictions`` (see the module docstring).

    Args:
        model_name: Echoed as ``model_name``.
        model_version: Echoed as ``model_version``; omitted when empty.
        request_id: Echoed as ``id``.
        predictions: What the model returned: an ndarray or list, a Series, a DataFrame
            (one output per column) or a dict of arrays (one output per key).
        requested_outputs: The request's ``outputs`` names; empty sends every output.
        output_names: Names for an unnamed prediction: one name, or one per column of a
            2-D array (which then becomes one ``[n, 1]`` output per column). Default
            ``predict``.

    Raises:
        InvalidArgumentError: a requested output the predictions do not have.
        PlinthError: predictions the protocol cannot carry (complex numbers, ...).
    """
    outputs = _named_outputs(predictions, list(output_names or ()))
    if requested_outputs:
        outputs = _select(outputs, requested_outputs)
    doc: dict[str, object] = {"model_name": model_name}
    if model_version:
        doc["model_version"] = model_version
    doc["id"] = request_id
    doc["outputs"] = [_output(name, values) for name, values in outputs]
    return orjson.dumps(doc, option=_JSON_OPTIONS, default=json_default)


def error_body(message: str) -> bytes:
    """The protocol's error body, ``{"error": message}``."""
    return orjson.dumps({"error": message})


def _named_outputs(predictions: object, names: list[str]) -> list[tuple[str, object]]:
    if isinstance(predictions, pd.DataFrame):
        return [(str(name), column) for name, column in predictions.items()]
    if isinstance(predictions, Mapping):
        return [(str(name), values) for name, values in predictions.items()]
    if len(names) <= 1:
        return [(names[0] if names else DEFAULT_OUTPUT, predictions)]
    array = plain_array(predictions)
    if array.ndim != 2 or array.shape[1] != len(names):
        raise PlinthError(
            f"The model returned predictions of shape {list(array.shape)}, which cannot be "
            f"split into the {len(names)} outputs {', '.join(names)}."
        )
    return [(name, array[:, i]) for i, name in enumerate(names)]


def _select(outputs: list[tuple[str, object]], wanted: Sequence[str]) -> list[tuple[str, object]]:
    by_name = dict(outputs)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise InvalidArgumentError(
            f"Unknown requested output{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)}; this model returns "
            f"{', '.join(by_name)}.",
            details={"unknown_outputs": unknown},
        )
    return [(name, by_name[name]) for name in wanted]


def _output(name: str, values: object) -> dict[str, object]:
    array = plain_array(values)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind == "O":
        array = _stacked_rows(array)
    shape = [len(array), 1] if array.ndim == 1 else list(array.shape)
    if array.dtype.kind == "O":
        return {"name": name, "shape": shape, "datatype": "BYTES", "data": _texts(array)}
    datatype = _DATATYPE_OF.get(array.dtype.name)
    if datatype is None:
        raise PlinthError(
            f"Output {name!r} has dtype {array.dtype}, which the Open Inference Protocol "
            f"cannot carry; return one of {', '.join(_DATATYPE_OF)} or strings."
        )
    data = np.ascontiguousarray(array).reshape(-1)
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def _stacked_rows(array: Array) -> Array:
    """One numeric array per row (ONNX outputs in a DataFrame) as a 2-D array."""
    rows = array.tolist()
    if array.ndim != 1 or not rows or not all(isinstance(r, np.ndarray | list) for r in rows):
        return array
    arrays = [np.asarray(r) for r in rows]
    if len({a.shape for a in arrays}) != 1:
        return array  # ragged rows: sent as JSON text like other objects
    stacked = plain_array(np.stack(arrays))
    return stacked if stacked.dtype.kind in "biuf" else array


def _texts(array: Array) -> list[object]:
    # BYTES elements are strings: other objects (ONNX ZipMap dicts, mixed columns) are sent
    # as their JSON text, as MLServer's pd_json content type does.
    return [_text(v) for v in array.ravel().tolist()]


def _text(value: object) -> object:
    if value is None or type(value) is str:
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return orjson.dumps(value, option=_JSON_OPTIONS, default=json_default).decode()
