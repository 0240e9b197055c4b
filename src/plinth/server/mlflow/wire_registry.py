"""MLflow's JSON wire format for the model registry and MLflow 3 logged models.

Registry messages follow ``mlflow/protos/model_registry.proto``; logged models follow the
``LoggedModel`` messages of ``mlflow/protos/service.proto``. The JSON mapping is the one of
``wire``: proto field names, enums by name, optional fields left out when unset (MLflow's
client tells "unset" from ``""`` for ``description``, ``run_id`` and ``status_message``).
"""

from __future__ import annotations

import re
from typing import Any

from plinth.entities.model_uris import logged_model_id_of
from plinth.entities.registry import (
    LoggedModel,
    LoggedModelStatus,
    ModelVersion,
    RegisteredModel,
    Stage,
)
from plinth.errors import InvalidArgumentError
from plinth.server.mlflow import wire
from plinth.server.mlflow.wire import Fields

MODEL_VERSIONS_TAG = "mlflow.modelVersions"
"""Tag on a logged model listing the registered versions made from it (JSON), as MLflow's
server keeps it; MLflow's UI shows a logged model's registrations from it."""

# MLflow's client appends this clause to every registered-model search, so that prompts (which
# MLflow keeps as registered models tagged `mlflow.prompt.is_prompt`) stay out of the results.
# MLflow's server reads it as "no such tag set to 'true'"; read as a plain tag comparison it
# would drop every model without the tag, i.e. all of them.
_PROMPT_KEY = r"mlflow\.prompt\.is_prompt"
_NOT_A_PROMPT = (
    rf"tags?\.(?:`{_PROMPT_KEY}`|\"{_PROMPT_KEY}\"|{_PROMPT_KEY})\s*!=\s*(?:'true'|\"true\")"
)
_NOT_A_PROMPT_LAST = re.compile(rf"\s+AND\s+{_NOT_A_PROMPT}\s*$", re.IGNORECASE)
_NOT_A_PROMPT_FIRST = re.compile(rf"^\s*{_NOT_A_PROMPT}\s*(?:AND\s+|$)", re.IGNORECASE)

_LOGGED_MODEL_STATUS_NUMBERS = {
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.FAILED,
}


def registry_filter(filter_string: str) -> str | None:
    """A registry search filter for the store: ``None`` when empty, and without the clause
    that MLflow's client adds to exclude prompts (Plinth's registry holds no prompts)."""
    without = _NOT_A_PROMPT_FIRST.sub("", _NOT_A_PROMPT_LAST.sub("", filter_string))
    return without.strip() or None


def stage_from(value: str, name: str = "stage") -> Stage:
    """A stage name, case-insensitive as in MLflow; anything else names the allowed ones."""
    try:
        return Stage.parse(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Stage)
        raise InvalidArgumentError(
            f"Invalid value {value!r} for parameter '{name}': expected one of {allowed}.",
            details={"field": name},
        ) from None


def stages_from(fields: Fields, name: str = "stages") -> list[Stage]:
    return [stage_from(value, f"{name}[{i}]") for i, value in enumerate(fields.strings(name))]


def logged_model_status_from(fields: Fields, name: str = "status") -> LoggedModelStatus:
    if not fields.has(name):
        raise InvalidArgumentError(
            f"Missing value for required parameter '{name}'.", details={"field": name}
        )
    return fields.choice(name, _LOGGED_MODEL_STATUS_NUMBERS, LoggedModelStatus.READY)


def _key_values(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]


def model_version_json(version: ModelVersion) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": version.name,
        "version": version.version,
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "current_stage": str(version.current_stage),
        "source": version.source,
        "status": str(version.status),
        "tags": _key_values(version.tags),
        "aliases": list(version.aliases),
    }
    optional = {
        "description": version.description,
        "user_id": version.user_id,
        "run_id": version.run_id,
        "run_link": version.run_link,
        "status_message": version.status_message,
        "model_id": logged_model_id_of(version.source),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def registered_model_json(model: RegisteredModel) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "latest_versions": [model_version_json(v) for v in model.latest_versions],
        "tags": _key_values(model.tags),
        "aliases": [{"alias": a, "version": v} for a, v in model.aliases.items()],
    }
    if model.description is not None:
        body["description"] = model.description
    return body


def logged_model_json(model: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp,
        "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": model.artifact_location,
        "status": str(model.status),
        "tags": _key_values(model.tags),
    }
    if model.model_type is not None:
        info["model_type"] = model.model_type
    if model.source_run_id is not None:
        info["source_run_id"] = model.source_run_id
    metrics = [wire.metric_json(m) for m in model.metrics]
    return {"info": info, "data": {"params": _key_values(model.params), "metrics": metrics}}
