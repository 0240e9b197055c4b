"""Batch inference: score a Parquet or CSV input with a model into a Parquet dataset.

::

    result = batch_predict("models:/churn@champion", "customers.parquet", "scores/",
                           id_cols=["customer_id"])
    pd.read_parquet("scores/")        # customer_id, prediction, model_version

The input splits into chunks (``plinth.serving.chunks``) that worker processes score and
write as ``part-NNNNN.parquet`` each (``plinth.serving.batch_worker``); memory holds a few
chunks per worker, whatever the input's size. The directory's ``_plinth_batch.json`` and
``_SUCCESS`` make a killed job resumable (``plinth.serving.batch_output``). Every job is a
tracking run, and an event in a registry model's history (``plinth.serving.batch_lineage``).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from plinth.client import Client
from plinth.errors import InvalidArgumentError
from plinth.models.loader import LoadedModel, load_package
from plinth.models.uri import resolve_model_uri
from plinth.registry.uris import is_models_uri, logged_model_id, resolve_model_version
from plinth.serving.batch_lineage import fail_run, finish_run, start_run
from plinth.serving.batch_output import (
    Manifest,
    OutputState,
    mark_complete,
    prepare_output,
    write_manifest,
)
from plinth.serving.batch_worker import (
    PART_GLOB,
    ChunkTask,
    ModelColumns,
    ScoringSpec,
    choose_columns,
    forget_models,
    init_worker,
    remember_model,
    score_chunk,
)
from plinth.serving.chunks import (
    ChunkExecutor,
    InputFiles,
    LocalProcessExecutor,
    ParquetSlice,
    csv_tables,
    default_workers,
    find_input,
    input_digest,
    input_schema,
    plan_parquet,
)
from plinth.tracking import fluent


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """What ``batch_predict`` did.

    Attributes:
        rows: Rows in the output (those scored now plus those an earlier, killed run wrote).
        chunks: Chunks (part files) in the output.
        chunks_skipped: Chunks found already written, not scored again.
        output_path: The output directory.
        model_uri: The URI as given.
        model_name: The registered model, for ``models:/`` URIs.
        model_version: The version the URI resolved to, for ``models:/`` URIs.
        input_digest: SHA-256 (hex) of the input file(s).
        seconds: Wall time of this call.
        run_id: The tracking run recording the job.
        rows_scored: Rows scored by this call.
        cpu_seconds: CPU time the workers spent scoring them (all threads, reading and
            writing included; not start-up): ``rows_scored / cpu_seconds`` is the
            throughput of one core, whatever else the machine runs.
    """

    rows: int
    chunks: int
    chunks_skipped: int
    output_path: str
    model_uri: str
    model_name: str | None
    model_version: str | None
    input_digest: str
    seconds: float
    run_id: str
    rows_scored: int = 0
    cpu_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Rows scored by this call per second of it."""
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchModel:
    """The model of a job, pinned: an alias or stage resolved to its version now."""

    uri: str
    name: str | None
    version: str | None
    label: str
    package: Path
    loaded: LoadedModel


@dataclass(frozen=True, slots=True, kw_only=True)
class _Job:
    """What the chunk loop needs: the shared spec, the input and its chunk plan."""

    spec: ScoringSpec
    files: InputFiles
    manifest: Manifest
    csv_types: dict[str, pa.DataType]


@dataclass(slots=True)
class _Tally:
    """Counts kept as chunks stream by (CSV chunks are only known once they are cut)."""

    chunks: int = 0
    skipped: int = 0
    rows: int = 0
    rows_scored: int = 0
    cpu_seconds: float = 0.0


def batch_predict(
    model_uri: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    *,
    id_cols: Sequence[str] = (),
    chunk_rows: int = 100_000,
    workers: int | None = None,
    executor: ChunkExecutor | None = None,
    progress: bool | None = None,
    client: Client | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> BatchResult:
    """Score ``input_path`` with a model into the Parquet dataset ``output_path``.

    Args:
        model_uri: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``runs:/...``, a path.
            An alias or stage is pinned to the version it names when the job starts.
        input_path: A Parquet file, a directory of Parquet files, or a CSV file; a local
            path or an fsspec URL (``s3://...``, with ``storage_options``).
        output_path: A local directory: new, empty, or holding this same job's output.
        id_cols: Input columns copied next to the predictions.
        chunk_rows: Rows per chunk: the unit of work, of memory, of output and of resuming.
        workers: Processes; ``None`` uses every core, 1 scores in this process.
        executor: Runs the chunks instead of a local pool (``workers`` is then unused).
        progress: A progress bar on stderr; ``None`` shows it on a terminal only.
        client: Resolves the model and records lineage; defaults to ``plinth.get_client()``.
        overwrite: Replace the output of a different job (another model version, input,
            chunk size or id columns) instead of refusing.
        storage_options: fsspec options for a remote input (endpoint, credentials).

    Returns:
        Counts, the resolved model version, the input digest and the tracking run.

    Raises:
        NotFoundError: no input there, or no such model.
        InvalidArgumentError: an unsupported input format, an id column or model input
            column the input lacks, an output holding another job (the message names
            ``--overwrite``), predictions that do not fit the rows.
    """
    started = time.perf_counter()
    workers = _checked_sizes(chunk_rows, workers, executor)
    client = client or fluent.get_client()
    model = resolve_batch_model(str(model_uri), client)
    files = find_input(str(input_path), storage_options)
    columns = choose_columns(
        model.loaded.metadata.signature,
        input_schema(files),
        tuple(id_cols),
        input_label=files.location,
        model_uri=model.uri,
    )
    out = Path(output_path).expanduser().absolute()
    spec = _spec(model, files, columns, out, chunk_rows, workers)
    with _running(spec, model.loaded, executor, workers) as runner:
        # A pool of our own starts its workers first: they load the model while this
        # process hashes the input and plans the chunks.
        manifest = _manifest(model, files, columns, chunk_rows)
        state = prepare_output(out, manifest, overwrite=overwrite)
        if state.complete:
            return _complete_result(manifest, out, state.run_id, started)
        job = _Job(spec=spec, files=files, manifest=manifest, csv_types=columns.csv_types)
        return _run(client, job, state, runner, progress=progress, started=started)


def _run(
    client: Client,
    job: _Job,
    state: OutputState,
    runner: ChunkExecutor,
    *,
    progress: bool | None,
    started: float,
) -> BatchResult:
    """Score the chunks not written yet, inside the job's tracking run."""
    out = Path(job.spec.out_dir)
    run_id = start_run(client, job.manifest, job.files, out, previous_run_id=state.run_id)
    manifest = replace(job.manifest, run_id=run_id)
    write_manifest(out, manifest)
    try:
        tally = _score(job, state.done, runner, progress)
    except BaseException as exc:
        fail_run(client, run_id, exc)
        raise
    result = _result(manifest, out, run_id, tally, started)
    finish_run(client, manifest, out, run_id=run_id, rows=result.rows, metrics=_metrics(result))
    mark_complete(out, manifest, chunk_count=tally.chunks)
    return result


@contextlib.contextmanager
def _running(
    spec: ScoringSpec, loaded: LoadedModel, executor: ChunkExecutor | None, workers: int
) -> Iterator[ChunkExecutor]:
    """The executor for the job: the caller's, or a local pool, started and later closed."""
    # Chunks scored in this process (workers=1) use the model loaded for the checks.
    remember_model(spec, loaded)
    try:
        if executor is not None:
            yield executor
            return
        preload = [score_chunk.__module__, *_model_modules(loaded)]
        own = LocalProcessExecutor(
            workers, initializer=init_worker, initargs=(spec,), preload=preload
        )
        with own as pool:
            pool.start()
            yield pool
    finally:
        forget_models()


def _model_modules(loaded: LoadedModel) -> list[str]:
    """The module of the model's class, for the fork server to import once for all workers
    (a class defined in a script or notebook is left to the workers' unpickling)."""
    module = type(loaded.raw_model).__module__
    spec = getattr(sys.modules.get(module), "__spec__", None)
    return [module] if spec is not None and module != "__main__" else []


def _checked_sizes(chunk_rows: int, workers: int | None, executor: ChunkExecutor | None) -> int:
    if chunk_rows < 1:
        raise InvalidArgumentError(f"--chunk-rows must be at least 1, got {chunk_rows}.")
    if workers is not None and workers < 1:
        raise InvalidArgumentError(f"--workers must be at least 1, got {workers}.")
    if executor is not None:
        return executor.workers
    return workers or default_workers()


# -- the model and its columns ------------------------------------------------------------------
def resolve_batch_model(uri: str, client: Client) -> BatchModel:
    """Load the model of ``uri``, pinning an alias, stage or ``latest`` to its version.

    Raises:
        NotFoundError: no such model, version, alias, run or package.
    """
    name = version = None
    target = uri
    if is_models_uri(uri) and logged_model_id(uri) is None:
        found = resolve_model_version(client, uri)
        name, version = found.name, found.version
        target = f"models:/{name}/{version}"
    resolved = resolve_model_uri(target, client=client)
    loaded = load_package(resolved.path, model_uri=uri, run_id=resolved.run_id)
    label = f"{name}/{version}" if name is not None else uri
    return BatchModel(
        uri=uri, name=name, version=version, label=label, package=resolved.path, loaded=loaded
    )


def _manifest(
    model: BatchModel, files: InputFiles, columns: ModelColumns, chunk_rows: int
) -> Manifest:
    plan = plan_parquet(files, chunk_rows) if files.format == "parquet" else None
    return Manifest(
        model_uri=model.uri,
        model_name=model.name,
        model_version=model.version,
        model_label=model.label,
        input_uri=files.uri,
        input_format=files.format,
        input_digest=input_digest(files),
        chunk_rows=chunk_rows,
        id_cols=columns.ids,
        features=columns.features,
        chunks=None if plan is None else tuple(plan),
    )


def _spec(
    model: BatchModel,
    files: InputFiles,
    columns: ModelColumns,
    out: Path,
    chunk_rows: int,
    workers: int,
) -> ScoringSpec:
    return ScoringSpec(
        package=str(model.package),
        model_uri=model.uri,
        model_label=model.label,
        out_dir=str(out),
        id_cols=columns.ids,
        features=columns.features,
        tensor_dtype=columns.tensor_dtype,
        chunk_rows=chunk_rows,
        protocol=files.protocol,
        storage_options=files.storage_options,
        # Each worker gets its share of the cores for native thread pools (BLAS, OpenMP):
        # N workers x all-core pools would fight over the same cores.
        threads=max(1, default_workers() // workers) if workers > 1 else None,
    )


# -- scoring ------------------------------------------------------------------------------------
def _score(
    job: _Job, done: frozenset[int], executor: ChunkExecutor, progress: bool | None
) -> _Tally:
    """Run every chunk not done yet; the executor holds a few tasks at a time, and this
    process only ever sees their small results."""
    tally = _Tally()
    plan = job.manifest.chunks
    total = None if plan is None else sum(piece.rows for piece in plan)
    with _progress_bar(progress, total) as advance:
        tasks = _tasks(job, done, tally, advance)
        for result in executor.map_unordered(score_chunk, tasks):
            tally.rows += result.rows
            tally.rows_scored += result.rows
            tally.cpu_seconds += result.cpu_seconds
            advance(result.rows)
    return tally


def _tasks(
    job: _Job, done: frozenset[int], tally: _Tally, advance: Callable[[int], None]
) -> Iterator[ChunkTask]:
    """One task per chunk not written yet; written ones are counted and skipped."""
    sources: Iterator[tuple[ParquetSlice | pa.Table, int]]
    if job.manifest.chunks is not None:
        sources = ((piece, piece.rows) for piece in job.manifest.chunks)
    else:
        tables = csv_tables(
            job.files,
            chunk_rows=job.spec.chunk_rows,
            columns=job.spec.read_columns,
            column_types=job.csv_types,
        )
        sources = ((table, table.num_rows) for table in tables)
    for index, (source, rows) in enumerate(sources):
        tally.chunks += 1
        if index in done:
            tally.skipped += 1
            tally.rows += rows
            advance(rows)
            continue
        yield ChunkTask(spec=job.spec, index=index, source=source)


class _RowsColumn(ProgressColumn):
    """``1,200,000/5,000,000 rows  310,000 rows/s`` (the total is unknown for CSV)."""

    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{int(task.total):,}"
        speed = task.finished_speed or task.speed
        rate = "" if speed is None else f"  {speed:,.0f} rows/s"
        return Text(f"{int(task.completed):,}/{total} rows{rate}", style="progress.download")


@contextlib.contextmanager
def _progress_bar(enabled: bool | None, total: int | None) -> Iterator[Callable[[int], None]]:
    """``advance(rows)`` for a bar on stderr (on a terminal only, when ``enabled`` is None)."""
    console = Console(stderr=True)
    if not (console.is_terminal if enabled is None else enabled):
        yield lambda _rows: None
        return
    columns = (TextColumn("[bold]scoring"), BarColumn(), _RowsColumn())
    with Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("scoring", total=total)
        yield functools.partial(bar.advance, task)


# -- results ------------------------------------------------------------------------------------
def _result(
    manifest: Manifest, out: Path, run_id: str, tally: _Tally, started: float
) -> BatchResult:
    return BatchResult(
        rows=tally.rows,
        chunks=tally.chunks,
        chunks_skipped=tally.skipped,
        output_path=str(out),
        model_uri=manifest.model_uri,
        model_name=manifest.model_name,
        model_version=manifest.model_version,
        input_digest=manifest.input_digest,
        seconds=time.perf_counter() - started,
        run_id=run_id,
        rows_scored=tally.rows_scored,
        cpu_seconds=tally.cpu_seconds,
    )


def _metrics(result: BatchResult) -> dict[str, float]:
    return {
        "rows": result.rows,
        "rows_scored": result.rows_scored,
        "rows_per_second": result.rows_per_second,
        "seconds": result.seconds,
        "cpu_seconds": result.cpu_seconds,
        "chunks": result.chunks,
        "chunks_skipped": result.chunks_skipped,
    }


def _complete_result(
    manifest: Manifest, out: Path, run_id: str | None, started: float
) -> BatchResult:
    """The result of a job that had already finished: nothing scored, nothing recorded."""
    parts = sorted(out.glob(PART_GLOB))
    rows = sum(pq.read_metadata(part).num_rows for part in parts)
    tally = _Tally(chunks=len(parts), skipped=len(parts), rows=rows)
    return _result(manifest, out, run_id or "", tally, started)
