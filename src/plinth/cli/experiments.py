"""``plinth experiments``: list, create, delete and restore experiments."""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table

from plinth.cli import client_of
from plinth.cli.output import (
    OUTPUT_OPTION,
    OutputFormat,
    format_time,
    make_table,
    print_json,
    print_table,
    success,
)
from plinth.cli.runs import resolve_experiment
from plinth.entities import Experiment, ViewType

app = typer.Typer(help="Create, list, delete and restore experiments.", no_args_is_help=True)


@app.command("list")
def list_experiments(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", help="Include deleted experiments."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List experiments, newest first."""
    view = ViewType.ALL if show_all else ViewType.ACTIVE_ONLY
    page = client_of(ctx).search_experiments(view_type=view, order_by=["creation_time DESC"])
    if output is OutputFormat.JSON:
        print_json(list(page.items))
        return
    print_table(_experiments_table(page.items, show_stage=show_all), empty="No experiments.")


def _experiments_table(experiments: Sequence[Experiment], *, show_stage: bool) -> Table:
    columns = ["ID", "Name", "Created", "Last update", "Artifact location"]
    table = make_table(*columns, *(["Stage"] if show_stage else []), whole=["ID", "Name"])
    for exp in experiments:
        cells = [
            exp.experiment_id,
            exp.name,
            format_time(exp.creation_time, seconds=False),
            format_time(exp.last_update_time, seconds=False),
            exp.artifact_location,
        ]
        table.add_row(*cells, *([exp.lifecycle_stage.value] if show_stage else []))
    return table


@app.command("create")
def create_experiment(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The experiment's name (unique)."),
) -> None:
    """Create an experiment and print its id."""
    experiment_id = client_of(ctx).create_experiment(name)
    success(f"Created experiment '{name}' with id {experiment_id}.")


_EXPERIMENT_ARGUMENT: str = typer.Argument(
    ..., metavar="EXPERIMENT", help="The experiment's name or id."
)


@app.command("delete")
def delete_experiment(ctx: typer.Context, experiment: str = _EXPERIMENT_ARGUMENT) -> None:
    """Soft-delete an experiment and its runs (undo with 'restore')."""
    client = client_of(ctx)
    found = resolve_experiment(client, experiment)
    client.delete_experiment(found.experiment_id)
    success(
        f"Deleted experiment '{found.name}' ({found.experiment_id}); "
        "'plinth experiments restore' undoes it."
    )


@app.command("restore")
def restore_experiment(ctx: typer.Context, experiment: str = _EXPERIMENT_ARGUMENT) -> None:
    """Restore a deleted experiment."""
    client = client_of(ctx)
    found = resolve_experiment(client, experiment)
    client.restore_experiment(found.experiment_id)
    success(f"Restored experiment '{found.name}' ({found.experiment_id}).")
