"""The output directory of a batch job: its manifest, and the rules for resuming into it.

A job writes ``_plinth_batch.json`` before its first part and ``_SUCCESS`` after its last.
Started again on the same directory, it keeps the parts that exist only when the manifest
says they came from the same model version, the same input bytes, the same ``chunk_rows``
and the same id columns; otherwise chunk ``i`` would mean other rows (or other
predictions) and the result would miss or repeat some. ``overwrite`` clears the old job's
files instead; a directory that holds other files and no manifest is never touched.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plinth.artifacts.durability import fsync_path
from plinth.errors import InvalidArgumentError
from plinth.serving.batch_worker import is_temp_part, part_index
from plinth.serving.chunks import ParquetSlice

MANIFEST_FILE = "_plinth_batch.json"
SUCCESS_FILE = "_SUCCESS"
MANIFEST_FORMAT = 1
RESUME_KEYS = {
    "model_label": "model version",
    "input_digest": "input digest",
    "chunk_rows": "--chunk-rows",
    "id_cols": "--id-cols",
}
"""Manifest fields that must match for a rerun to keep the parts already written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """What ``_plinth_batch.json`` records about a job.

    Attributes:
        model_uri: The URI as given.
        model_name: The registered model (``models:/`` URIs).
        model_version: The version the URI resolved to (``models:/`` URIs).
        model_label: The ``model_version`` column's value: ``NAME/VERSION``, else the URI.
        input_uri: The input's absolute URI.
        input_format: ``parquet`` or ``csv``.
        input_digest: SHA-256 (hex) of the input.
        chunk_rows: Rows per chunk.
        id_cols: Input columns copied to the output.
        features: Input columns the model receives.
        chunks: The Parquet chunk plan; ``None`` for CSV, where chunk ``i`` is rows
            ``i * chunk_rows`` up to ``(i + 1) * chunk_rows``.
        run_id: The tracking run of the job.
        chunk_count: How many chunks there were, once the job completed.
    """

    model_uri: str
    model_name: str | None
    model_version: str | None
    model_label: str
    input_uri: str
    input_format: str
    input_digest: str
    chunk_rows: int
    id_cols: tuple[str, ...]
    features: tuple[str, ...]
    chunks: tuple[ParquetSlice, ...] | None
    run_id: str | None = None
    chunk_count: int | None = None

    def to_json(self) -> dict[str, Any]:
        chunks = None
        if self.chunks is not None:
            chunks = [
                {
                    "index": i,
                    "file": c.path,
                    "row_groups": [c.first_group, c.end_group],
                    "rows": c.rows,
                }
                for i, c in enumerate(self.chunks)
            ]
        return {
            "format": MANIFEST_FORMAT,
            "model_uri": self.model_uri,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_label": self.model_label,
            "input": self.input_uri,
            "input_format": self.input_format,
            "input_digest": self.input_digest,
            "chunk_rows": self.chunk_rows,
            "id_cols": list(self.id_cols),
            "features": list(self.features),
            "chunks": chunks,
            "chunk_count": self.chunk_count,
            "run_id": self.run_id,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputState:
    """What a job finds in its output directory.

    Attributes:
        done: Indexes of the chunks whose part file exists.
        run_id: The tracking run of the job that wrote them.
        complete: Whether that job finished (``_SUCCESS``) and every part is there.
    """

    done: frozenset[int] = frozenset()
    run_id: str | None = None
    complete: bool = False


def prepare_output(out: Path, manifest: Manifest, *, overwrite: bool) -> OutputState:
    """Make ``out`` ready for ``manifest``'s job; what it already holds of that job.

    Raises:
        InvalidArgumentError: ``out`` is a file, holds files of no batch job, or holds the
            output of another job and ``overwrite`` is False.
    """
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--output {out} is a file; name a directory.")
    out.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(out)
    if previous is None:
        _require_empty(out)
        return OutputState()
    differences = _differences(previous, manifest.to_json())
    if differences and not overwrite:
        raise InvalidArgumentError(
            f"--output {out} holds the predictions of another job ({'; '.join(differences)}). "
            "Pass --overwrite (overwrite=True) to replace them, or choose another --output."
        )
    if overwrite:
        _clear(out)
        return OutputState()
    return _state(out, previous)


def _read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(
            f"--output {out}: cannot read {MANIFEST_FILE} ({exc}); pass --overwrite to start over."
        ) from exc
    if not isinstance(data, dict):
        raise InvalidArgumentError(f"--output {out}: {MANIFEST_FILE} is not a JSON object.")
    return data


def _require_empty(out: Path) -> None:
    others = sorted(p.name for p in out.iterdir())
    if others:
        shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
        raise InvalidArgumentError(
            f"--output {out} is not empty ({shown}) and holds no {MANIFEST_FILE}, so it is "
            "not a batch output Plinth may write into; choose a new or empty directory."
        )


def _differences(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [
        f"{label} {previous.get(key)!r}, now {current[key]!r}"
        for key, label in RESUME_KEYS.items()
        if previous.get(key) != current[key]
    ]


def _clear(out: Path) -> None:
    for path in out.iterdir():
        name = path.name
        ours = part_index(name) is not None or is_temp_part(name)
        if ours or name in (MANIFEST_FILE, SUCCESS_FILE):
            path.unlink()


def _state(out: Path, previous: dict[str, Any]) -> OutputState:
    done: set[int] = set()
    for path in out.iterdir():
        if is_temp_part(path.name):
            path.unlink()  # half written by a killed job; its chunk runs again
        elif (index := part_index(path.name)) is not None:
            done.add(index)
    count = previous.get("chunk_count")
    finished = (out / SUCCESS_FILE).exists() and isinstance(count, int)
    complete = finished and done == set(range(int(count or 0)))
    if not complete:
        (out / SUCCESS_FILE).unlink(missing_ok=True)  # a part went missing: not done any more
    run_id = previous.get("run_id")
    return OutputState(
        done=frozenset(done), run_id=run_id if isinstance(run_id, str) else None, complete=complete
    )


def write_manifest(out: Path, manifest: Manifest) -> None:
    """Write (or rewrite) ``_plinth_batch.json`` atomically."""
    _write_atomic(out / MANIFEST_FILE, json.dumps(manifest.to_json(), indent=2) + "\n")


def mark_complete(out: Path, manifest: Manifest, *, chunk_count: int) -> None:
    """Record the chunk count in the manifest, then write ``_SUCCESS``: the job is done."""
    write_manifest(out, replace(manifest, chunk_count=chunk_count))
    # Part files were renamed into the directory; its entries reach the disk before
    # _SUCCESS says they are all there.
    fsync_path(out)
    _write_atomic(out / SUCCESS_FILE, "")


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temp.open("w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
