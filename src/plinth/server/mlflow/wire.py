"""MLflow's JSON wire format: request fields in, MLflow-shaped JSON out.

MLflow's server speaks the protobuf messages of ``mlflow/protos/service.proto`` rendered as
JSON with proto field names (``MessageToDict(preserving_proto_field_name=True)``, int64 kept
as numbers). Requests arrive as a JSON body (POST) or a query string (GET, repeated fields as
repeated keys); both are read through ``Fields``, whose getters check each field's type and
raise ``InvalidArgumentError`` naming it, so a malformed request is a 400 and never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from plinth.artifacts import FileInfo
from plinth.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from plinth.entities.validation import json_unstorable
from plinth.errors import InvalidArgumentError, PayloadTooLargeError
from plinth.schemas.common import encode_float

_INTEGER = re.compile(r"[-+]?\d+")

MAX_JSON_BODY_BYTES = 16 << 20
"""Largest JSON request accepted. MLflow documents 1 MB for log-batch, but log-inputs carries
dataset schemas and profiles; the cap only keeps one request from filling the server's memory."""


_T = TypeVar("_T")

# Proto enums arrive by name ("FINISHED") from MLflow's clients and by number from
# hand-written or protobuf-generated ones; ParseDict accepts both, so we do too.
_RUN_STATUS_NUMBERS = {
    1: RunStatus.RUNNING,
    2: RunStatus.SCHEDULED,
    3: RunStatus.FINISHED,
    4: RunStatus.FAILED,
    5: RunStatus.KILLED,
}
_VIEW_TYPE_NUMBERS = {1: ViewType.ACTIVE_ONLY, 2: ViewType.DELETED_ONLY, 3: ViewType.ALL}


class Fields:
    """The fields of one request message, read with their types checked.

    Args:
        values: The decoded JSON object, or the query string as lists of values.
        where: Prefix naming this message inside the request (``"metrics[2]."``).
        from_query: Whether values came from a query string (all strings, maybe repeated).
    """

    def __init__(self, values: Mapping[str, Any], *, where: str = "", from_query: bool = False):
        self._values = values
        self._where = where
        self._from_query = from_query

    @classmethod
    def from_query(cls, params: QueryParams) -> Fields:
        return cls({key: params.getlist(key) for key in params}, from_query=True)

    @classmethod
    def from_body(cls, body: bytes) -> Fields:
        return cls(parse_json_object(body))

    def has(self, name: str) -> bool:
        return self._get(name) is not None

    def string(self, name: str, *, required: bool = False) -> str:
        """A string field; absent is ``""`` (proto2's default), or an error if ``required``."""
        value = self._get(name)
        if value is None or value == "":
            if required:
                raise self._missing(name)
            return ""
        if not isinstance(value, str):
            raise self._invalid(name, value, "a string")
        return value

    def optional_string(self, name: str) -> str | None:
        value = self.string(name)
        return value if self.has(name) else None

    def identifier(self, name: str, *, required: bool = True) -> str:
        """An id such as ``experiment_id``: a string, or an integer sent by a lax client."""
        value = self._get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.string(name, required=required)

    def run_id(self) -> str:
        """``run_id``, or the deprecated ``run_uuid`` that older clients send instead."""
        if self.has("run_id") or not self.has("run_uuid"):
            return self.identifier("run_id")
        return self.identifier("run_uuid")

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """An int32/int64 field. Proto JSON may encode int64 as a string, so digits in a
        string are accepted, as are floats without a fractional part."""
        value = self._get(name)
        if value is None or value == "":
            if required:
                raise self._missing(name)
            return None
        number: int | None = None
        if isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):  # JSON true is no number
            number = value
        elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            number = int(value.strip())
        # Proto's integers are at most 64 bits; a larger one would overflow the database.
        if number is None or not -(2**63) <= number < 2**63:
            raise self._invalid(name, value, "a 64-bit integer")
        return number

    def boolean(self, name: str, *, default: bool = False) -> bool:
        """A bool field: JSON ``true``/``false``, or ``"true"``/``"false"`` (any case) as a
        query string and lax clients send it."""
        value = self._get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise self._invalid(name, value, "true or false")

    def number(self, name: str) -> float:
        """A required double. NaN and the infinities arrive as JSON tokens (stdlib ``json``
        parses them) or, from MLflow's own client, as the strings ``"NaN"``/``"Infinity"``."""
        value = self._get(name)
        if value is None or value == "":
            raise self._missing(name)
        if isinstance(value, bool):
            raise self._invalid(name, value, "a number")
        if isinstance(value, int | float | str):
            try:
                return float(value.strip() if isinstance(value, str) else value)
            except (ValueError, OverflowError):  # OverflowError: an int beyond any double
                pass
        raise self._invalid(name, value, "a number")

    def strings(self, name: str, *, allow_ints: bool = False) -> list[str]:
        """A repeated string field; ``allow_ints`` also takes integers (ids)."""
        values = self._list(name)
        for i, item in enumerate(values):
            if allow_ints and isinstance(item, int) and not isinstance(item, bool):
                values[i] = str(item)
            elif not isinstance(item, str):
                raise self._invalid(f"{name}[{i}]", item, "a string")
        return values

    def messages(self, name: str) -> list[Fields]:
        """A repeated message field, each element read as ``Fields``."""
        if self._from_query:
            raise InvalidArgumentError(
                f"Parameter '{self._where}{name}' cannot be sent in a query string; "
                "POST it in a JSON body."
            )
        found = []
        for i, item in enumerate(self._list(name)):
            if not isinstance(item, dict):
                raise self._invalid(f"{name}[{i}]", item, "a JSON object")
            found.append(Fields(item, where=f"{self._where}{name}[{i}]."))
        return found

    def message(self, name: str) -> Fields:
        """A required nested message."""
        value = self._get(name)
        if value is None:
            raise self._missing(name)
        if not isinstance(value, dict):
            raise self._invalid(name, value, "a JSON object")
        return Fields(value, where=f"{self._where}{name}.")

    def choice(self, name: str, choices: Mapping[int, _T], default: _T) -> _T:
        """A proto enum field, by name or by number."""
        value = self._get(name)
        if value is None or value == "":
            return default
        for number, member in choices.items():
            if value in (str(member), number, str(number)) and not isinstance(value, bool):
                return member
        names = ", ".join(str(m) for m in choices.values())
        raise self._invalid(name, value, f"one of {names}")

    def _get(self, name: str) -> Any:
        value = self._values.get(name)
        if self._from_query and isinstance(value, list):
            # A scalar sent twice: the first value wins, as in MLflow's Flask server
            # (``args.get``), so both servers read odd requests alike.
            return value[0] if value else None
        return value

    def _list(self, name: str) -> list[Any]:
        value = self._values.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._invalid(name, value, "a JSON array")
        return list(value)

    def _missing(self, name: str) -> InvalidArgumentError:
        path = f"{self._where}{name}"
        return InvalidArgumentError(
            f"Missing value for required parameter '{path}'.", details={"field": path}
        )

    def _invalid(self, name: str, value: object, expected: str) -> InvalidArgumentError:
        path = f"{self._where}{name}"
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return InvalidArgumentError(
            f"Invalid value {shown} for parameter '{path}': expected {expected}.",
            details={"field": path},
        )


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a request body into a JSON object; an empty body is ``{}``.

    orjson first (a 1,000-point ``log_batch`` parses 3x faster); what it refuses goes to the
    stdlib parser, which accepts the ``NaN`` and ``Infinity`` tokens that Python clients emit
    for such metric values and words the errors.
    """
    if not body.strip():
        return {}
    try:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            value = _stdlib_json(body)
        # Old MLflow clients double-encode their JSON; MLflow's server decodes twice too.
        if isinstance(value, str):
            value = _stdlib_json(value)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise InvalidArgumentError(f"Request body is not valid JSON: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(
            f"Request body must be a JSON object, got a JSON {type(value).__name__}."
        )
    return value


def _stdlib_json(text: str | bytes) -> Any:
    value = json.loads(text)
    # orjson refuses "\ud800"-style escapes of unpaired surrogates, which the stdlib turns
    # into strings no database driver (nor the error's own JSON) can encode.
    problem = json_unstorable(text, value)
    if problem:
        raise InvalidArgumentError(problem) from None
    return value


async def request_fields(request: Request) -> Fields:
    """FastAPI dependency: the request message, from the query string (GET) or JSON body.

    A GET without a query string is read from its body, as MLflow's server does, for old
    clients that send GET requests with JSON bodies.
    """
    if request.method == "GET" and request.query_params:
        return Fields.from_query(request.query_params)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY_BYTES:
            raise PayloadTooLargeError(
                f"Request body exceeds {MAX_JSON_BODY_BYTES} bytes; split the request."
            )
        chunks.append(chunk)
    return Fields.from_body(b"".join(chunks))


def reply(payload: Mapping[str, Any] | None = None) -> Response:
    """A JSON response. Payloads hold no NaN floats (``encode_float`` renders them first)."""
    return Response(orjson.dumps(payload or {}), media_type="application/json")


# -- entities -> JSON ------------------------------------------------------------------------
def _key_values(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": str(experiment.lifecycle_stage),
        "tags": _key_values(experiment.tags),
    }
    if experiment.creation_time is not None:
        body["creation_time"] = experiment.creation_time
    if experiment.last_update_time is not None:
        body["last_update_time"] = experiment.last_update_time
    return body


def run_info_json(info: RunInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": str(info.status),
        "start_time": info.start_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": str(info.lifecycle_stage),
    }
    if info.end_time is not None:
        body["end_time"] = info.end_time
    return body


def dataset_input_json(item: DatasetInput) -> dict[str, Any]:
    ds = item.dataset
    dataset: dict[str, Any] = {
        "name": ds.name,
        "digest": ds.digest,
        "source_type": ds.source_type,
        "source": ds.source,
    }
    if ds.schema is not None:
        dataset["schema"] = ds.schema
    if ds.profile is not None:
        dataset["profile"] = ds.profile
    return {"tags": [{"key": t.key, "value": t.value} for t in item.tags], "dataset": dataset}


def run_json(run: Run) -> dict[str, Any]:
    data = run.data
    timestamps, steps = data.metric_timestamps, data.metric_steps
    metrics = [
        {
            "key": k,
            "value": encode_float(v),
            "timestamp": timestamps.get(k, 0),
            "step": steps.get(k, 0),
        }
        for k, v in data.metrics.items()
    ]
    inputs: dict[str, Any] = {
        "dataset_inputs": [dataset_input_json(d) for d in run.inputs.dataset_inputs]
    }
    if run.inputs.model_inputs:
        inputs["model_inputs"] = [{"model_id": m.model_id} for m in run.inputs.model_inputs]
    body = {
        "info": run_info_json(run.info),
        "data": {
            "metrics": metrics,
            "params": _key_values(run.data.params),
            "tags": _key_values(run.data.tags),
        },
        "inputs": inputs,
    }
    if run.outputs.model_outputs:
        body["outputs"] = {
            "model_outputs": [
                {"model_id": m.model_id, "step": m.step} for m in run.outputs.model_outputs
            ]
        }
    return body


def metric_json(metric: Metric) -> dict[str, Any]:
    """A metric point as MLflow's ``Metric`` message; a logged model's points also name their
    run, model and dataset."""
    body: dict[str, Any] = {
        "key": metric.key,
        "value": encode_float(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }
    for name in ("run_id", "model_id", "dataset_name", "dataset_digest"):
        value = getattr(metric, name)
        if value is not None:
            body[name] = value
    return body


def file_info_json(info: FileInfo, path: str) -> dict[str, Any]:
    """One listing entry under the name ``path``; directories carry no size, as in MLflow."""
    body: dict[str, Any] = {"path": path, "is_dir": info.is_dir}
    if info.file_size is not None and not info.is_dir:
        body["file_size"] = info.file_size
    return body


# -- JSON -> entities ------------------------------------------------------------------------
def tags_from(fields: Fields, name: str = "tags") -> list[RunTag]:
    return [
        RunTag(f.string("key", required=True), f.string("value")) for f in fields.messages(name)
    ]


def params_from(fields: Fields, name: str = "params") -> list[Param]:
    return [Param(f.string("key", required=True), f.string("value")) for f in fields.messages(name)]


def metric_from(fields: Fields) -> Metric:
    timestamp = fields.integer("timestamp", required=True)
    assert timestamp is not None  # required=True never returns None
    return Metric(
        key=fields.string("key", required=True),
        value=fields.number("value"),
        timestamp=timestamp,
        step=fields.integer("step") or 0,
        # MLflow 3: a metric of a logged model (the run's active or just-logged model).
        model_id=fields.string("model_id") or None,
        dataset_name=fields.optional_string("dataset_name"),
        dataset_digest=fields.optional_string("dataset_digest"),
    )


def metrics_from(fields: Fields, name: str = "metrics") -> list[Metric]:
    return [metric_from(f) for f in fields.messages(name)]


def dataset_inputs_from(fields: Fields, name: str = "datasets") -> list[DatasetInput]:
    found = []
    for item in fields.messages(name):
        ds = item.message("dataset")
        dataset = Dataset(
            name=ds.string("name", required=True),
            digest=ds.string("digest", required=True),
            source_type=ds.string("source_type", required=True),
            source=ds.string("source", required=True),
            schema=ds.optional_string("schema"),
            profile=ds.optional_string("profile"),
        )
        found.append(DatasetInput(dataset=dataset, tags=tags_from(item)))
    return found


def view_type_from(fields: Fields, name: str) -> ViewType:
    return fields.choice(name, _VIEW_TYPE_NUMBERS, ViewType.ACTIVE_ONLY)


def run_status_from(fields: Fields, name: str = "status") -> RunStatus | None:
    if not fields.has(name):
        return None
    return fields.choice(name, _RUN_STATUS_NUMBERS, RunStatus.RUNNING)
