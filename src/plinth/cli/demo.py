"""``plinth demo``: train the churn demo grid and show what got tracked, and where.

A thin shell over :mod:`plinth.demo.churn`: it points the fluent API at the resolved
settings, draws the progress bar and prints the report.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from types import TracebackType

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from plinth.cli import state_of
from plinth.cli.output import stdout
from plinth.config import Settings
from plinth.demo.churn import (
    DemoReport,
    GridPoint,
    GridProgress,
    RunResult,
    default_grid,
    run_demo,
)
from plinth.tracking.fluent import set_tracking_uri


def demo(
    ctx: typer.Context,
    runs_dir: Path | None = typer.Option(
        None,
        "--runs-dir",
        help="Keep the demo's store (plinth.db and artifacts) in this directory instead of "
        "the one PLINTH_HOME / PLINTH_URI name.",
    ),
    customers: int = typer.Option(5000, "--customers", min=200, help="Synthetic customers."),
    quick: bool = typer.Option(False, "--quick", help="Three small models instead of eight."),
) -> None:
    """Train a small model grid on synthetic churn data, tracking every run."""
    settings = demo_settings(state_of(ctx).settings, runs_dir)
    set_tracking_uri(settings=settings)
    points = default_grid(quick=quick)
    console = stdout()
    console.print(f"Training {len(points)} models on {customers:,} synthetic customers ...")
    with GridProgressBar(console, total=len(points)) as progress:
        result = run_demo(n_customers=customers, grid=points, progress=progress)
    env_prefix = "" if runs_dir is None else f"PLINTH_HOME={shlex.quote(str(settings.home))} "
    print_report(console, result, env_prefix=env_prefix)


def demo_settings(settings: Settings, runs_dir: Path | None) -> Settings:
    """The resolved settings, or an embedded store in ``runs_dir`` (the flag wins)."""
    if runs_dir is None:
        return settings
    home = runs_dir.expanduser().resolve()
    return settings.model_copy(update={"home": home, "uri": None, "artifacts": None})


class GridProgressBar(GridProgress):
    """A progress bar over the grid (only on a terminal, and gone when done) plus one
    line per finished run, which stays."""

    def __init__(self, console: Console, *, total: int) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._progress.add_task("Training", total=total)

    def __enter__(self) -> GridProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def started(self, point: GridPoint) -> None:
        self._progress.update(self._task, description=f"Training {point.name}")

    def finished(self, result: RunResult) -> None:
        self._progress.console.print(
            Text.assemble(
                ("  ✓ ", "green"),
                f"{result.name:<22} val_auc {result.val_auc:.4f}  ({result.seconds:.1f}s)",
            )
        )
        self._progress.advance(self._task)


def print_report(console: Console, report: DemoReport, *, env_prefix: str = "") -> None:
    console.print()
    console.print(ranking_table(report))
    console.print()
    console.print(Text("Where everything is", style="bold"))
    for label, value in location_lines(report):
        # soft_wrap: long paths stay on one line, so they can be copied whole.
        console.print(Text.assemble(f"  {label:<12} ", (value, "cyan")), soft_wrap=True)
    console.print()
    best = report.best.run_id
    console.print(Text("Next:", style="bold"))
    ranked = f'--experiment {report.experiment_name} --order-by "metrics.val_auc DESC"'
    for command in (
        f"{env_prefix}plinth runs show {best}",
        f"{env_prefix}plinth runs list {ranked}",
        *_server_hint(report, env_prefix),
    ):
        console.print(Text(f"  {command}", style="cyan"), soft_wrap=True)


def ranking_table(report: DemoReport) -> Table:
    title = (
        f"Runs ranked by validation AUC ({len(report.ranked)} runs, {report.n_customers:,} "
        f"customers, churn rate {report.churn_rate:.0%}, {report.seconds:.1f}s)"
    )
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("#", justify="right")
    table.add_column("Run ID", no_wrap=True)
    table.add_column("Name", overflow="fold")
    for column in ("AUC", "Accuracy", "Log-loss"):
        table.add_column(column, justify="right", no_wrap=True)
    for rank, run in enumerate(report.ranked, start=1):
        table.add_row(
            str(rank),
            run.run_id,
            run.name,
            f"{run.val_auc:.4f}",
            f"{run.val_accuracy:.4f}",
            f"{run.val_log_loss:.4f}",
            style="bold green" if rank == 1 else None,
        )
    return table


def location_lines(report: DemoReport) -> list[tuple[str, str]]:
    rows = [
        ("Experiment", f"{report.experiment_name} (id {report.experiment_id})"),
        ("Metadata", report.store_uri),
        ("Artifacts", report.artifact_root if report.best_model_location else "on the server"),
        ("Best model", report.best_model_uri),
    ]
    if report.best_model_location:
        rows.append(("  stored in", report.best_model_location))
    return rows


def _server_hint(report: DemoReport, env_prefix: str) -> list[str]:
    if report.best_model_location is None:
        return [f"open {report.store_uri.rstrip('/')}/docs"]
    return [f"{env_prefix}plinth server   # then open http://127.0.0.1:5000/docs"]
