"""``plinth endpoints``: serving endpoints, their traffic (canary, A-B, shadow, manual
splits), SLOs, history, prediction log and A-B reports. Shells over ``plinth.serving``.

Only approved versions take traffic: a refused route exits 5 with the registry's
explanation of how to get the version approved.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table
from rich.text import Text

from plinth import serving
from plinth.cli import client_of
from plinth.cli.output import (
    OUTPUT_OPTION,
    OutputFormat,
    format_time,
    hint,
    key_value_table,
    make_table,
    print_json,
    print_table,
    stdout,
    success,
)
from plinth.entities.guardrails import SloStatus
from plinth.entities.serving import Endpoint, EndpointEvent, Slo
from plinth.errors import InvalidArgumentError
from plinth.serving.ab_stats import AbReport
from plinth.serving.controller import EndpointHealth
from plinth.serving.deployments import parse_duration

app = typer.Typer(
    help="Serving endpoints: routes, canaries, A-B tests, shadows, SLOs, predictions.",
    no_args_is_help=True,
)

NAME = typer.Argument(..., metavar="NAME", help="The endpoint's name.")
REASON = typer.Option(None, "--reason", "-m", help="Why; kept in the history and audit log.")
MODEL_HELP = "NAME/VERSION, NAME@ALIAS or a models:/ URI (e.g. churn/7, churn@production)."


def _slo(
    p99_ms: float | None, error_rate: float | None, availability: float | None, window: str
) -> Slo:
    return Slo(
        p99_ms=p99_ms,
        error_rate=error_rate,
        availability=availability,
        window_s=int(parse_duration(window)),
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = NAME,
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    description: str | None = typer.Option(None, "--description"),
    slo_p99_ms: float | None = typer.Option(None, "--slo-p99-ms", help="p99 latency objective."),
    slo_error_rate: float | None = typer.Option(None, "--slo-error-rate", help="e.g. 0.01"),
    slo_availability: float | None = typer.Option(None, "--slo-availability", help="e.g. 0.999"),
    slo_window: str = typer.Option("1h", "--slo-window", help="Rolling window of the SLOs."),
    reason: str | None = REASON,
) -> None:
    """Create an endpoint sending all traffic to an approved (Production) model version."""
    slo = _slo(slo_p99_ms, slo_error_rate, slo_availability, slo_window)
    endpoint = serving.create_endpoint(
        name, model, description=description, slo=slo, reason=reason, client=client_of(ctx)
    )
    success(f"Endpoint {endpoint.name} serves {_routes_text(endpoint)}.")
    hint(f"Score it: POST /v2/models/{name}/infer or /endpoints/{name}/invocations.")


@app.command("list")
def list_endpoints(ctx: typer.Context, output: OutputFormat = OUTPUT_OPTION) -> None:
    """List endpoints with their routes and state."""
    endpoints = serving.list_endpoints(client=client_of(ctx))
    if output is OutputFormat.JSON:
        print_json(endpoints)
        return
    table = make_table("Name", "State", "Routes", "Shadows", "Revision", "Updated")
    for e in endpoints:
        shadows = ", ".join(r.model_version for r in e.shadows) or "-"
        table.add_row(
            e.name,
            e.state.value,
            _routes_text(e),
            shadows,
            str(e.revision),
            format_time(e.last_updated_timestamp),
        )
    print_table(table, empty="No endpoints yet (plinth endpoints create NAME --model ...).")


@app.command("show")
def show(ctx: typer.Context, name: str = NAME, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Routes, weights, state, canary progress and SLO status (current vs objective)."""
    client = client_of(ctx)
    endpoint = serving.get_endpoint(name, client=client)
    health = serving.health(name, client=client)
    if output is OutputFormat.JSON:
        print_json({"endpoint": endpoint, "health": health})
        return
    console = stdout()
    console.print(_summary(endpoint))
    console.print(_routes_table(endpoint, client))
    console.print(slo_table(health))
    events = serving.endpoint_events(name, client=client)[-8:]
    if events:
        console.print(_events_table(events, title="Recent history"))


def _summary(endpoint: Endpoint) -> Table:
    rows: list[tuple[str, object]] = [
        ("Endpoint", endpoint.name),
        ("State", endpoint.state.value),
        ("Revision", endpoint.revision),
        ("Created", f"{format_time(endpoint.creation_timestamp)} by {endpoint.created_by}"),
        ("Updated", format_time(endpoint.last_updated_timestamp)),
    ]
    if endpoint.description:
        rows.append(("Description", endpoint.description))
    if endpoint.sticky_key:
        rows.append(("Sticky key", endpoint.sticky_key))
    if endpoint.canary is not None:
        plan = endpoint.canary
        steps = " -> ".join(
            f"[{s}%]" if i == plan.step_index else f"{s}%" for i, s in enumerate(plan.steps)
        )
        guard = f"error rate <= {plan.max_error_rate}, p99 <= {plan.max_p99_ms} ms"
        rows.append(("Canary", f"{plan.route.model_version} {steps}"))
        rows.append(
            (
                "Guardrails",
                f"{guard}, >= {plan.min_requests} requests and {plan.interval_s:g}s per step",
            )
        )
        rows.append(("Step started", format_time(plan.step_started_at)))
    return key_value_table(rows)


def _routes_table(endpoint: Endpoint, client: object) -> Table:
    table = make_table("Route", "Model version", "Weight", title="Routes")
    for route in endpoint.routes:
        weight = f"{route.weight}%" if route.is_live else "copy of every request"
        table.add_row(route.label, route.model_version, weight)
    return table


def slo_table(health: EndpointHealth) -> Table:
    table = make_table(
        "Objective",
        "Target",
        "Current",
        "Status",
        "Budget burn",
        title=f"SLOs (last {health.window_s // 60} min, {health.stats.judged} requests)",
    )
    for status in health.slo:
        table.add_row(
            status.objective,
            _fmt_value(status, status.target),
            _fmt_value(status, status.current),
            _ok(status),
            "-" if status.budget_burn is None else f"{status.budget_burn:.2f}x",
        )
    if not health.slo:
        table.add_row("(none set)", "-", "-", "-", "-")
    return table


def _fmt_value(status: SloStatus, value: float | None) -> str:
    if value is None:
        return "-"
    if status.objective == "p99_ms":
        return f"{value:.1f} ms"
    return f"{value:.4%}" if status.objective == "availability" else f"{value:.4f}"


def _ok(status: SloStatus) -> Text:
    if status.ok is None:
        return Text("no traffic", style="dim")
    return Text("ok", style="green") if status.ok else Text("BREACHED", style="bold red")


def _events_table(events: Sequence[EndpointEvent], *, title: str | None = None) -> Table:
    table = make_table("When", "Event", "User", "Comment", title=title, whole=["When"])
    for event in events:
        table.add_row(
            format_time(event.timestamp), event.event_type, event.user_name, event.comment or ""
        )
    return table


def _routes_text(endpoint: Endpoint) -> str:
    return ", ".join(f"{r.label} {r.model_version} {r.weight}%" for r in endpoint.live_routes)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: str = NAME,
    reason: str | None = REASON,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete an endpoint (its history, feedback and prediction log are kept)."""
    if not yes:
        typer.confirm(f"Delete endpoint {name}? Requests to it will get 404", abort=True)
    serving.delete_endpoint(name, reason=reason, client=client_of(ctx))
    success(f"Deleted endpoint {name}.")


@app.command("traffic")
def traffic(
    ctx: typer.Context,
    name: str = NAME,
    split: list[str] = typer.Argument(..., metavar="MODEL=PERCENT...", help="e.g. churn/6=90"),
    reason: str | None = REASON,
) -> None:
    """Set a manual split, e.g. `plinth endpoints traffic churn churn/6=90 churn/7=10`."""
    endpoint = serving.set_traffic(name, split, reason=reason, client=client_of(ctx))
    success(f"{name}: {_routes_text(endpoint)}.")


@app.command("canary")
def canary(
    ctx: typer.Context,
    name: str = NAME,
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    steps: str = typer.Option("5,25,100", "--steps", help="Traffic percentages, ending at 100."),
    interval: str = typer.Option("30m", "--interval", help="Least time per step (30m, 2h)."),
    max_error_rate: float | None = typer.Option(None, "--max-error-rate", help="e.g. 0.01"),
    max_p99_ms: float | None = typer.Option(None, "--max-p99-ms", help="e.g. 100"),
    min_requests: int = typer.Option(500, "--min-requests", min=0, help="Per step."),
    reason: str | None = REASON,
) -> None:
    """Start a canary; the controller ramps it step by step or rolls it back."""
    try:
        percents = [int(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise InvalidArgumentError(
            f"--steps must be integers like 5,25,100, got {steps!r}."
        ) from None
    endpoint = serving.start_canary(
        name,
        model,
        steps=percents,
        interval=interval,
        max_error_rate=max_error_rate,
        max_p99_ms=max_p99_ms,
        min_requests=min_requests,
        reason=reason,
        client=client_of(ctx),
    )
    success(f"Canary started on {name}: {_routes_text(endpoint)}.")
    hint(f"Watch it with `plinth endpoints show {name}`; act now with promote or rollback.")


@app.command("advance")
def advance(ctx: typer.Context, name: str = NAME) -> None:
    """Judge the running canary now (serving processes also do it every few seconds)."""
    decision = serving.advance_canary(name, client=client_of(ctx))
    success(f"{decision.action.value}: {decision.reason}.")


@app.command("promote")
def promote(ctx: typer.Context, name: str = NAME, reason: str | None = REASON) -> None:
    """Complete the running canary now: promote it to Production, route it all traffic."""
    endpoint = serving.promote(name, reason=reason, client=client_of(ctx))
    success(f"{name}: {_routes_text(endpoint)}.")


@app.command("rollback")
def rollback(ctx: typer.Context, name: str = NAME, reason: str | None = REASON) -> None:
    """Abort the running canary, or undo the last change of routes."""
    endpoint = serving.rollback(name, reason=reason, client=client_of(ctx))
    success(f"{name}: {_routes_text(endpoint)}.")


@app.command("ab")
def ab(
    ctx: typer.Context,
    name: str = NAME,
    variant: list[str] = typer.Option(..., "--variant", help="VARIANT=MODEL:PERCENT, repeat."),
    sticky_key: str | None = typer.Option(
        None, "--sticky-key", help="Request field hashed to pick the variant (customer_id)."
    ),
    reason: str | None = REASON,
) -> None:
    """Start an A-B test, e.g. --variant a=churn/6:50 --variant b=churn/7:50."""
    endpoint = serving.start_ab(
        name, variant, sticky_key=sticky_key, reason=reason, client=client_of(ctx)
    )
    success(f"A-B test on {name}: {_routes_text(endpoint)}.")


@app.command("ab-report")
def ab_report(
    ctx: typer.Context,
    name: str = NAME,
    outcome: str = typer.Option("label", "--outcome", help="'label' or an outcome's name."),
    since: str | None = typer.Option(None, "--since", help="30m, 2d or an ISO time."),
    baseline: str | None = typer.Option(None, "--baseline", help="Variant compared against."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Compare an outcome between variants: count, mean, lift, 95% CI, p-value."""
    report = serving.ab_report(
        name, outcome=outcome, since=since, baseline=baseline, client=client_of(ctx)
    )
    if output is OutputFormat.JSON:
        print_json(report)
        return
    stdout().print(_report_table(report))


def _report_table(report: AbReport) -> Table:
    table = make_table(
        "Variant",
        "Count",
        "Mean",
        "Lift",
        "95% CI (diff)",
        "p-value",
        "Test",
        title=f"Outcome {report.outcome!r} (baseline {report.baseline})",
    )
    comparisons = {c.variant: c for c in report.comparisons}
    for summary in report.variants:
        c = comparisons.get(summary.variant)
        lift = "-" if c is None or c.lift is None else f"{c.lift:+.2%}"
        ci = "-" if c is None else f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}]"
        p = "-" if c is None or c.p_value is None else f"{c.p_value:.4g}"
        table.add_row(
            summary.variant,
            str(summary.count),
            f"{summary.mean:.4f}",
            lift,
            ci,
            Text(p, style="bold green" if c and c.significant else ""),
            "baseline" if c is None else c.test,
        )
    return table


@app.command("shadow")
def shadow(
    ctx: typer.Context,
    name: str = NAME,
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    remove: bool = typer.Option(False, "--remove", help="Stop shadowing this version."),
    reason: str | None = REASON,
) -> None:
    """Score every request also with MODEL (any registered version), off the response path."""
    client = client_of(ctx)
    if remove:
        serving.remove_shadow(name, model, reason=reason, client=client)
        success(f"{name}: shadow {model} removed.")
        return
    endpoint = serving.set_shadow(name, model, reason=reason, client=client)
    shadows = ", ".join(r.model_version for r in endpoint.shadows)
    success(f"{name}: shadows {shadows}; compare with `plinth endpoints predictions {name}`.")


@app.command("slo")
def slo(
    ctx: typer.Context,
    name: str = NAME,
    p99_ms: float | None = typer.Option(None, "--p99-ms"),
    error_rate: float | None = typer.Option(None, "--error-rate"),
    availability: float | None = typer.Option(None, "--availability"),
    window: str = typer.Option("1h", "--window"),
) -> None:
    """Set the endpoint's SLOs (objectives left out are removed)."""
    serving.set_slo(
        name,
        p99_ms=p99_ms,
        error_rate=error_rate,
        availability=availability,
        window=window,
        client=client_of(ctx),
    )
    success(f"SLOs of {name} set; see `plinth endpoints show {name}`.")


@app.command("predictions")
def predictions(
    ctx: typer.Context,
    name: str = NAME,
    since: str = typer.Option("1h", "--since", help="30m, 1h, 2d or an ISO time."),
    until: str | None = typer.Option(None, "--until"),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest rows shown."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show logged predictions (inputs, outputs, route, latency, status)."""
    frame = serving.predictions(name, since=since, until=until, client=client_of(ctx))
    frame = frame.tail(limit)
    if output is OutputFormat.JSON:
        print_json(frame.to_dict(orient="records"))
        return
    table = make_table(
        "Time",
        "Request id",
        "Route",
        "Version",
        "Status",
        "Latency",
        "Inputs",
        "Outputs",
        whole=["Time"],
    )
    for row in frame.itertuples(index=False):
        table.add_row(
            str(row.timestamp)[:23],
            str(row.request_id),
            str(row.route),
            str(row.model_version),
            str(row.status),
            f"{row.latency_ms:.2f} ms",
            _clip(row.inputs),
            _clip(row.outputs),
        )
    print_table(table, empty=f"No predictions logged for {name} in that window.")


def _clip(text: object, width: int = 60) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


@app.command("events")
def events(ctx: typer.Context, name: str = NAME, output: OutputFormat = OUTPUT_OPTION) -> None:
    """The endpoint's history: route changes, canary steps, rollbacks, SLO breaches."""
    items = serving.endpoint_events(name, client=client_of(ctx))
    if output is OutputFormat.JSON:
        print_json(items)
        return
    print_table(_events_table(items), empty=f"No history for {name}.")


@app.command("feedback")
def feedback(
    ctx: typer.Context,
    name: str = NAME,
    request_id: str = typer.Option(..., "--request-id", help="The x-request-id of a response."),
    label: str | None = typer.Option(None, "--label", help="The true label."),
    outcome: list[str] = typer.Option([], "--outcome", help="NAME=NUMBER, repeatable."),
) -> None:
    """Record the true label and/or outcomes of a served request."""
    outcomes: dict[str, float] = {}
    for item in outcome:
        key, eq, value = item.partition("=")
        try:
            outcomes[key.strip()] = float(value)
        except ValueError:
            raise InvalidArgumentError(f"--outcome expects NAME=NUMBER, got {item!r}.") from None
        if not eq or not key.strip():
            raise InvalidArgumentError(f"--outcome expects NAME=NUMBER, got {item!r}.")
    parsed: float | str | None = label
    if label is not None:
        try:
            parsed = float(label)
        except ValueError:
            parsed = label
    serving.log_feedback(name, request_id, label=parsed, outcomes=outcomes, client=client_of(ctx))
    success(f"Feedback for {request_id} recorded.")
