"""``plinth models``: registered models and versions, aliases, governed promotion, history
and lineage.

Moving a version into Production or a protected alias goes through ``request-promotion``
and ``approve`` (by someone else when auth is on); any shortcut exits 5 with the registry's
explanation.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table
from rich.text import Text

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
    printable,
    stdout,
    success,
)
from plinth.entities.registry import (
    ARCHIVING_STAGES,
    CheckResult,
    ModelEvent,
    ModelVersion,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    Stage,
)
from plinth.lineage import lineage
from plinth.lineage.render import render_lineage
from plinth.registry.uris import resolve_source

app = typer.Typer(
    help="Registered models: versions, aliases, promotion with approval, history, lineage.",
    no_args_is_help=True,
)

NAME_ARGUMENT = typer.Argument(..., metavar="NAME", help="The registered model's name.")
REQUEST_ARGUMENT = typer.Argument(..., metavar="REQUEST_ID", help="The promotion request's id.")
COMMENT_OPTION = typer.Option(None, "--comment", "-m", help="Why; kept in the model's history.")
STATUS_STYLES = {
    PromotionStatus.PENDING: "yellow",
    PromotionStatus.APPROVED: "green",
    PromotionStatus.REJECTED: "red",
    PromotionStatus.CANCELLED: "dim",
}


# -- models and versions -----------------------------------------------------------------
@app.command("list")
def list_models(
    ctx: typer.Context,
    filter_string: str | None = typer.Option(
        None, "--filter", help="MLflow filter, e.g. \"name LIKE 'churn%'\"."
    ),
    max_results: int = typer.Option(100, "--max-results", min=1, max=1000),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List registered models with their newest version per stage and their aliases."""
    page = client_of(ctx).search_registered_models(filter_string, max_results)
    if output is OutputFormat.JSON:
        print_json(list(page.items))
        return
    print_table(_models_table(page.items), empty="No registered models.")
    if page.next_page_token:
        hint(f"More models match; showing the first {max_results} (raise --max-results).")


def _models_table(models: Sequence[RegisteredModel]) -> Table:
    table = make_table("Name", "Latest versions", "Aliases", "Updated", "Description")
    for model in models:
        latest = ", ".join(
            f"v{mv.version} {mv.current_stage.value}"
            for mv in sorted(model.latest_versions, key=lambda mv: int(mv.version))
        )
        table.add_row(
            model.name,
            latest or "-",
            _aliases(model.aliases),
            format_time(model.last_updated_timestamp, seconds=False),
            model.description or "",
        )
    return table


def _aliases(aliases: dict[str, str]) -> str:
    return ", ".join(f"@{alias}→v{version}" for alias, version in sorted(aliases.items())) or "-"


@app.command("show")
def show_model(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    version: str | None = typer.Argument(
        None, help="A version (3), stage (Production) or @alias: show its lineage."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show a model and its versions, or one version's lineage: source run, git commit,
    params, metrics, data inputs, parent runs and comments."""
    client = client_of(ctx)
    if version is not None:
        found = lineage(model_uri(name, version), client=client)
        if output is OutputFormat.JSON:
            print_json(found)
        else:
            stdout().print(render_lineage(found))
        return
    model = client.get_registered_model(name)
    versions = _versions_of(ctx, name)
    if output is OutputFormat.JSON:
        print_json({"model": model, "versions": versions})
        return
    console = stdout()
    console.print(_model_info(model))
    console.print()
    print_table(_versions_table(versions), empty=f"Model '{name}' has no versions.")


def model_uri(name: str, version: str) -> str:
    """``models:/NAME/3``, ``models:/NAME/Production`` or ``models:/NAME@champion``."""
    return f"models:/{name}{version}" if version.startswith("@") else f"models:/{name}/{version}"


def _model_info(model: RegisteredModel) -> Table:
    return key_value_table(
        [
            ("Name", model.name),
            ("Description", model.description),
            ("Aliases", _aliases(model.aliases)),
            ("Tags", ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())) or None),
            ("Created", format_time(model.creation_timestamp)),
            ("Updated", format_time(model.last_updated_timestamp)),
        ]
    )


@app.command("versions")
def list_versions(
    ctx: typer.Context, name: str = NAME_ARGUMENT, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """List a model's versions, newest first."""
    versions = _versions_of(ctx, name)
    if output is OutputFormat.JSON:
        print_json(versions)
        return
    print_table(_versions_table(versions), empty=f"No versions of model '{name}'.")


def _versions_of(ctx: typer.Context, name: str) -> list[ModelVersion]:
    quoted = name.replace("'", "\\'")
    page = client_of(ctx).search_model_versions(f"name = '{quoted}'")
    return sorted(page.items, key=lambda mv: int(mv.version), reverse=True)


def _versions_table(versions: Sequence[ModelVersion]) -> Table:
    columns = ("Version", "Stage", "Aliases", "Run ID", "Registered", "By", "Source")
    table = make_table(*columns, whole=["Version", "Run ID", "Registered"])
    for mv in versions:
        table.add_row(
            mv.version,
            mv.current_stage.value,
            ", ".join(f"@{a}" for a in mv.aliases) or "-",
            mv.run_id or "-",
            format_time(mv.creation_timestamp, seconds=False),
            mv.user_id or "-",
            mv.source,
        )
    return table


@app.command("register")
def register(
    ctx: typer.Context,
    model_uri_: str = typer.Argument(
        ..., metavar="MODEL_URI", help="runs:/RUN_ID/model, models:/NAME/VERSION or a path."
    ),
    name: str = NAME_ARGUMENT,
    description: str | None = typer.Option(None, "--description", help="Of the new version."),
) -> None:
    """Register a model as the next version of NAME (creating NAME if needed)."""
    client = client_of(ctx)
    source, run_id = resolve_source(client, model_uri_)
    version = client.create_model_version(name, source, run_id=run_id, description=description)
    success(f"Registered {name} version {version.version} (from {model_uri_}).")


# -- history and aliases -----------------------------------------------------------------
@app.command("history")
def history(
    ctx: typer.Context, name: str = NAME_ARGUMENT, output: OutputFormat = OUTPUT_OPTION
) -> None:
    """Every event of a model, oldest first: registration, edits, promotion requests and
    decisions, stage and alias moves, archival, deployments."""
    events = client_of(ctx).model_history(name)
    if output is OutputFormat.JSON:
        print_json(events)
        return
    print_table(history_table(events), empty=f"No history for model '{name}'.")


def history_table(events: Sequence[ModelEvent]) -> Table:
    columns = ("When", "Version", "Event", "User", "Comment", "Details")
    table = make_table(*columns, whole=["When", "Event"])
    for event in events:
        table.add_row(
            format_time(event.timestamp),
            event.version or "-",
            event.event_type,
            event.user_name,
            event.comment or "",
            ", ".join(f"{k}={v}" for k, v in sorted(event.details.items())),
        )
    return table


@app.command("alias")
def set_alias(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    alias: str = typer.Argument(..., help="The alias, e.g. challenger."),
    version: str = typer.Argument(..., help="The version it points to."),
) -> None:
    """Point an alias at a version. Protected aliases (production, champion by default)
    move only through request-promotion and approve."""
    client_of(ctx).set_registered_model_alias(name, alias, version)
    success(f"{name}@{alias} now points to version {version}.")


# -- governed promotion ------------------------------------------------------------------
@app.command("request-promotion")
def request_promotion(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    version: str = typer.Argument(..., help="The version to promote."),
    stage: str | None = typer.Option(None, "--stage", help="Target stage, e.g. Production."),
    alias: str | None = typer.Option(None, "--alias", help="Target alias, e.g. champion."),
    comment: str | None = COMMENT_OPTION,
    checks: list[str] = typer.Option(
        [],
        "--check",
        help='A gate, repeatable: "metrics.auc >= 0.8", "beats_production:metrics.auc", '
        '"signature", "tag:KEY".',
    ),
    archive_existing: bool = typer.Option(
        True,
        "--archive-existing/--keep-existing",
        help="On approval, archive the versions now in the target stage (the default, as "
        "MLflow's archive_existing_versions), or keep them: e.g. a canary's baseline, which "
        "the canary's completion archives then.",
    ),
) -> None:
    """Ask for a version to move to a stage or alias; an approver decides."""
    if not archive_existing and not _archives(stage):
        raise typer.BadParameter(
            "--keep-existing only applies to --stage Staging or --stage Production (the "
            "stages whose current versions an approval archives).",
            param_hint="--keep-existing",
        )
    request = client_of(ctx).request_promotion(
        name,
        version,
        stage=stage,
        alias=alias,
        comment=comment,
        checks=checks,
        archive_existing_versions=archive_existing,
    )
    print_request(request)
    approve = f"plinth models approve {request.request_id} --comment '...'"
    if not request.checks_passed:
        approve += " --override"
        hint("Some checks failed: approving needs --override and a --comment, both audited.")
    hint(f"An approver (not you, when auth is on) runs: {approve}")


def _archives(stage: str | None) -> bool:
    try:
        return stage is not None and Stage.parse(stage) in ARCHIVING_STAGES
    except ValueError:
        return True  # the store names the stages it knows


def print_request(request: PromotionRequest) -> None:
    """A request's summary line, its comments and its check results."""
    console = stdout()
    status = Text(request.status.value, style=STATUS_STYLES.get(request.status, ""))
    console.print(
        Text.assemble(
            f"Promotion request {request.request_id}: {request.name} version "
            f"{request.version} to {request.target}, ",
            status,
        ),
        soft_wrap=True,
    )
    for label, who, text in (
        ("requested", request.requested_by, request.comment),
        ("decided", request.decided_by, request.decision_comment),
    ):
        if who:
            note = f': "{text}"' if text else ""
            console.print(Text(printable(f"  {label} by {who}{note}")), soft_wrap=True)
    if request.target_stage in ARCHIVING_STAGES and not request.archive_existing_versions:
        kept = f"  keeps the versions now in {request.target_stage} (--keep-existing)"
        console.print(Text(kept), soft_wrap=True)
    if request.override:
        console.print(Text("  approved with --override despite failed checks", style="yellow"))
    if request.checks:
        console.print(checks_table(request.checks))


def checks_table(checks: Sequence[CheckResult]) -> Table:
    table = make_table("Check", "Result", "Detail")
    for check in checks:
        result = Text("passed", style="green") if check.passed else Text("FAILED", style="red")
        table.add_row(check.check, result, check.detail)
    return table


@app.command("approve")
def approve(
    ctx: typer.Context,
    request_id: str = REQUEST_ARGUMENT,
    comment: str | None = COMMENT_OPTION,
    override: bool = typer.Option(
        False, "--override", help="Approve although checks failed (needs --comment; audited)."
    ),
) -> None:
    """Approve a pending promotion request; this performs the stage or alias move."""
    request = client_of(ctx).approve_promotion(request_id, comment=comment, override=override)
    success(f"Approved: {request.name} version {request.version} moved to {request.target}.")
    print_request(request)


@app.command("reject")
def reject(
    ctx: typer.Context, request_id: str = REQUEST_ARGUMENT, comment: str | None = COMMENT_OPTION
) -> None:
    """Reject a pending promotion request."""
    request = client_of(ctx).reject_promotion(request_id, comment=comment)
    success(f"Rejected promotion of {request.name} version {request.version}.")
    print_request(request)


@app.command("requests")
def list_requests(
    ctx: typer.Context,
    pending: bool = typer.Option(False, "--pending", help="Only requests awaiting a decision."),
    name: str | None = typer.Option(None, "--name", help="Only this model's requests."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List promotion requests, newest first."""
    status = PromotionStatus.PENDING if pending else None
    requests = client_of(ctx).list_promotion_requests(name=name, status=status)
    if output is OutputFormat.JSON:
        print_json(requests)
        return
    print_table(requests_table(requests), empty="No promotion requests.")


def requests_table(requests: Sequence[PromotionRequest]) -> Table:
    columns = ("Request ID", "Model", "Version", "Target", "Status", "Checks", "Requested")
    whole = ["Request ID", "Target", "Status", "Requested"]
    table = make_table(*columns, "By", "Decider", whole=whole)
    for request in requests:
        failed = sum(not c.passed for c in request.checks)
        checks = f"{failed} failed" if failed else f"{len(request.checks)} passed"
        table.add_row(
            request.request_id,
            request.name,
            request.version,
            request.target,
            Text(request.status.value, style=STATUS_STYLES.get(request.status, "")),
            checks if request.checks else "-",
            format_time(request.requested_at, seconds=False),
            request.requested_by,
            request.decided_by or "-",
        )
    return table
