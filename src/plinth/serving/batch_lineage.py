"""The lineage of a batch job: one tracking run, and an event in the model's history.

The run lives in the experiment ``batch-predictions``. It is tagged with the model URI, the
version it resolved to, the output directory and the input digest (``plinth.batch.*``), logs
the input as a dataset with context ``inference`` (its digest is the first 16 characters of
the input digest, as ``plinth.log_input`` computes it, so training and scoring runs on the
same data match) and, at the end, the metrics rows, rows_per_second and seconds. A job
resumed after a crash continues its run rather than opening a second one. Registry models
also get a ``batch_prediction`` event in their history, naming the run and the output.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path

from plinth.client import Client
from plinth.entities import Dataset, DatasetInput, Metric, Param, RunStatus, RunTag, now_ms
from plinth.errors import AlreadyExistsError, NotFoundError, PlinthError
from plinth.models.signature import infer_schema
from plinth.serving.batch_output import Manifest
from plinth.serving.chunks import InputFiles, input_schema
from plinth.tracking.environment import capture_code_version, mlflow_tags

BATCH_EXPERIMENT = "batch-predictions"
INFERENCE_CONTEXT = "inference"
BATCH_EVENT = "batch_prediction"
DATASET_DIGEST_LENGTH = 16
"""Hex characters of a logged dataset's digest, as ``plinth.log_input`` keeps them."""


def start_run(
    client: Client,
    manifest: Manifest,
    files: InputFiles,
    out: Path,
    *,
    previous_run_id: str | None,
) -> str:
    """The run of this job: the one a killed attempt started, else a new one."""
    if previous_run_id is not None and _is_live(client, previous_run_id):
        client.update_run(previous_run_id, status=RunStatus.RUNNING)
        return previous_run_id
    run_name = f"batch {manifest.model_label}"
    tags = {**mlflow_tags(capture_code_version(), run_name), **_batch_tags(manifest, out)}
    run = client.create_run(_experiment_id(client), run_name=run_name, tags=tags)
    run_id = run.info.run_id
    params = {"chunk_rows": str(manifest.chunk_rows), "id_cols": ",".join(manifest.id_cols)}
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    dataset = DatasetInput(
        dataset=_dataset(files, manifest), tags=[RunTag("mlflow.data.context", INFERENCE_CONTEXT)]
    )
    client.log_inputs(run_id, [dataset])
    return run_id


def _is_live(client: Client, run_id: str) -> bool:
    # The manifest may name a run of another store (PLINTH_URI changed) or a deleted one.
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except NotFoundError:
        return False


def _experiment_id(client: Client) -> str:
    found = client.get_experiment_by_name(BATCH_EXPERIMENT)
    if found is not None:
        return found.experiment_id
    with contextlib.suppress(AlreadyExistsError):  # another job created it just now
        return client.create_experiment(BATCH_EXPERIMENT)
    again = client.get_experiment_by_name(BATCH_EXPERIMENT)
    assert again is not None
    return again.experiment_id


def _batch_tags(manifest: Manifest, out: Path) -> dict[str, str]:
    return {
        "plinth.batch.model_uri": manifest.model_uri,
        "plinth.batch.model_version": manifest.model_label,
        "plinth.batch.output": str(out),
        "plinth.batch.input_digest": manifest.input_digest,
    }


def _dataset(files: InputFiles, manifest: Manifest) -> Dataset:
    specs = infer_schema(input_schema(files).empty_table().to_pandas())
    schema = json.dumps({"mlflow_colspec": [spec.to_json() for spec in specs]})
    return Dataset(
        name=files.name,
        digest=manifest.input_digest[:DATASET_DIGEST_LENGTH],
        source_type="local" if files.is_local else files.protocol,
        source=files.uri,
        schema=schema,
    )


def finish_run(
    client: Client,
    manifest: Manifest,
    out: Path,
    *,
    run_id: str,
    rows: int,
    metrics: Mapping[str, float],
) -> None:
    """Log the job's metrics, end its run, and add the event to the model's history."""
    now = now_ms()
    client.log_batch(
        run_id, metrics=[Metric(key=k, value=float(v), timestamp=now) for k, v in metrics.items()]
    )
    client.set_terminated(run_id, RunStatus.FINISHED)
    if manifest.model_name is None or manifest.model_version is None:
        return
    details = {
        "run_id": run_id,
        "output": str(out),
        "rows": str(rows),
        "input_digest": manifest.input_digest,
    }
    client.stores.registry.record_model_event(
        manifest.model_name, manifest.model_version, BATCH_EVENT, details=details
    )


def fail_run(client: Client, run_id: str, error: BaseException) -> None:
    """Mark the run FAILED (KILLED on Ctrl-C); a rerun resumes it. The job's own error is
    what the caller needs to see, so a store that fails here too stays quiet."""
    status = RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
    with contextlib.suppress(PlinthError):
        client.set_terminated(run_id, status)
