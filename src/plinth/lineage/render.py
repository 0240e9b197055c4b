"""Draw a :class:`~plinth.lineage.Lineage` for the terminal (``plinth models show NAME
VERSION``, ``plinth demo``): one titled block per part, empty parts said to be empty."""

from __future__ import annotations

from collections.abc import Mapping

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from plinth.cli.output import PrintableTable, printable
from plinth.entities.common import ms_to_datetime
from plinth.lineage.model_lineage import CodeVersion, Lineage, RunSummary

MAX_ROWS = 25
"""Params or metrics shown per block; the JSON output has them all."""


def render_lineage(lineage: Lineage) -> Group:
    """The version, its source run, code, params, metrics, data, parents and comments."""
    parts: list[RenderableType] = []
    if lineage.model_version is not None:
        parts += _block("Model version", _version_table(lineage))
    if lineage.run is None:
        parts.append(Text("No source run: this version was registered from a plain path.", "dim"))
        return Group(*parts)
    parts += _block("Source run", _run_table(lineage.run))
    parts += _block("Code", _code_table(lineage.code))
    parts += _block(f"Params ({len(lineage.params)})", _mapping_table(lineage.params))
    parts += _block(f"Metrics ({len(lineage.metrics)})", _mapping_table(lineage.metrics))
    parts += _block(f"Data inputs ({len(lineage.inputs)})", _inputs_table(lineage))
    parts += _block(f"Parent runs ({len(lineage.parents)})", _parents_table(lineage.parents))
    parts += _block(f"Comments ({len(lineage.comments)})", _comments_table(lineage))
    return Group(*parts)


def _block(heading: str, table: Table) -> list[RenderableType]:
    body: RenderableType = table if table.row_count else Text("  none", style="dim")
    return [Text(heading, style="bold"), Padding(body, (0, 0, 1, 2), expand=False)]


def _pairs(rows: list[tuple[str, object]]) -> Table:
    table = PrintableTable(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, printable(_fmt(value)))
    return table


def _grid(*columns: str) -> Table:
    table = PrintableTable(
        box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _version_table(lineage: Lineage) -> Table:
    mv = lineage.model_version
    assert mv is not None
    return _pairs(
        [
            ("Model", f"{mv.name} version {mv.version}"),
            ("Stage", mv.current_stage.value),
            ("Aliases", ", ".join(f"@{a}" for a in mv.aliases) or None),
            ("Source", mv.source),
            ("Registered", f"{_time(mv.creation_timestamp)} by {mv.user_id or '-'}"),
            ("Description", mv.description),
        ]
    )


def _run_table(run: RunSummary) -> Table:
    return _pairs(
        [
            ("Run", f"{run.run_name} ({run.run_id})"),
            ("Experiment", f"{run.experiment_name} (id {run.experiment_id})"),
            ("Status", run.status.value),
            ("User", run.user_id),
            ("Started", _time(run.start_time)),
            ("Ended", _time(run.end_time)),
        ]
    )


def _code_table(code: CodeVersion) -> Table:
    dirty = {None: "unknown", True: "yes (uncommitted changes)", False: "no"}[code.git_dirty]
    return _pairs(
        [
            ("Git commit", code.git_commit),
            ("Dirty", dirty),
            ("Branch", code.git_branch),
            ("Remote", code.git_remote),
            ("Entry point", code.entry_point),
        ]
    )


def _mapping_table(mapping: Mapping[str, object]) -> Table:
    keys = sorted(mapping)
    table = _pairs([(key, mapping[key]) for key in keys[:MAX_ROWS]])
    if len(keys) > MAX_ROWS:
        table.add_row(Text(f"... {len(keys) - MAX_ROWS} more", style="dim"), "")
    return table


def _inputs_table(lineage: Lineage) -> Table:
    table = _grid("Name", "Context", "Digest", "Source")
    for item in lineage.inputs:
        table.add_row(item.name, item.context or "-", item.digest, item.source)
    return table


def _parents_table(parents: list[RunSummary]) -> Table:
    table = _grid("Run ID", "Name", "Status", "Experiment")
    for run in parents:
        table.add_row(run.run_id, run.run_name, run.status.value, run.experiment_name)
    return table


def _comments_table(lineage: Lineage) -> Table:
    table = _grid("When", "User", "Comment")
    for comment in lineage.comments:
        table.add_row(_time(comment.created_at), comment.user_id, comment.text)
    return table


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _time(ms: int | None) -> str:
    moment = ms_to_datetime(ms)
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
