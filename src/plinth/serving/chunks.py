"""Chunks for batch inference: which files an input is, how it splits, how a chunk is read,
and the executor seam that runs chunks on local processes today and on Ray later.

A chunk is the unit of work, of output (one part file) and of resumption:

- **Parquet** (a file or a directory of files): consecutive row groups of one file, packed
  up to ``chunk_rows`` rows. The parent only reads footers to plan; each worker reads its
  own chunk, so no data crosses a pipe. A row group larger than ``chunk_rows`` is one chunk
  that the worker streams in batches of ``chunk_rows`` rows: Parquet cannot start reading in
  the middle of a row group, and decoding it once beats decoding it once per slice.
- **CSV**: the parent parses the file with a streaming reader and cuts exactly
  ``chunk_rows`` rows per chunk (chunk ``i`` is rows ``i * chunk_rows`` onwards), so a
  rerun cuts the same chunks. These chunks carry their rows; the executor's bound on tasks
  in flight is what keeps memory flat.

Executors (``ChunkExecutor``) take a picklable top-level function and small task values and
yield results as chunks finish, in any order, holding at most a few tasks at a time.
``LocalProcessExecutor`` is the process pool; a Ray executor fits the same protocol: an actor
pool whose actors run the initializer once, ``submit`` per task with ``ray.wait`` keeping at
most ``max_in_flight`` references pending.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from plinth.errors import BackendUnavailableError, InvalidArgumentError, NotFoundError

InputFormat = Literal["parquet", "csv"]

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
HASH_BLOCK_BYTES = 1 << 20
CSV_BLOCK_BYTES = 256 << 10
"""Bytes the CSV reader parses at a time; chunks are cut from these blocks. pyarrow's
reader reads a few dozen blocks ahead on a background thread, so this bounds the CSV text
in memory (about 8 MiB); a single row must fit in one block."""
LOCAL_PROTOCOLS = ("file", "local")

_T = TypeVar("_T")
_R = TypeVar("_R")


# -- input files ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class InputFiles:
    """The data files behind ``--input``.

    Attributes:
        location: The input as the caller wrote it.
        format: ``parquet`` or ``csv``.
        root: The file or directory, as its filesystem names it (no protocol).
        paths: The data files, in the order their chunks are numbered.
        protocol: fsspec's protocol (``file``, ``s3`` ...).
        is_dir: Whether ``root`` is a directory.
        storage_options: fsspec options for remote filesystems (endpoint, credentials).
    """

    location: str
    format: InputFormat
    root: str
    paths: tuple[str, ...]
    protocol: str
    is_dir: bool
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.protocol in LOCAL_PROTOCOLS

    @property
    def uri(self) -> str:
        """An absolute URI of the input (``file:///...``, ``s3://...``)."""
        if self.is_local:
            return Path(self.root).as_uri()
        return f"{self.protocol}://{self.root}"

    @property
    def name(self) -> str:
        return self.root.rstrip("/").rsplit("/", 1)[-1]

    def filesystem(self) -> AbstractFileSystem:
        return fsspec.filesystem(self.protocol, **self.storage_options)


def find_input(location: str, storage_options: Mapping[str, Any] | None = None) -> InputFiles:
    """The data files of ``location``: a Parquet file, a directory of them, or a CSV file.

    Raises:
        NotFoundError: nothing at ``location``.
        InvalidArgumentError: a file of another format, or a directory without Parquet files.
    """
    options = dict(storage_options or {})
    fs, root = fsspec.core.url_to_fs(location, **options)
    protocol = _protocol(fs)
    root = root.rstrip("/") or root
    if not fs.exists(root):
        raise NotFoundError(f"--input {location!r} does not exist.")
    is_dir = fs.isdir(root)
    paths = _parquet_files(fs, root) if is_dir else (root,)
    if is_dir and not paths:
        raise InvalidArgumentError(
            f"--input {location!r} is a directory without Parquet files (*.parquet); "
            "point it at a Parquet file, a directory of them, or a CSV file."
        )
    return InputFiles(
        location=location,
        format=_format_of(paths[0], location),
        root=root,
        paths=paths,
        protocol=protocol,
        is_dir=is_dir,
        storage_options=options,
    )


def _protocol(fs: AbstractFileSystem) -> str:
    protocol = fs.protocol
    return str(protocol if isinstance(protocol, str) else protocol[0])


def _format_of(path: str, location: str) -> InputFormat:
    lowered = path.lower()
    if lowered.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    raise InvalidArgumentError(
        f"--input {location!r} is neither Parquet ({', '.join(PARQUET_SUFFIXES)}) nor CSV "
        f"({', '.join(CSV_SUFFIXES)}); convert it or rename it with the right extension."
    )


def _parquet_files(fs: AbstractFileSystem, root: str) -> tuple[str, ...]:
    # Names starting with "_" or "." (Spark's _SUCCESS, our own temporary files) are not
    # data, as pyarrow.dataset and DuckDB also treat them.
    found = []
    for rel, path in _relative_files(fs, root):
        hidden = any(part.startswith(("_", ".")) for part in rel.split("/"))
        if not hidden and rel.lower().endswith(PARQUET_SUFFIXES):
            found.append(path)
    return tuple(found)


def _relative_files(fs: AbstractFileSystem, root: str) -> list[tuple[str, str]]:
    """Every file under ``root`` as ``(relative posix name, path)``, ordered by path parts
    (the order ``Path.rglob`` results sort in, which ``plinth.log_input`` hashes in)."""
    prefix = root.rstrip("/") + "/"
    files = [(str(p)[len(prefix) :], str(p)) for p in fs.find(root) if str(p).startswith(prefix)]
    return sorted(files, key=lambda item: item[0].split("/"))


# -- digest -------------------------------------------------------------------------------------
def input_digest(files: InputFiles) -> str:
    """SHA-256 (hex) of the input, streamed 1 MiB at a time.

    A file hashes to the SHA-256 of its bytes; a directory to the SHA-256 over each file's
    relative name and digest, so its first 16 characters equal the dataset digest that
    ``plinth.log_input`` records for the same file or directory: a batch run and the training
    run that logged the same data carry the same digest.
    """
    fs = files.filesystem()
    if not files.is_dir:
        return _file_sha256(fs, files.root).hex()
    sha = hashlib.sha256()
    for rel, path in _relative_files(fs, files.root):
        sha.update(rel.encode() + b"\0")
        sha.update(_file_sha256(fs, path))
    return sha.hexdigest()


def _file_sha256(fs: AbstractFileSystem, path: str) -> bytes:
    sha = hashlib.sha256()
    with fs.open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK_BYTES):
            sha.update(block)
    return sha.digest()


# -- schema -------------------------------------------------------------------------------------
def input_schema(files: InputFiles) -> pa.Schema:
    """The columns of the input: a Parquet footer, or the header and first block of a CSV.

    Raises:
        InvalidArgumentError: the file is not valid Parquet or CSV.
    """
    try:
        if files.format == "parquet":
            return pq.read_schema(files.paths[0], filesystem=_arrow_fs(files))
        with _CsvReader(files.paths[0], files) as reader:
            return reader.schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgumentError(f"--input {files.location!r} cannot be read: {exc}") from exc


def index_columns(schema: pa.Schema) -> set[str]:
    """Columns that ``DataFrame.to_parquet`` stored a pandas index in: row labels, not data."""
    metadata: dict[str, Any] = schema.pandas_metadata or {}
    return {c for c in metadata.get("index_columns", []) if isinstance(c, str)}


def _arrow_fs(files: InputFiles) -> AbstractFileSystem | None:
    # pyarrow reads local files natively; other filesystems go through fsspec.
    return None if files.is_local else files.filesystem()


# -- Parquet chunks -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class ParquetSlice:
    """Row groups ``[first_group, end_group)`` of one Parquet file, ``rows`` rows in all."""

    path: str
    first_group: int
    end_group: int
    rows: int


def plan_parquet(files: InputFiles, chunk_rows: int) -> list[ParquetSlice]:
    """Chunks of ``files``: consecutive row groups of a file packed up to ``chunk_rows`` rows
    (a larger row group is a chunk of its own). Only footers are read."""
    plan: list[ParquetSlice] = []
    fs = _arrow_fs(files)
    for path in files.paths:
        try:
            metadata = pq.read_metadata(path, filesystem=fs)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidArgumentError(
                f"--input file {path!r} is not valid Parquet: {exc}"
            ) from exc
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        plan.extend(_pack(path, sizes, chunk_rows))
    return plan


def _pack(path: str, sizes: list[int], chunk_rows: int) -> Iterator[ParquetSlice]:
    first, rows = 0, 0
    for group, size in enumerate(sizes):
        if rows and rows + size > chunk_rows:
            yield ParquetSlice(path=path, first_group=first, end_group=group, rows=rows)
            first, rows = group, 0
        if not rows:
            first = group
        rows += size
    if rows:
        yield ParquetSlice(path=path, first_group=first, end_group=len(sizes), rows=rows)


def read_slice(
    piece: ParquetSlice,
    *,
    columns: list[str],
    batch_rows: int,
    protocol: str,
    storage_options: Mapping[str, Any],
) -> Iterator[pa.Table]:
    """The rows of ``piece`` (only ``columns``), in tables of at most ``batch_rows`` rows."""
    fs = None if protocol in LOCAL_PROTOCOLS else fsspec.filesystem(protocol, **storage_options)
    groups = list(range(piece.first_group, piece.end_group))
    with pq.ParquetFile(piece.path, filesystem=fs) as parquet:
        if piece.rows <= batch_rows:
            yield parquet.read_row_groups(groups, columns=columns)
            return
        for batch in parquet.iter_batches(
            batch_size=batch_rows, row_groups=groups, columns=columns
        ):
            yield pa.Table.from_batches([batch])


# -- CSV chunks ---------------------------------------------------------------------------------
def csv_tables(
    files: InputFiles,
    *,
    chunk_rows: int,
    columns: list[str],
    column_types: Mapping[str, pa.DataType],
) -> Iterator[pa.Table]:
    """The CSV input in tables of exactly ``chunk_rows`` rows (the last may be shorter),
    parsed a block at a time: memory holds the reader's read-ahead blocks and one chunk,
    never the file.

    Raises:
        InvalidArgumentError: a value that does not parse as its column's type.
    """
    convert = pacsv.ConvertOptions(include_columns=columns, column_types=dict(column_types))
    pending: list[pa.RecordBatch] = []
    held = 0
    try:
        with _CsvReader(files.paths[0], files, convert) as reader:
            for batch in reader:
                pending.append(batch)
                held += batch.num_rows
                while held >= chunk_rows:
                    table = pa.Table.from_batches(pending, schema=reader.schema)
                    yield table.slice(0, chunk_rows)
                    rest = table.slice(chunk_rows)
                    pending, held = rest.to_batches(), rest.num_rows
            if held:
                yield pa.Table.from_batches(pending, schema=reader.schema)
    except pa.ArrowInvalid as exc:
        raise InvalidArgumentError(f"--input {files.location!r}: {exc}") from exc


class _CsvReader:
    """``pyarrow.csv.open_csv`` over a local or remote stream, closing both."""

    def __init__(
        self, path: str, files: InputFiles, convert: pacsv.ConvertOptions | None = None
    ) -> None:
        if files.is_local:
            self._stream: Any = pa.input_stream(path, compression="detect")
        else:
            self._stream = files.filesystem().open(path, "rb", compression="infer")
        read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
        try:
            self.reader = pacsv.open_csv(self._stream, read_options=read, convert_options=convert)
        except BaseException:
            self._stream.close()
            raise

    def __enter__(self) -> pacsv.CSVStreamingReader:
        return self.reader

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
        self._stream.close()


# -- executors ----------------------------------------------------------------------------------
class ChunkExecutor(Protocol):
    """Runs ``fn`` over tasks on some workers and yields results as they finish.

    ``fn`` is a plain top-level function and each task a small picklable value, so any
    executor can ship them: a local process pool now, Ray's actors later. Implementations
    consume ``tasks`` lazily and hold at most a few tasks in flight per worker (tasks may
    carry rows), and raise the first error ``fn`` raised.
    """

    @property
    def workers(self) -> int:
        """How many chunks run at once."""

    def map_unordered(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        """``fn(task)`` for every task, in completion order."""


def _init_worker(
    job: int, initializer: Callable[..., object] | None, initargs: tuple[Any, ...]
) -> None:
    _end_with(job)
    if initializer is not None:
        initializer(*initargs)


def _end_with(job: int) -> None:
    """End this worker when the job process ``job`` ends: a job killed with SIGKILL runs no
    clean-up, and its workers would score on for nobody (under ``forkserver`` they are not
    even its children, and the fork server lives as long as they do)."""
    try:
        handle: int | None = os.pidfd_open(job)
    except (AttributeError, OSError):  # not Linux 5.3+: poll the pid instead
        handle = None
    threading.Thread(target=_exit_after, args=(job, handle), daemon=True).start()


def _exit_after(job: int, handle: int | None) -> None:
    if handle is not None:
        # poll, not select: a worker forked from a job holding many files gets a pidfd
        # past select's limit of 1024.
        watch = select.poll()
        watch.register(handle, select.POLLIN)
        watch.poll()  # readable once the process has ended
    else:
        while True:
            time.sleep(1.0)
            try:
                os.kill(job, 0)
            except ProcessLookupError:
                break
            except PermissionError:  # alive, under another user
                continue
    os._exit(1)


class LocalProcessExecutor:
    """A pool of ``workers`` processes on this machine (``workers=1`` runs in-process).

    Args:
        workers: Processes; 1 runs every task in the calling process, without a pool.
        initializer: Called once in each worker before its first task (loads the model).
        initargs: Its arguments (picklable).
        max_in_flight: Tasks submitted but not finished; default two per worker, so every
            worker has its next chunk ready while the parent holds no more than that.
        start_method: How workers start. ``forkserver`` (the default where the platform
            has it) imports ``preload`` once in a server process and forks each worker from
            it: workers start in a fraction of a second, and never inherit the caller's
            threads (forking a process that runs an OpenMP pool or a server can hang the
            child). ``spawn`` starts clean interpreters (slower: each imports everything);
            ``fork`` is fastest where the caller is known to run no threads.
        preload: Modules the fork server imports before forking workers (the worker
            function's module, the model's library). Only the process's first fork
            server takes them.

    With ``forkserver`` and ``spawn``, a script that runs jobs needs the usual
    ``if __name__ == "__main__":`` guard: workers import the main module.
    """

    def __init__(
        self,
        workers: int,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        max_in_flight: int | None = None,
        start_method: str | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        if workers < 1:
            raise InvalidArgumentError(f"--workers must be at least 1, got {workers}.")
        self._workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._max_in_flight = max_in_flight or 2 * workers
        methods = multiprocessing.get_all_start_methods()
        self._start_method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self._preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None
        self._initialized = False

    @property
    def workers(self) -> int:
        return self._workers

    def start(self) -> None:
        """Start the worker processes now rather than at the first task, so their start-up
        (imports, the initializer) overlaps the caller's own preparation."""
        if self._workers > 1:
            pool = self._get_pool()
            for _ in range(self._workers):
                pool.submit(_started)

    def map_unordered(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        if self._workers == 1:
            return self._map_in_process(fn, tasks)
        return self._map_in_pool(fn, tasks)

    def _map_in_process(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        if not self._initialized and self._initializer is not None:
            self._initializer(*self._initargs)
        self._initialized = True
        for task in tasks:
            yield fn(task)

    def _map_in_pool(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        pool = self._get_pool()
        pending: set[Future[_R]] = set()
        try:
            for task in tasks:
                pending.add(pool.submit(fn, task))
                if len(pending) >= self._max_in_flight:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from _results(done)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _results(done)
        finally:
            for future in pending:
                future.cancel()

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context(self._start_method)
            if self._start_method == "forkserver" and self._preload:
                context.set_forkserver_preload(self._preload)
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(os.getpid(), self._initializer, self._initargs),
            )
        return self._pool

    def close(self) -> None:
        """Stop the workers; chunks not started yet are dropped (a rerun resumes them)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _started() -> None:
    """A no-op task: submitting one per worker makes the pool start them all."""


def _results(done: set[Future[_R]]) -> Iterator[_R]:
    for future in done:
        try:
            yield future.result()
        except BrokenProcessPool as exc:
            raise BackendUnavailableError(
                "A batch worker process died (killed, or out of memory?). Run the same "
                "command again to resume, with a smaller --chunk-rows or fewer --workers "
                "if memory is short."
            ) from exc


def default_workers() -> int:
    """All cores: ``os.cpu_count()``."""
    return os.cpu_count() or 1
