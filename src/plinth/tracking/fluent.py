"""The fluent tracking API (``plinth.start_run``, ``plinth.log_metric`` ...), named after MLflow's.

A process-wide default ``Client`` is built lazily from the environment (``PLINTH_URI``,
``PLINTH_HOME`` ...): this module is an edge, like the CLI. The active-run stack is
per thread, so threads that train in parallel do not log into each other's runs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from plinth.artifacts import FileInfo
from plinth.artifacts.base import normalize_path
from plinth.client import Client, parse_run_status
from plinth.config import Settings
from plinth.entities import (
    DEFAULT_EXPERIMENT_ID,
    Comment,
    Dataset,
    DatasetInput,
    Experiment,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
    now_ms,
)
from plinth.entities.validation import (
    validate_experiment_name,
    validate_key,
    validate_mapping,
    validate_step,
    validate_timestamp,
)
from plinth.errors import AlreadyExistsError, InvalidArgumentError, PlinthError
from plinth.tracking.config_flatten import flatten_config, load_config
from plinth.tracking.environment import (
    capture_code_version,
    installed_packages,
    mlflow_tags,
    requirements_text,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PARENT_RUN_TAG = "mlflow.parentRunId"
SEARCH_PAGE = 10_000


class _State:
    """The default client, the active experiment and each thread's stack of active runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: Client | None = None
        self.experiment_id: str | None = None
        self.local = threading.local()
        # Every thread's stack, so that runs a thread left open are ended at exit too.
        # Stacks of finished threads are dropped once empty (a thread per job must not
        # grow this list).
        self.stacks: list[tuple[threading.Thread, list[ActiveRun]]] = []
        self.crashed: type[BaseException] | None = None

    def stack(self) -> list[ActiveRun]:
        stack: list[ActiveRun] | None = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
            with self.lock:
                self.stacks = [(t, s) for t, s in self.stacks if s or t.is_alive()]
                self.stacks.append((threading.current_thread(), stack))
        return stack

    def all_stacks(self) -> list[list[ActiveRun]]:
        with self.lock:
            return [stack for _thread, stack in self.stacks]


_state = _State()


class ActiveRun:
    """The run started by ``start_run``; a context manager that ends it (FAILED on error)."""

    def __init__(self, run: Run) -> None:
        self._run = run
        # The logged models this run produced (in order) and consumed, as stored when it
        # started or resumed and as logged since: metrics the fluent API logs at an output's
        # step belong to that model too, as in MLflow 3.
        self._model_outputs = list(run.outputs.model_outputs)
        self._model_inputs = {m.model_id for m in run.inputs.model_inputs}
        self._datasets = {(d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs}

    def uses_dataset(self, dataset: Dataset) -> bool:
        """Whether the run recorded ``dataset`` as an input (``log_input``)."""
        return (dataset.name, dataset.digest) in self._datasets

    def record_dataset(self, dataset: Dataset) -> None:
        """Note a data version this run consumed."""
        self._datasets.add((dataset.name, dataset.digest))

    def record_model_output(self, output: LoggedModelOutput) -> None:
        """Note a logged model this run produced (``plinth.log_model`` calls this)."""
        self._model_outputs.append(output)

    def models_at_step(self, step: int) -> list[str]:
        """The logged models this run produced at ``step``, in the order they were logged."""
        return list(dict.fromkeys(o.model_id for o in self._model_outputs if o.step == step))

    def knows_model(self, model_id: str) -> bool:
        """Whether the run produced or consumed logged model ``model_id``."""
        return model_id in self._model_inputs or any(
            o.model_id == model_id for o in self._model_outputs
        )

    def record_model_input(self, model_id: str) -> None:
        """Note a logged model this run consumed."""
        self._model_inputs.add(model_id)

    @property
    def info(self) -> Any:
        return get_client().get_run(self._run.info.run_id).info

    @property
    def data(self) -> Any:
        return get_client().get_run(self._run.info.run_id).data

    @property
    def run_id(self) -> str:
        return self._run.info.run_id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        if exc_type is KeyboardInterrupt:
            status = RunStatus.KILLED
        stack = _state.stack()
        if any(active is self for active in stack):  # else ended inside the block
            # This run and any nested run still open inside it end together; the runs
            # around it stay active.
            _end_runs(stack, status, through=self)


# -- client and experiment ------------------------------------------------------------------
def get_client() -> Client:
    """The process-wide client, built from the environment on first use."""
    with _state.lock:
        if _state.client is None:
            _state.client = Client(Settings.from_env(os.environ, config_file=Path("plinth.toml")))
        return _state.client


def set_tracking_uri(uri: str | None = None, *, settings: Settings | None = None) -> None:
    """Point the fluent API at another store or server (or reset it to the environment's)."""
    with _state.lock:
        base = settings or Settings.from_env(os.environ)
        _state.client = Client(base.model_copy(update={"uri": uri}) if uri else base)
        _state.experiment_id = None


def get_tracking_uri() -> str:
    return get_client().tracking_uri


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active, creating it by name if it does not exist."""
    client = get_client()
    if experiment_id is not None:
        experiment = client.get_experiment(experiment_id)
    elif experiment_name:
        validate_experiment_name(experiment_name)  # a str: bytes would be read as text
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            # Another process may create it between the lookup and ours: use theirs.
            with contextlib.suppress(AlreadyExistsError):
                client.create_experiment(experiment_name)
            found = client.get_experiment_by_name(experiment_name)
        assert found is not None
        experiment = found
    else:
        raise InvalidArgumentError("set_experiment needs experiment_name or experiment_id.")
    if experiment.lifecycle_stage != "active":
        raise InvalidArgumentError(
            f"Experiment '{experiment.name}' is deleted; restore it or choose another name."
        )
    _state.experiment_id = experiment.experiment_id
    return experiment


def _experiment_id(experiment: str | None) -> str:
    if experiment is not None:
        return set_experiment(experiment_name=experiment).experiment_id
    env_name = os.environ.get("PLINTH_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if _state.experiment_id is None and env_name:
        set_experiment(env_name)
    return _state.experiment_id or DEFAULT_EXPERIMENT_ID


# -- runs -----------------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    *,
    run_name: str | None = None,
    experiment: str | None = None,
    experiment_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
    description: str | None = None,
    log_environment: bool = True,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager.

    The code version (git commit, branch, dirty flag, remote, entry point), user, host and
    Python are captured as tags, and the installed packages as ``requirements.txt``.

    Raises:
        InvalidArgumentError: a run is already active and ``nested`` is False.
    """
    stack = _state.stack()
    if stack and not nested:
        raise InvalidArgumentError(
            f"Run {stack[-1].run_id} is already active. End it with plinth.end_run(), or "
            "start this one with nested=True."
        )
    client = get_client()
    if run_id is not None:
        run = _resume(client, run_id)
    else:
        exp_id = experiment_id or _experiment_id(experiment)
        run = client.create_run(
            exp_id,
            tags=_run_tags(tags, run_name, description, stack, log_environment),
            run_name=run_name,
        )
        if log_environment:
            client.log_text(
                run.info.run_id, requirements_text(installed_packages()), "requirements.txt"
            )
    active = ActiveRun(run)
    stack.append(active)
    _note_crashes()
    return active


def _run_tags(
    tags: Mapping[str, Any] | None,
    run_name: str | None,
    description: str | None,
    stack: Sequence[ActiveRun],
    log_environment: bool,
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if log_environment:
        merged.update(mlflow_tags(capture_code_version(), run_name))
    if stack:
        merged[PARENT_RUN_TAG] = stack[-1].run_id
    if description:
        merged["mlflow.note.content"] = description
    merged.update(validate_mapping("start_run: tags", tags))
    return merged


def _resume(client: Client, run_id: str) -> Run:
    run = client.get_run(run_id)
    if run.info.status is not RunStatus.RUNNING:
        client.update_run(run_id, status=RunStatus.RUNNING)
    return client.get_run(run_id)


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, or ``None``."""
    stack = _state.stack()
    return stack[-1] if stack else None


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run (no-op when none is active) as FINISHED, FAILED or KILLED."""
    final = _final_status(status)
    stack = _state.stack()
    if stack:
        _end_runs(stack, final, through=stack[-1])


def _end_runs(stack: list[ActiveRun], status: RunStatus, *, through: ActiveRun | None) -> None:
    """End runs from the top of ``stack``, up to and including ``through`` (all if None)."""
    while stack:
        top = stack.pop()
        get_client().set_terminated(top.run_id, status)
        if top is through:
            return


def _final_status(status: RunStatus | str) -> RunStatus:
    with contextlib.suppress(InvalidArgumentError):
        final = parse_run_status(status)
        if final.is_terminal:
            return final
    raise InvalidArgumentError(
        f"end_run status must be FINISHED, FAILED or KILLED, got {str(status)!r}."
    )


def _note_crashes() -> None:
    """Chain sys.excepthook, which Python calls for the exception a program dies of (not
    for errors a REPL or notebook shows and goes on from), so the exit can mark runs FAILED.
    Installed with the first run; a hook installed later by the program bypasses it, and
    runs then end FINISHED."""
    previous = sys.excepthook
    if getattr(previous, "_plinth", False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _state.crashed = exc_type
        previous(exc_type, exc, tb)

    hook._plinth = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def _end_all_runs() -> None:
    # Runs still open when the interpreter exits: FAILED if the program died of an uncaught
    # exception (KILLED for Ctrl-C), else FINISHED.
    status = RunStatus.FINISHED
    if _state.crashed is not None:
        crash_is_interrupt = issubclass(_state.crashed, KeyboardInterrupt)
        status = RunStatus.KILLED if crash_is_interrupt else RunStatus.FAILED
    for stack in _state.all_stacks():
        try:
            _end_runs(stack, status, through=None)
        except PlinthError:
            stack.clear()


atexit.register(_end_all_runs)


def _run_id(run_id: str | None = None) -> str:
    if run_id:
        return run_id
    run = active_run()
    if run is None:
        run = start_run()
    return run.run_id


# -- logging --------------------------------------------------------------------------------
def log_param(key: str, value: Any) -> Any:
    get_client().log_param(_run_id(), key, value)
    return value


def log_params(params: Mapping[str, Any]) -> None:
    items = validate_mapping("log_params: params", params).items()
    get_client().log_batch(_run_id(), params=[Param(str(k), str(v)) for k, v in items])


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    *,
    model_id: str | None = None,
    dataset: Dataset | None = None,
) -> None:
    """Log a metric to the active run.

    As in MLflow 3, the point also belongs to logged model ``model_id`` (recorded as an input
    of the run unless the run produced it), or else to every model the run logged
    (``plinth.log_model``) at the same step. ``dataset`` (a ``plinth.Dataset``, as
    ``plinth.log_input`` returns) names the data the model was measured on; the run records
    it as an input (context ``evaluation``) unless it has it already."""
    key = validate_key("Metric", key)
    log_metrics({key: value}, step=step, timestamp=timestamp, model_id=model_id, dataset=dataset)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    timestamp: int | None = None,
    *,
    model_id: str | None = None,
    dataset: Dataset | None = None,
) -> None:
    """Log several metrics to the active run at once, each linked as ``log_metric`` links."""
    metrics = validate_mapping("log_metrics: metrics", metrics)
    if dataset is not None and not isinstance(dataset, Dataset):
        raise InvalidArgumentError(
            f"dataset must be a plinth.Dataset (as log_input returns), got "
            f"{type(dataset).__name__}."
        )
    run_id = _run_id()
    step = 0 if step is None else validate_step("log_metric step", step)
    models = _metric_models(model_id, step)
    ts = now_ms() if timestamp is None else validate_timestamp("timestamp", timestamp)
    name, digest = (dataset.name, dataset.digest) if dataset is not None else (None, None)
    batch = [
        Metric(
            key=k,
            value=v,
            timestamp=ts,
            step=step,
            model_id=m,
            dataset_name=name if m else None,
            dataset_digest=digest if m else None,
        )
        for k, v in metrics.items()
        for m in models
    ]
    get_client().log_batch(run_id, metrics=batch)
    if dataset is not None:  # after the metrics: a refused metric records no input
        _use_dataset(dataset)


def _use_dataset(dataset: Dataset) -> None:
    """A metric's dataset is one of the run's inputs, as MLflow's fluent API makes it."""
    run = active_run()
    if run is not None and not run.uses_dataset(dataset):
        tags = [RunTag("mlflow.data.context", "evaluation")]
        get_client().log_inputs(run.run_id, [DatasetInput(dataset=dataset, tags=tags)])
        run.record_dataset(dataset)


def _metric_models(model_id: str | None, step: int) -> list[str | None]:
    """The logged models a fluent metric belongs to ([None]: the run's alone). One point
    per model is sent; the store keeps the run's copy once."""
    run = active_run()
    if run is None:
        return [model_id]
    if model_id is not None:
        if not run.knows_model(model_id):
            get_client().log_inputs(run.run_id, models=[LoggedModelInput(model_id=model_id)])
            run.record_model_input(model_id)
        return [model_id]
    return list(run.models_at_step(step)) or [None]


def set_tag(key: str, value: Any) -> None:
    get_client().set_tag(_run_id(), key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    items = validate_mapping("set_tags: tags", tags).items()
    get_client().log_batch(_run_id(), tags=[RunTag(str(k), str(v)) for k, v in items])


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    get_client().log_artifact(_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    get_client().log_artifacts(_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    get_client().log_text(_run_id(), text, artifact_file)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> None:
    get_client().log_dict(_run_id(), dictionary, artifact_file)


def log_config(
    config: str | Path | Mapping[str, Any], artifact_file: str | None = None
) -> dict[str, str]:
    """Log a configuration: the file (or mapping) as an artifact, flattened into params.

    Returns the flattened params. Nested keys are joined with dots (``model.depth``).
    """
    if not isinstance(config, str | Path | Mapping):
        raise InvalidArgumentError(
            f"log_config: config must be a file path or a dict, got {type(config).__name__}."
        )
    if artifact_file is not None:
        # Checked before the params are logged, so a bad call logs nothing.
        if not isinstance(artifact_file, str):
            raise InvalidArgumentError(
                f"log_config: artifact_file must be a str, got {type(artifact_file).__name__}."
            )
        artifact_file = normalize_path(artifact_file, allow_root=False)
    mapping = load_config(Path(config)) if isinstance(config, str | Path) else dict(config)
    flat = flatten_config(mapping)
    # Params first: if the store refuses them (a changed value, a bad key), the artifact
    # must not already say otherwise.
    run_id = _run_id()
    get_client().log_batch(run_id, params=[Param(k, val) for k, val in flat.items()])
    if isinstance(config, str | Path):
        get_client().log_artifact(run_id, config, "config")
    else:
        get_client().log_dict(run_id, mapping, artifact_file or "config/config.json")
    return flat


def log_input(
    data: pd.DataFrame | np.ndarray[Any, Any] | str | Path,
    *,
    name: str | None = None,
    context: str = "training",
    tags: Mapping[str, str] | None = None,
) -> Dataset:
    """Record the data version a run consumed: name, content digest, schema, rows, source."""
    # Imported here: it pulls in pandas and pyarrow, which `import plinth` should not pay for.
    from plinth.tracking.inputs import describe_dataset

    description = describe_dataset(data, name=name)
    dataset = Dataset(
        name=description.name,
        digest=description.digest,
        source_type=description.source_type,
        source=description.source,
        schema=description.schema or None,
        profile=description.profile or None,
    )
    input_tags = [RunTag("mlflow.data.context", context)]
    input_tags += [
        RunTag(str(k), str(v)) for k, v in validate_mapping("log_input: tags", tags).items()
    ]
    run_id = _run_id()
    get_client().log_inputs(run_id, [DatasetInput(dataset=dataset, tags=input_tags)])
    active = active_run()
    if active is not None and active.run_id == run_id:
        active.record_dataset(dataset)
    return dataset


def add_comment(run_id: str, text: str) -> Comment:
    return get_client().add_comment(run_id, text)


# -- reading --------------------------------------------------------------------------------
def get_run(run_id: str) -> Run:
    return get_client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    return get_client().get_metric_history(run_id, key)


def list_artifacts(run_id: str, path: str | None = None) -> list[FileInfo]:
    return get_client().list_artifacts(run_id, path)


def download_artifacts(
    run_id: str | None = None, artifact_path: str = "", dst_path: str | Path | None = None
) -> str:
    """Download a run's artifact file or directory (of the active run when ``run_id`` is
    not given); returns the local path."""
    if run_id is None:
        active = active_run()
        if active is None:
            raise InvalidArgumentError("download_artifacts needs a run_id when no run is active.")
        run_id = active.run_id
    return str(get_client().download_artifacts(run_id, artifact_path, dst_path))


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    *,
    experiment_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Runs as a DataFrame like ``mlflow.search_runs``: ``run_id``, ``experiment_id``,
    ``status``, ``artifact_uri``, ``start_time``, ``end_time``, ``metrics.*`` (latest
    value), ``params.*`` and ``tags.*`` columns."""
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0:
        raise InvalidArgumentError(f"max_results must be a non-negative int, got {max_results!r}.")
    ids = _search_experiment_ids(experiment_ids, experiment_names)
    runs = list(_iter_runs(ids, filter_string, run_view_type, max_results, order_by or ()))
    return runs_to_frame(runs)


def _search_experiment_ids(
    experiment_ids: Sequence[str] | None, experiment_names: Sequence[str] | None
) -> list[str]:
    if experiment_ids and experiment_names:
        raise InvalidArgumentError("Pass experiment_ids or experiment_names, not both.")
    if experiment_names:
        if isinstance(experiment_names, str):
            experiment_names = [experiment_names]  # one name, not a sequence of letters
        client = get_client()
        found = [client.get_experiment_by_name(n) for n in experiment_names]
        return [e.experiment_id for e in found if e is not None]
    if isinstance(experiment_ids, str | int):
        return [str(experiment_ids)]  # one id, not a sequence of one-character ids
    return list(experiment_ids or [_experiment_id(None)])


def _iter_runs(
    ids: list[str],
    filter_string: str | None,
    view: ViewType,
    max_results: int,
    order_by: Sequence[str],
) -> Iterator[Run]:
    token: str | None = None
    remaining = max_results
    while remaining > 0:
        page = get_client().search_runs(
            ids, filter_string, view, min(SEARCH_PAGE, remaining), order_by, token
        )
        yield from page.items
        remaining -= len(page.items)
        token = page.next_page_token
        if not token:
            return


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """The ``search_runs`` DataFrame for a list of runs."""
    import pandas as pd

    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "status": run.info.status.value,
            "artifact_uri": run.info.artifact_uri,
            "start_time": run.info.start_time,
            "end_time": run.info.end_time,
        }
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        rows.append(row)
    base = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    frame = pd.DataFrame(rows, columns=None if rows else base)
    for col in ("start_time", "end_time"):
        frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
    return frame
