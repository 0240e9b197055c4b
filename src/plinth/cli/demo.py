"""``plinth demo``: train the churn demo grid, show what got tracked and where, then take
the best model through the governed registry and score with it.

A thin shell over :mod:`plinth.demo.churn` and :mod:`plinth.demo.lifecycle`: it points the
fluent API at the resolved settings, draws the progress bar and prints the reports.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from types import TracebackType

import typer
from rich import box
from rich.console import Console, Group
from rich.padding import Padding
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
from plinth.cli.demo_tour import print_tour
from plinth.cli.models import checks_table, history_table
from plinth.cli.output import fmt, make_table, stdout
from plinth.config import Settings
from plinth.demo.churn import (
    DemoReport,
    GridPoint,
    GridProgress,
    RunResult,
    default_grid,
    make_dataset,
    run_demo,
)
from plinth.demo.lifecycle import (
    PRODUCTION_URI,
    LifecycleReport,
    approver_client,
    run_lifecycle,
)
from plinth.demo.serving_tour import run_tour
from plinth.entities.registry import PromotionStatus
from plinth.lineage.render import render_lineage
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
    approver_token: str | None = typer.Option(
        None,
        "--approver-token",
        envvar="PLINTH_APPROVER_TOKEN",
        show_default=False,
        help="Against a server: a second user's token (role approver) to approve the "
        "promotion; without it the request waits for a person.",
    ),
) -> None:
    """Train a small model grid on synthetic churn data, tracking every run; register the
    best model, promote it to Production through an approved request, and score with it;
    serve it on an endpoint, canary the runner-up under traffic, and score a file in batch."""
    settings = demo_settings(state_of(ctx).settings, runs_dir)
    set_tracking_uri(settings=settings)
    points = default_grid(quick=quick)
    console = stdout()
    console.print(f"Training {len(points)} models on {customers:,} synthetic customers ...")
    with GridProgressBar(console, total=len(points)) as progress:
        result = run_demo(n_customers=customers, grid=points, progress=progress)
    env_prefix = "" if runs_dir is None else f"PLINTH_HOME={shlex.quote(str(settings.home))} "
    print_report(console, result)
    sample = make_dataset(customers).validation
    approver = approver_client(settings, approver_token)
    lifecycle = run_lifecycle(result, sample, approver=approver)
    print_lifecycle(console, lifecycle, env_prefix=env_prefix)
    if lifecycle.production is not None and approver is not None and len(result.ranked) > 1:
        console.print("\nServing the Production model and running a canary ...")
        tour = run_tour(
            result,
            lifecycle.production,
            sample,
            approver=approver,
            workdir=settings.home / "demo-batch",
        )
        print_tour(console, tour)
    print_next(console, result, lifecycle, env_prefix=env_prefix)


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


def print_report(console: Console, report: DemoReport) -> None:
    """The ranking and where the runs, the metadata and the artifacts are."""
    console.print()
    console.print(ranking_table(report))
    console.print()
    console.print(Text("Where everything is", style="bold"))
    for label, value in location_lines(report):
        # soft_wrap: long paths stay on one line, so they can be copied whole.
        console.print(Text.assemble(f"  {label:<12} ", (value, "cyan")), soft_wrap=True)


def print_next(
    console: Console, report: DemoReport, lifecycle: LifecycleReport, *, env_prefix: str = ""
) -> None:
    """Commands to look further, ready to copy."""
    console.print()
    console.print(Text("Next:", style="bold"))
    ranked = f'--experiment {report.experiment_name} --order-by "metrics.val_auc DESC"'
    version = lifecycle.version
    for command in (
        f"plinth runs show {report.best.run_id}",
        f"plinth runs list {ranked}",
        f"plinth models show {version.name} {version.version}",
        f"plinth models history {version.name}",
    ):
        console.print(Text(f"  {env_prefix}{command}", style="cyan"), soft_wrap=True)
    for command in _server_hint(report, env_prefix):
        console.print(Text(f"  {command}", style="cyan"), soft_wrap=True)


# -- the registry part -------------------------------------------------------------------
def print_lifecycle(console: Console, report: LifecycleReport, *, env_prefix: str = "") -> None:
    """Registration, the promotion request and its decision; then, once decided, the
    history, the lineage and the scored customers."""
    version, request = report.version, report.request
    console.print()
    console.print(Text("Model registry", style="bold"))
    _step(console, f"Registered {version.name} version {version.version} from run {version.run_id}")
    _step(console, f"Requested promotion to Production (request {request.request_id}), gates:")
    console.print(Padding(checks_table(request.checks), (0, 0, 0, 4), expand=False))
    if report.is_pending:
        _print_pending(console, report, env_prefix)
        return
    _print_decision(console, report)
    _section(console, f"History of {version.name}", history_table(report.history))
    if report.lineage is not None:
        _section(console, f"Lineage of {report.model_uri}", render_lineage(report.lineage))
    if report.scored is not None and report.production is not None:
        title = f"Scored with {PRODUCTION_URI} (version {report.production.version})"
        _section(console, title, _scored_table(report))


def _step(console: Console, message: str, *, ok: bool = True) -> None:
    mark = ("  ✓ ", "green") if ok else ("  ✗ ", "red")
    console.print(Text.assemble(mark, message), soft_wrap=True)


def _section(console: Console, title: str, body: Table | Group) -> None:
    console.print()
    console.print(Text(title, style="bold"))
    console.print(Padding(body, (0, 0, 0, 2), expand=False))


def _print_pending(console: Console, report: LifecycleReport, env_prefix: str) -> None:
    request_id = report.request.request_id
    console.print(
        Text(
            "  … Waiting for approval: on a server the requester may not approve their own "
            "request (four eyes). A user with the approver role (plinth users create NAME "
            "--role approver) runs:",
            style="yellow",
        ),
        soft_wrap=True,
    )
    command = f"PLINTH_TOKEN=<approver token> plinth models approve {request_id} --comment 'ok'"
    console.print(Text(f"    {env_prefix}{command}", style="cyan"), soft_wrap=True)
    console.print(
        Text(
            "  (or run the demo with PLINTH_APPROVER_TOKEN=<approver token> to approve as "
            "that user; then it loads models:/churn/Production and scores with it)",
            style="dim",
        ),
        soft_wrap=True,
    )


def _print_decision(console: Console, report: LifecycleReport) -> None:
    request, version = report.request, report.version
    who = request.decided_by or "-"
    if request.status is PromotionStatus.APPROVED:
        local = (
            " (embedded mode: the single user 'local' may approve their own request; with "
            "auth on, a second user with the approver role must)"
            if report.approver_is_local
            else ""
        )
        _step(console, f"Approved by {who}{local}: version {version.version} is in Production")
        return
    _step(console, f"Rejected by {who}: {request.decision_comment or ''}", ok=False)
    stays = report.production
    where = f"Production stays version {stays.version}." if stays else "Nothing is in Production."
    console.print(
        Text(
            f"    {where} The gates keep a version that does not improve on it out of Production.",
            style="dim",
        ),
        soft_wrap=True,
    )


def _scored_table(report: LifecycleReport) -> Table:
    assert report.scored is not None
    frame = report.scored
    table = make_table(*(str(c) for c in frame.columns))
    for row in frame.itertuples(index=False):
        table.add_row(*(fmt(value) for value in row))
    return table


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
