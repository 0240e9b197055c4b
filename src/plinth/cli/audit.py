"""``plinth audit``: who changed what, and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
)
from plinth.entities import AuditEvent
from plinth.entities.common import parse_moment


def audit(
    ctx: typer.Context,
    since: str | None = typer.Option(
        None, "--since", help="30m, 1h, 2d, 1w ago, or an ISO-8601 time (local if no zone)."
    ),
    user: str | None = typer.Option(None, "--user", "-u", help="Only this user's actions."),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="Newest events kept."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show the audit log, newest first."""
    since_ms = None if since is None else parse_since(since, now=datetime.now().astimezone())
    events = client_of(ctx).list_audit_events(since=since_ms, user_name=user, limit=limit)
    if output is OutputFormat.JSON:
        print_json(events)
        return
    print_table(audit_table(events), empty="No audit events match.")


def parse_since(value: str, *, now: datetime) -> int:
    """``--since`` as epoch milliseconds: a duration before ``now`` or an ISO-8601 time."""
    return parse_moment(value, now=now)


def audit_table(events: Sequence[AuditEvent]) -> Table:
    table = make_table("When", "User", "Action", "Object", "Details", whole=["When"])
    for event in events:
        table.add_row(
            format_time(event.timestamp),
            event.user_name,
            event.action,
            f"{event.object_type} {event.object_id}",
            event.details or "-",
        )
    return table
