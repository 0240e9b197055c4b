"""``log_model``: save a model package into a run's artifacts, record it as an MLflow 3
logged model, and optionally register it as a new model version.

The package is stored once, under the run (``runs:/<run_id>/<name>``). The logged model
record (``models:/m-<id>``) points there with its ``plinth.model_uri`` tag rather than
holding a second copy; a registered version's ``source`` is the run's artifact location,
exactly what ``plinth.register_model("runs:/...")`` stores.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from plinth.client import Client
from plinth.entities import LifecycleStage, LoggedModelOutput, RunTag
from plinth.entities.registry import LoggedModelStatus, ModelVersion, validate_model_name
from plinth.entities.validation import validate_step
from plinth.errors import AlreadyExistsError, ConflictError, InvalidArgumentError
from plinth.models.package import ModelPackage, check_save_arguments, save_model
from plinth.models.signature import ModelSignature
from plinth.models.uri import MODEL_URI_TAG
from plinth.registry.uris import resolve_source
from plinth.tracking import fluent


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What ``log_model`` logged.

    Attributes:
        model_uri: ``runs:/<run_id>/<name>``, loadable with ``plinth.models.load_model``.
        run_id: The run holding the package.
        name: The artifact path of the package inside the run.
        flavor: The flavor it was saved as.
        signature: The signature written to the package (given or inferred).
        model_uuid: The package's id in ``MLmodel``.
        model_id: The MLflow 3 logged model (``m-...``) recording it.
        registered_model_version: The version created for ``registered_model_name``.
    """

    model_uri: str
    run_id: str
    name: str
    flavor: str
    signature: ModelSignature | None
    model_uuid: str
    model_id: str
    registered_model_version: ModelVersion | None = None


def log_model(
    model: object,
    name: str = "model",
    *,
    signature: ModelSignature | None = None,
    input_example: object = None,
    artifacts: Mapping[str, str | Path] | None = None,
    registered_model_name: str | None = None,
    run_id: str | None = None,
    client: Client | None = None,
    step: int = 0,
) -> ModelInfo:
    """Log ``model`` as an MLmodel package in a run.

    Args:
        model: Anything ``plinth.models.save_model`` takes (scikit-learn, XGBoost,
            LightGBM, ONNX, ``PythonModel``).
        name: Artifact path of the package inside the run.
        signature: The signature; inferred from ``input_example`` when omitted; MLflow's
            ``ModelSignature`` (from ``mlflow.models.infer_signature``) is taken too.
        input_example: A DataFrame, list of dicts or ndarray, stored with the package.
        artifacts: Extra files for a ``PythonModel`` (name -> local path).
        registered_model_name: Also register the package as the next version of this model.
        run_id: The run to log into; defaults to the active run (one is started, as
            ``plinth.log_metric`` does, when none is active and no ``client`` is given).
        client: Defaults to the fluent API's client.
        step: The step the run produced the model at (MLflow 3's ``step``): the run's
            points at that step that no earlier model of the run took become the model's
            too, and so do the fluent API's later metrics of that step.

    Returns:
        Where the model went: its ``runs:/`` URI, logged model id and registered version.

    Raises:
        InvalidArgumentError: an unsupported model, a bad ``name`` or input example, or a
            ``client`` without a ``run_id`` outside an active run.
        NotFoundError: the run does not exist.
        ConflictError: the run is deleted (nothing is created).
        AlreadyExistsError: the run already holds a model under ``name`` (nothing is
            created; a second package would overwrite the first one's files).
    """
    _check_name(name)
    # Everything the caller passed is checked before anything is created or uploaded.
    step = validate_step("log_model step", step)
    if registered_model_name is not None:
        validate_model_name(registered_model_name)
    # Fail before anything is created for a model, signature, example or artifacts we
    # cannot save: a failure past this point leaves a FAILED logged model behind.
    checked = check_save_arguments(
        model, signature=signature, input_example=input_example, artifacts=artifacts
    )
    run_id = _run_id(run_id, explicit_client=client)
    client = client or fluent.get_client()
    run = client.get_run(run_id)
    if run.info.lifecycle_stage is not LifecycleStage.ACTIVE:
        # Checked before anything is created: the run's output link would be refused last.
        raise ConflictError(
            f"Run {run_id} is deleted; restore it (plinth runs restore) before logging a "
            "model into it."
        )
    if client.list_artifacts(run_id, name):
        raise AlreadyExistsError(
            f"Run {run_id} already holds {name!r}; log this model under another name= (a "
            "second package there would overwrite the first one's files)."
        )
    model_uri = f"runs:/{run_id}/{name}"
    logged = client.stores.registry.create_logged_model(
        run.info.experiment_id,
        name=name,
        source_run_id=run_id,
        tags=[RunTag(MODEL_URI_TAG, model_uri)],
    )
    package = _save_and_upload(
        client,
        model,
        name,
        logged.model_id,
        run_id=run_id,
        signature=checked.signature,
        input_example=checked.example,
        artifacts=checked.artifacts,
    )
    # The run's output, as MLflow 3's log_model records it (run.outputs.model_outputs); the
    # fluent API then records the active run's metrics of that step on the model too.
    output = LoggedModelOutput(model_id=logged.model_id, step=step)
    client.log_outputs(run_id, [output])  # the model takes the run's points of its step
    active = fluent.active_run()
    if active is not None and active.run_id == run_id:
        active.record_model_output(output)
    version = _register(client, model_uri, registered_model_name) if registered_model_name else None
    return ModelInfo(
        model_uri=model_uri,
        run_id=run_id,
        name=name,
        flavor=package.flavor,
        signature=package.signature,
        model_uuid=package.model_uuid,
        model_id=logged.model_id,
        registered_model_version=version,
    )


def _save_and_upload(
    client: Client,
    model: object,
    name: str,
    model_id: str,
    *,
    run_id: str,
    signature: ModelSignature | None,
    input_example: object,
    artifacts: Mapping[str, str | Path] | None,
) -> ModelPackage:
    """Write the package and upload it under the run; the logged model ends READY, or
    FAILED if anything on the way raised."""
    uploaded = False
    try:
        with tempfile.TemporaryDirectory(prefix="plinth-model-") as tmp:
            package = save_model(
                model,
                Path(tmp, "model"),
                signature=signature,
                input_example=input_example,
                artifacts=artifacts,
                run_id=run_id,
                model_id=model_id,
            )
            client.log_artifacts(run_id, package.path, name)
        uploaded = True
    finally:
        status = LoggedModelStatus.READY if uploaded else LoggedModelStatus.FAILED
        client.stores.registry.finalize_logged_model(model_id, status)
    return package


def _run_id(run_id: str | None, *, explicit_client: Client | None) -> str:
    if run_id:
        return run_id
    active = fluent.active_run()
    if active is not None:
        return active.run_id
    if explicit_client is not None:
        raise InvalidArgumentError(
            "log_model with an explicit client needs run_id= (or an active run)."
        )
    return fluent.start_run().run_id


def _register(client: Client, model_uri: str, name: str) -> ModelVersion:
    source, run_id = resolve_source(client, model_uri)
    return client.create_model_version(name, source, run_id=run_id)


def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"Model name must be a str such as 'model', got {type(name).__name__}."
        )
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgumentError(
            f"Model name {name!r} must be a relative artifact path such as 'model'."
        )
