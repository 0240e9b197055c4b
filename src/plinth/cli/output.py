"""Rendering shared by every command: rich tables for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from plinth.entities.common import ms_to_datetime
from plinth.schemas.common import encode_float


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


OUTPUT_OPTION: Any = typer.Option(
    OutputFormat.TABLE, "--output", "-o", help="table for people, json for scripts."
)
"""The ``--output table|json`` option every listing command takes."""


def stdout() -> Console:
    # Built per call: rich binds to sys.stdout when printing, which CliRunner swaps.
    # No markup or emoji codes: what is printed holds names, tags and comments anyone may
    # have written, and "[/]" in a run name must print as itself, not crash every listing.
    return Console(highlight=False, markup=False, emoji=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, markup=False, emoji=False)


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
del _CONTROL[ord("\n")], _CONTROL[ord("\t")]


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``): stored values reach the
    terminal, where an escape sequence could recolour, retitle or hide output."""
    return text.translate(_CONTROL)


class PrintableTable(Table):
    """A table whose text cells are printed as written (see :func:`printable`)."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        cells = [Text(printable(c)) if isinstance(c, str) else c for c in renderables]
        super().add_row(*cells, **kwargs)


def print_json(data: object) -> None:
    """Print ``data`` (entities, dicts, lists) as indented JSON, unwrapped."""
    # allow_nan=False: to_jsonable has turned NaN and infinities into strings already, and
    # bare NaN tokens are not JSON (jq and JavaScript refuse them).
    typer.echo(json.dumps(to_jsonable(data), indent=2, default=str, allow_nan=False))


def to_jsonable(data: object) -> Any:
    """Entities (frozen dataclasses) and containers of them as plain JSON values; NaN and
    infinities as "NaN", "Infinity" and "-Infinity", as the APIs write them."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return {f.name: to_jsonable(getattr(data, f.name)) for f in dataclasses.fields(data)}
    if isinstance(data, Mapping):
        return {str(k): to_jsonable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [to_jsonable(v) for v in data]
    if isinstance(data, float):
        return encode_float(data)
    return data


def make_table(*columns: str, title: str | None = None, whole: Iterable[str] = ()) -> Table:
    """A compact table (header rule, no cell borders) so wide listings fit terminals.

    Columns named in ``whole`` never wrap (ids people copy, timestamps)."""
    table = PrintableTable(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
    )
    keep = set(whole)
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=name in keep)
    return table


def print_table(table: Table, *, empty: str = "Nothing to show.") -> None:
    console = stdout()
    if table.row_count == 0:
        console.print(Text(empty, style="dim"))
        return
    console.print(table)


def key_value_table(rows: Iterable[tuple[str, object]], *, title: str | None = None) -> Table:
    """A two-column table of labels and values (run info, params ...)."""
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(printable(key), Text(printable(fmt(value))))
    return table


def fmt(value: object) -> str:
    """A cell: floats to 4 significant decimals, ``None`` to a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_time(ms: int | None, *, seconds: bool = True) -> str:
    """Epoch milliseconds as local time, to the second (or minute)."""
    moment = ms_to_datetime(ms)
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    """``1h02m``, ``3m05s`` or ``4.2s``; a dash while there is no end."""
    if start_ms is None or end_ms is None:
        return "-"
    seconds = max(0.0, (end_ms - start_ms) / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def success(message: str) -> None:
    """A one-line confirmation of a change."""
    stdout().print(Text(printable(message), style="green"), soft_wrap=True)


def hint(message: str) -> None:
    stdout().print(Text(printable(message), style="dim"), soft_wrap=True)
