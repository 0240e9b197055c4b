"""``plinth runs``: list, show, compare, comment on, delete and restore runs."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import typer
from rich.table import Table
from rich.text import Text

from plinth.artifacts import FileInfo
from plinth.cli import client_of
from plinth.cli.output import (
    OUTPUT_OPTION,
    OutputFormat,
    fmt,
    format_duration,
    format_time,
    hint,
    key_value_table,
    make_table,
    print_json,
    print_table,
    stdout,
    success,
)
from plinth.client import Client
from plinth.entities import Comment, Experiment, Run, RunStatus
from plinth.entities.registry import LoggedModel
from plinth.errors import ExperimentNotFoundError, InvalidArgumentError, NotFoundError

app = typer.Typer(help="Inspect, compare and annotate runs.", no_args_is_help=True)

MAX_METRIC_COLUMNS = 4
MAX_PARAM_COLUMNS = 3
FIXED_COLUMNS_WIDTH = 95
"""Run ID, name, status, start and duration with borders, roughly."""
EXTRA_COLUMN_WIDTH = 13
WIDTH_WITH_START = 100
"""Narrower terminals get no Start column, so the run ids stay whole."""
MAX_ARTIFACTS_SHOWN = 200
MAX_MODELS_LOOKED_UP = 100
"""Linked logged models whose name and status ``runs show`` fetches (one call each)."""
SYSTEM_TAG_PREFIXES = ("mlflow.", "plinth.")
"""Tags the tracking client sets itself (source, git, host); ``--all-tags`` shows them."""
STATUS_STYLES = {
    RunStatus.FINISHED: "green",
    RunStatus.FAILED: "red",
    RunStatus.RUNNING: "yellow",
    RunStatus.KILLED: "magenta",
}
# ``metrics.auc``, ``params.`model.depth```, ``metrics."val loss"`` in a filter or order_by.
_KEY_REFERENCE = re.compile(r"\b(metrics|params)\.(?:`([^`]+)`|\"([^\"]+)\"|([\w.\-]+))")
RUN_ID_ARGUMENT = typer.Argument(..., metavar="RUN_ID", help="The run's id.")


# -- list --------------------------------------------------------------------------------
@app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: str = typer.Option(..., "--experiment", "-e", help="Experiment name or id."),
    filter_string: str | None = typer.Option(
        None,
        "--filter",
        help="MLflow search filter, e.g. \"metrics.auc > 0.8 and params.model = 'gbm'\".",
    ),
    order_by: list[str] = typer.Option(
        [], "--order-by", help='Sort key, e.g. "metrics.auc DESC"; repeatable.'
    ),
    max_results: int = typer.Option(50, "--max-results", min=1, max=50_000),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List an experiment's runs with their key metrics and params."""
    client = client_of(ctx)
    exp = resolve_experiment(client, experiment)
    page = client.search_runs(
        [exp.experiment_id], filter_string, max_results=max_results, order_by=order_by
    )
    if output is OutputFormat.JSON:
        print_json(list(page.items))
        return
    preferred = referenced_keys([filter_string or "", *order_by])
    table = runs_table(page.items, preferred, width=stdout().width)
    print_table(table, empty=f"No runs in experiment '{exp.name}'.")
    if page.next_page_token:
        hint(f"More runs match; showing the first {max_results} (raise --max-results).")


def resolve_experiment(client: Client, name_or_id: str) -> Experiment:
    """The experiment with that name or that id; refused when the two are different ones
    (an experiment named "1" beside experiment 1), so a command never acts on a guess."""
    by_name = client.get_experiment_by_name(name_or_id)
    by_id = None
    if name_or_id.isdigit():
        with contextlib.suppress(NotFoundError):
            by_id = client.get_experiment(name_or_id)
    if by_name is not None and by_id is not None and by_name.experiment_id != by_id.experiment_id:
        raise InvalidArgumentError(
            f"'{name_or_id}' is the name of experiment {by_name.experiment_id} and the id of "
            f"experiment '{by_id.name}'; rename one of them to tell them apart."
        )
    found = by_name or by_id
    if found is None:
        raise ExperimentNotFoundError(f"No experiment is named '{name_or_id}' (nor has that id).")
    return found


def referenced_keys(expressions: Iterable[str]) -> dict[str, list[str]]:
    """Metric and param keys named in filter/order-by expressions, by kind, in order."""
    keys: dict[str, list[str]] = {"metrics": [], "params": []}
    for expression in expressions:
        for match in _KEY_REFERENCE.finditer(expression):
            key = next(group for group in match.groups()[1:] if group)
            if key not in keys[match.group(1)]:
                keys[match.group(1)].append(key)
    return keys


def column_keys(
    maps: Sequence[Mapping[str, object]], preferred: list[str], limit: int
) -> list[str]:
    """The keys to show as columns: those the user named, then keys whose values differ
    between runs, then the most common; at most ``limit`` (named keys always show)."""
    counts = Counter(key for mapping in maps for key in mapping)
    varies = {key for key in counts if len({str(m.get(key)) for m in maps}) > 1}
    ranked = sorted(counts, key=lambda key: (key not in varies, -counts[key], key))
    named = [key for key in preferred if key in counts]
    rest = [key for key in ranked if key not in named]
    return named + rest[: max(0, limit - len(named))]


def column_budget(width: int) -> tuple[int, int]:
    """How many metric and param columns fit next to the fixed ones at ``width``."""
    extra = max(1, (width - FIXED_COLUMNS_WIDTH) // EXTRA_COLUMN_WIDTH)
    metrics = min(MAX_METRIC_COLUMNS, max(1, (extra + 1) // 2))
    return metrics, min(MAX_PARAM_COLUMNS, extra - metrics)


def runs_table(runs: Sequence[Run], preferred: dict[str, list[str]], *, width: int) -> Table:
    n_metrics, n_params = column_budget(width)
    metric_keys = column_keys([r.data.metrics for r in runs], preferred["metrics"], n_metrics)
    param_keys = column_keys([r.data.params for r in runs], preferred["params"], n_params)
    with_start = width >= WIDTH_WITH_START
    fixed = ["Run ID", "Name", "Status", *(["Start"] if with_start else []), "Duration"]
    table = make_table(*fixed, whole=["Run ID", "Status", "Start"])
    for key in metric_keys:
        table.add_column(key, justify="right", header_style="bold cyan", overflow="fold")
    for key in param_keys:
        table.add_column(key, header_style="bold magenta", overflow="fold")
    for run in runs:
        info = run.info
        start = [format_time(info.start_time, seconds=False)] if with_start else []
        table.add_row(
            info.run_id,
            info.run_name,
            status_text(info.status),
            *start,
            format_duration(info.start_time, info.end_time),
            *(fmt(run.data.metrics.get(key)) for key in metric_keys),
            *(fmt(run.data.params.get(key)) for key in param_keys),
        )
    return table


def status_text(status: RunStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES.get(status, ""))


# -- show ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Section:
    """One part of ``runs show``: a heading, its table and an optional note below it."""

    heading: str
    table: Table
    note: str | None = None


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: str = RUN_ID_ARGUMENT,
    all_tags: bool = typer.Option(
        False, "--all-tags", help="Also show system tags (mlflow.*, plinth.*)."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show a run: info, params, latest metrics, tags, inputs, models, comments, artifacts."""
    client = client_of(ctx)
    run = client.get_run(run_id)
    comments = client.list_comments(run_id)
    artifacts = walk_artifacts(client, run_id)
    if output is OutputFormat.JSON:
        print_json({"run": run, "comments": comments, "artifacts": artifacts})
        return
    models = linked_models(client, run)
    console = stdout()
    console.print(info_table(run))
    for section in run_sections(run, comments, artifacts, models, all_tags=all_tags):
        console.print()
        console.print(Text(section.heading, style="bold"))
        console.print(section.table if section.table.row_count else Text("  none", style="dim"))
        if section.note:
            console.print(Text(section.note, style="dim"), soft_wrap=True)


def walk_artifacts(client: Client, run_id: str) -> list[FileInfo]:
    """The run's artifact tree, breadth first, capped at ``MAX_ARTIFACTS_SHOWN`` entries."""
    found: list[FileInfo] = []
    pending: list[str | None] = [None]
    while pending and len(found) < MAX_ARTIFACTS_SHOWN:
        for info in client.list_artifacts(run_id, pending.pop(0)):
            found.append(info)
            if info.is_dir:
                pending.append(info.path)
    return sorted(found[:MAX_ARTIFACTS_SHOWN], key=lambda info: info.path)


def linked_models(client: Client, run: Run) -> dict[str, LoggedModel | None]:
    """The run's output and input logged models by id (the first ``MAX_MODELS_LOOKED_UP``),
    None for one deleted since: the run keeps its link, the registry no longer has it."""
    ids = [o.model_id for o in run.outputs.model_outputs]
    ids += [i.model_id for i in run.inputs.model_inputs]
    found: dict[str, LoggedModel | None] = {}
    for model_id in list(dict.fromkeys(ids))[:MAX_MODELS_LOOKED_UP]:
        try:
            found[model_id] = client.get_logged_model(model_id)
        except NotFoundError:
            found[model_id] = None
    return found


def run_sections(
    run: Run,
    comments: Sequence[Comment],
    artifacts: Sequence[FileInfo],
    models: Mapping[str, LoggedModel | None],
    *,
    all_tags: bool,
) -> list[Section]:
    """What ``runs show`` prints after the run's info."""
    shown_tags = {
        k: v for k, v in run.data.tags.items() if all_tags or not k.startswith(SYSTEM_TAG_PREFIXES)
    }
    hidden = len(run.data.tags) - len(shown_tags)
    inputs = run.inputs.dataset_inputs
    linked = len(run.outputs.model_outputs) + len(run.inputs.model_inputs)
    return [
        Section(f"Params ({len(run.data.params)})", _mapping_table(run.data.params)),
        Section(f"Metrics, latest ({len(run.data.metrics)})", _mapping_table(run.data.metrics)),
        Section(
            f"Tags ({len(shown_tags)})",
            _mapping_table(shown_tags),
            f"{hidden} system tags (mlflow.*, plinth.*) hidden; --all-tags shows them."
            if hidden
            else None,
        ),
        Section(f"Data inputs ({len(inputs)})", _inputs_table(run)),
        Section(f"Logged models ({linked})", _models_table(run, models)),
        Section(f"Comments ({len(comments)})", comments_table(comments)),
        Section(f"Artifacts ({len(artifacts)})", _artifacts_table(artifacts)),
    ]


def info_table(run: Run) -> Table:
    info = run.info
    return key_value_table(
        [
            ("Run ID", info.run_id),
            ("Name", info.run_name),
            ("Experiment", info.experiment_id),
            ("Status", info.status.value),
            ("User", info.user_id),
            ("Start", format_time(info.start_time)),
            ("End", format_time(info.end_time)),
            ("Duration", format_duration(info.start_time, info.end_time)),
            ("Lifecycle", info.lifecycle_stage.value),
            ("Artifact URI", info.artifact_uri),
        ],
    )


def _mapping_table(mapping: Mapping[str, object]) -> Table:
    table = make_table("Key", "Value")
    for key in sorted(mapping):
        table.add_row(key, fmt(mapping[key]))
    return table


def _inputs_table(run: Run) -> Table:
    table = make_table("Name", "Context", "Digest", "Source")
    for item in run.inputs.dataset_inputs:
        dataset = item.dataset
        table.add_row(dataset.name, item.context or "-", dataset.digest, dataset.source)
    return table


def _models_table(run: Run, models: Mapping[str, LoggedModel | None]) -> Table:
    """The logged models (``models:/m-...``) the run produced, then those it consumed, with
    each one's name and status (``deleted`` for one gone from the registry)."""
    table = make_table("Model", "Name", "Status", "Role", "Step", whole=["Model"])

    def add(model_id: str, role: str, step: str) -> None:
        model = models.get(model_id)
        if model_id not in models:  # beyond MAX_MODELS_LOOKED_UP: not fetched
            name, status = Text("?", style="dim"), Text("?", style="dim")
        elif model is None:
            name, status = Text("-", style="dim"), Text("deleted", style="red")
        else:
            name, status = Text(model.name), Text(model.status.value.removeprefix("LOGGED_MODEL_"))
        table.add_row(f"models:/{model_id}", name, status, role, step)

    for output in run.outputs.model_outputs:
        add(output.model_id, "output", str(output.step))
    for item in run.inputs.model_inputs:
        add(item.model_id, "input", "-")
    return table


def comments_table(comments: Sequence[Comment]) -> Table:
    table = make_table("When", "User", "Comment", whole=["When"])
    for comment in comments:
        table.add_row(format_time(comment.created_at), comment.user_id, comment.text)
    return table


def _artifacts_table(artifacts: Sequence[FileInfo]) -> Table:
    table = make_table("Path", "Size")
    for info in artifacts:
        size = "dir" if info.is_dir else f"{info.file_size or 0:,} B"
        table.add_row(info.path + ("/" if info.is_dir else ""), size)
    return table


# -- compare -----------------------------------------------------------------------------
@app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., metavar="RUN_ID...", help="Two or more run ids."),
    only_diff: bool = typer.Option(False, "--only-diff", help="Only rows whose values differ."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Compare runs side by side; rows whose values differ are highlighted."""
    if len(run_ids) < 2:
        raise InvalidArgumentError("runs compare needs at least two run ids.")
    client = client_of(ctx)
    runs = [client.get_run(run_id) for run_id in run_ids]
    rows = [row for row in comparison_rows(runs) if row[1] or not only_diff]
    if output is OutputFormat.JSON:
        print_json(
            {
                "runs": [run.info.run_id for run in runs],
                "rows": [{"key": k, "differs": d, "values": v} for k, d, v in rows],
            }
        )
        return
    print_table(comparison_table(runs, rows), empty="The runs do not differ.")


ComparisonRow = tuple[str, bool, list[str | None]]


def comparison_rows(runs: Sequence[Run]) -> list[ComparisonRow]:
    """``(key, differs, values per run)`` for info, every param and every latest metric."""
    rows: list[tuple[str, list[str | None]]] = [
        ("name", [r.info.run_name for r in runs]),
        ("status", [r.info.status.value for r in runs]),
        ("duration", [format_duration(r.info.start_time, r.info.end_time) for r in runs]),
    ]
    for key in sorted({k for r in runs for k in r.data.params}):
        rows.append((f"params.{key}", [r.data.params.get(key) for r in runs]))
    for key in sorted({k for r in runs for k in r.data.metrics}):
        values = [r.data.metrics.get(key) for r in runs]
        rows.append((f"metrics.{key}", [None if v is None else fmt(v) for v in values]))
    return [(key, len(set(values)) > 1, values) for key, values in rows]


def comparison_table(runs: Sequence[Run], rows: Sequence[ComparisonRow]) -> Table:
    table = make_table("", "Key")
    for run in runs:
        table.add_column(f"{run.info.run_name}\n{run.info.run_id[:12]}")
    for key, differs, values in rows:
        table.add_row(
            "≠" if differs else "",
            key,
            *(fmt(value) for value in values),
            style="bold yellow" if differs else None,
        )
    return table


# -- comments and lifecycle --------------------------------------------------------------
@app.command("comment")
def add_comment(
    ctx: typer.Context,
    run_id: str = RUN_ID_ARGUMENT,
    text: str = typer.Argument(..., help="The comment."),
) -> None:
    """Comment on a run."""
    comment = client_of(ctx).add_comment(run_id, text)
    success(f"Commented on run {run_id} as {comment.user_id}.")


@app.command("comments")
def list_comments(
    ctx: typer.Context, run_id: str = RUN_ID_ARGUMENT, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """List a run's comments, oldest first."""
    comments = client_of(ctx).list_comments(run_id)
    if output is OutputFormat.JSON:
        print_json(comments)
        return
    print_table(comments_table(comments), empty=f"No comments on run {run_id}.")


@app.command("delete")
def delete_run(ctx: typer.Context, run_id: str = RUN_ID_ARGUMENT) -> None:
    """Soft-delete a run (undo with 'restore')."""
    client_of(ctx).delete_run(run_id)
    success(f"Deleted run {run_id}; 'plinth runs restore {run_id}' undoes it.")


@app.command("restore")
def restore_run(ctx: typer.Context, run_id: str = RUN_ID_ARGUMENT) -> None:
    """Restore a deleted run."""
    client_of(ctx).restore_run(run_id)
    success(f"Restored run {run_id}.")
