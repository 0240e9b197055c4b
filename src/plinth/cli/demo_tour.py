"""Printing part three of ``plinth demo``: the endpoint, the canary's split per round of
traffic, the SLA table, logged predictions and the batch scoring."""

from __future__ import annotations

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from plinth.cli.endpoints import slo_table
from plinth.cli.output import make_table
from plinth.demo.serving_tour import TourReport


def print_tour(console: Console, tour: TourReport) -> None:
    console.print()
    console.print(Text("Serving", style="bold"))
    _step(console, f"Endpoint churn serves {tour.baseline} at {tour.url}")
    _step(
        console,
        f"Canary of {tour.canary} ramped by the controller under traffic, then {tour.outcome}",
    )
    _section(console, "Traffic per round (responses per model version)", _split_table(tour))
    final = ", ".join(f"{r.label} {r.model_version} {r.weight}%" for r in tour.endpoint.live_routes)
    _step(console, f"Now: {final}")
    if tour.health is not None:
        _section(console, "SLA", slo_table(tour.health))
    if tour.predictions is not None and len(tour.predictions):
        _section(console, "Last logged predictions", _predictions_table(tour))
    if tour.batch is not None:
        batch = tour.batch
        rate = batch.rows / batch.seconds if batch.seconds else 0.0
        _step(
            console,
            f"Batch: scored {batch.rows:,} customers from Parquet with "
            f"{batch.model_name}/{batch.model_version} in {batch.seconds:.2f}s "
            f"({rate:,.0f} rows/s) -> {batch.output_path}",
        )
    for command in (
        "plinth endpoints show churn",
        "plinth endpoints predictions churn",
        "plinth endpoints events churn",
    ):
        console.print(Text(f"  {command}", style="cyan"), soft_wrap=True)


def _split_table(tour: TourReport) -> Table:
    versions = sorted({v for round_ in tour.rounds for v in round_})
    table = make_table("Round", *versions)
    for number, counts in enumerate(tour.rounds):
        total = sum(counts.values()) or 1
        table.add_row(str(number), *(f"{100 * counts.get(v, 0) / total:.0f}%" for v in versions))
    return table


def _predictions_table(tour: TourReport) -> Table:
    assert tour.predictions is not None
    table = make_table("Request id", "Route", "Version", "Latency", "Output")
    for row in tour.predictions.itertuples(index=False):
        table.add_row(
            str(row.request_id)[:12],
            str(row.route),
            str(row.model_version),
            f"{row.latency_ms:.2f} ms",
            str(row.outputs)[:40],
        )
    return table


def _step(console: Console, message: str) -> None:
    console.print(Text.assemble(("  ✓ ", "green"), message), soft_wrap=True)


def _section(console: Console, title: str, body: Table) -> None:
    console.print()
    console.print(Text(title, style="bold"))
    console.print(Padding(body, (0, 0, 0, 2), expand=False))
