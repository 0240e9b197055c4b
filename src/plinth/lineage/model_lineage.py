"""The lineage of a model version or a run, read from the registry and the tracking store.

A registered version points at its source run; the run carries its code version as tags
(``mlflow.source.git.*``, ``plinth.git.dirty``), its params and metrics, the data versions
it logged with ``plinth.log_input`` and, when nested, its parent (``mlflow.parentRunId``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from plinth.client import Client
from plinth.entities import Comment, Run, RunStatus
from plinth.entities.registry import ModelVersion
from plinth.errors import InvalidArgumentError
from plinth.registry.uris import (
    is_models_uri,
    is_runs_uri,
    parse_runs_uri,
    resolve_model_version,
)
from plinth.tracking.fluent import PARENT_RUN_TAG, get_client

GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_BRANCH_TAG = "mlflow.source.git.branch"
GIT_REMOTE_TAG = "mlflow.source.git.repoURL"
GIT_DIRTY_TAG = "plinth.git.dirty"
ENTRY_POINT_TAG = "mlflow.source.name"
MAX_PARENTS = 20
"""How far up a nested-run chain lineage follows (a guard against a tag loop)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """A run in a lineage: who ran what, when, how it ended and in which experiment."""

    run_id: str
    run_name: str
    status: RunStatus
    experiment_id: str
    experiment_name: str
    user_id: str
    start_time: int
    end_time: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeVersion:
    """The code a run executed, as the tracking client recorded it at start."""

    git_commit: str | None = None
    git_dirty: bool | None = None
    """``None`` when unknown (not a git checkout, or logged by a client that does not say)."""
    git_branch: str | None = None
    git_remote: str | None = None
    entry_point: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataInput:
    """A data version the run consumed (``plinth.log_input`` / ``mlflow.log_input``)."""

    name: str
    digest: str
    source: str
    source_type: str
    context: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """Where a model version (or a run) came from.

    ``model_version`` is ``None`` for a ``runs:/`` lineage; ``run`` is ``None`` for a version
    registered from a plain path, without a source run (then the run fields are empty).
    """

    uri: str
    model_version: ModelVersion | None = None
    run: RunSummary | None = None
    code: CodeVersion = field(default_factory=CodeVersion)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: list[DataInput] = field(default_factory=list)
    parents: list[RunSummary] = field(default_factory=list)
    """The parent run first, then its parent, up to the root."""
    comments: list[Comment] = field(default_factory=list)
    """Comments on the source run, oldest first."""


def lineage(uri: str, *, client: Client | None = None) -> Lineage:
    """The lineage of ``models:/NAME/VERSION`` (also ``@ALIAS``, ``/STAGE``, ``/latest``)
    or of ``runs:/RUN_ID``.

    Args:
        uri: The model version or run.
        client: The client to read with; the fluent API's (``plinth.get_client()``) if omitted.

    Raises:
        InvalidArgumentError: not a ``models:/`` or ``runs:/`` URI.
        NotFoundError: the model, version, alias or run does not exist.
    """
    client = client or get_client()
    if is_models_uri(uri):
        version = resolve_model_version(client, uri)
        if version.run_id is None:
            return Lineage(uri=uri, model_version=version)
        return _run_lineage(client, uri, version.run_id, version)
    if is_runs_uri(uri):
        return _run_lineage(client, uri, parse_runs_uri(uri).run_id, None)
    raise InvalidArgumentError(
        f"lineage needs a models:/NAME/VERSION (or @ALIAS, /STAGE) or runs:/RUN_ID URI, "
        f"not {uri!r}."
    )


def _run_lineage(client: Client, uri: str, run_id: str, version: ModelVersion | None) -> Lineage:
    run = client.get_run(run_id)
    return Lineage(
        uri=uri,
        model_version=version,
        run=_summary(client, run),
        code=code_version(run.data.tags),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        inputs=[
            DataInput(
                name=item.dataset.name,
                digest=item.dataset.digest,
                source=item.dataset.source,
                source_type=item.dataset.source_type,
                context=item.context,
            )
            for item in run.inputs.dataset_inputs
        ],
        parents=_parents(client, run),
        comments=client.list_comments(run_id),
    )


def code_version(tags: dict[str, str]) -> CodeVersion:
    """The code version recorded in a run's tags."""
    dirty = tags.get(GIT_DIRTY_TAG)
    return CodeVersion(
        git_commit=tags.get(GIT_COMMIT_TAG),
        git_dirty=None if dirty is None else dirty.strip().lower() == "true",
        git_branch=tags.get(GIT_BRANCH_TAG),
        git_remote=tags.get(GIT_REMOTE_TAG),
        entry_point=tags.get(ENTRY_POINT_TAG),
    )


def _parents(client: Client, run: Run) -> list[RunSummary]:
    chain: list[RunSummary] = []
    seen = {run.info.run_id}
    parent_id = run.data.tags.get(PARENT_RUN_TAG)
    while parent_id and parent_id not in seen and len(chain) < MAX_PARENTS:
        seen.add(parent_id)
        parent = client.get_run(parent_id)
        chain.append(_summary(client, parent))
        parent_id = parent.data.tags.get(PARENT_RUN_TAG)
    return chain


def _summary(client: Client, run: Run) -> RunSummary:
    info = run.info
    return RunSummary(
        run_id=info.run_id,
        run_name=info.run_name,
        status=info.status,
        experiment_id=info.experiment_id,
        experiment_name=client.get_experiment(info.experiment_id).name,
        user_id=info.user_id,
        start_time=info.start_time,
        end_time=info.end_time,
    )
