"""The worker side of batch inference: which columns a chunk is scored with, scoring one
chunk, and writing its part file.

``score_chunk(task)`` is what an executor runs, in a pool process or in the caller's: it
reads the chunk (a Parquet slice it opens itself, or rows the parent parsed from a CSV),
converts Arrow to pandas once, predicts, and writes the id columns, the predictions and the
model version with pyarrow to ``part-NNNNN.parquet``, atomically (a hidden temporary file,
fsync, rename): a part file that exists is complete, which is what resuming relies on.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from plinth.artifacts.durability import fsync_path
from plinth.errors import InvalidArgumentError
from plinth.models.loader import LoadedModel, load_package
from plinth.models.signature import ColumnSpec, ModelSignature, TensorSpec
from plinth.serving.chunks import ParquetSlice, index_columns, read_slice

PREDICTION_COLUMN = "prediction"
MODEL_VERSION_COLUMN = "model_version"
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
TEMP_SUFFIX = ".tmp"
PART_GLOB = f"{PART_PREFIX}*{PART_SUFFIX}"

CSV_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "integer": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
}
"""CSV has no widths: signature columns are parsed as the type the model takes, so an
``integer`` column is not read as int64 and then refused as an unsafe narrowing."""

# One loaded model per process, keyed by its package directory: a worker loads it once
# (in the pool's initializer, or on its first chunk under an executor that has none) and
# every later chunk reuses it.
_MODELS: dict[str, LoadedModel] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelColumns:
    """The input columns of a job.

    Attributes:
        ids: Copied to the output.
        features: What the model receives, in order.
        tensor_dtype: For a tensor signature, the dtype of the 2-D array the model takes.
        csv_types: Types to parse CSV columns as (the signature's).
    """

    ids: tuple[str, ...]
    features: tuple[str, ...]
    tensor_dtype: str | None = None
    csv_types: dict[str, pa.DataType] = field(default_factory=dict)


def choose_columns(
    signature: ModelSignature | None,
    schema: pa.Schema,
    id_cols: tuple[str, ...],
    *,
    input_label: str,
    model_uri: str,
) -> ModelColumns:
    """The id columns and what the model receives: its signature's columns, or (without a
    column signature) every input column but the ids.

    Raises:
        InvalidArgumentError: an id column, or a column the signature requires, that the
            input lacks; the message names the flag and the column.
    """
    available = [name for name in schema.names if name not in index_columns(schema)]
    for column in id_cols:
        if column not in available:
            raise InvalidArgumentError(
                f"--id-cols: column {column!r} is not in --input {input_label!r} "
                f"(it has: {', '.join(available)})."
            )
    inputs = signature.inputs if signature is not None else ()
    specs = [s for s in inputs if isinstance(s, ColumnSpec) and s.name]
    if specs and len(specs) == len(inputs):
        return _signature_columns(specs, available, id_cols, input_label, model_uri)
    features = tuple(name for name in available if name not in id_cols)
    if not features:
        raise InvalidArgumentError(
            f"--input {input_label!r} has no columns besides --id-cols to predict on."
        )
    tensors = [s for s in inputs if isinstance(s, TensorSpec)]
    dtype = tensors[0].dtype if len(tensors) == 1 == len(inputs) else None
    return ModelColumns(ids=id_cols, features=features, tensor_dtype=dtype)


def _signature_columns(
    specs: list[ColumnSpec],
    available: list[str],
    id_cols: tuple[str, ...],
    input_label: str,
    model_uri: str,
) -> ModelColumns:
    missing = [s for s in specs if s.required and s.name not in available]
    if missing:
        wanted = ", ".join(f"{s.name} ({s.type})" for s in missing)
        raise InvalidArgumentError(
            f"--input {input_label!r} lacks the column(s) {wanted} that --model "
            f"{model_uri} takes (its signature); the input has: {', '.join(available)}."
        )
    features = tuple(str(s.name) for s in specs if s.name in available)
    types = {str(s.name): CSV_TYPES[s.type] for s in specs if s.type in CSV_TYPES}
    csv_types = {name: kind for name, kind in types.items() if name in features}
    return ModelColumns(ids=id_cols, features=features, csv_types=csv_types)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoringSpec:
    """What every chunk of one job shares; small, so it travels with each task.

    Attributes:
        package: The local model package directory (an executor on other machines, such
            as Ray's, must make it available at the same path, or ship it with the task).
        model_uri: The URI the caller named (for messages).
        model_label: The ``model_version`` column's value.
        out_dir: The output directory.
        id_cols: Input columns copied to the output.
        features: Input columns the model receives, in order.
        tensor_dtype: For tensor signatures: the dtype of the 2-D array the model takes.
        chunk_rows: Most rows per ``predict`` call.
        protocol: The input's fsspec protocol.
        storage_options: fsspec options for a remote input.
        threads: Native threads (BLAS, OpenMP) per worker; ``None`` leaves them alone.
    """

    package: str
    model_uri: str
    model_label: str
    out_dir: str
    id_cols: tuple[str, ...]
    features: tuple[str, ...]
    tensor_dtype: str | None
    chunk_rows: int
    protocol: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None

    @property
    def read_columns(self) -> list[str]:
        return list(dict.fromkeys((*self.id_cols, *self.features)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkTask:
    """Chunk ``index`` of a job: a Parquet slice, or rows already parsed from a CSV."""

    spec: ScoringSpec
    index: int
    source: ParquetSlice | pa.Table


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkResult:
    """A scored chunk: its rows, and the CPU time its process spent on it (all threads)."""

    index: int
    rows: int
    cpu_seconds: float


def init_worker(spec: ScoringSpec) -> None:
    """Pool initializer: load the model once, then cap native threads so the workers do not
    oversubscribe the cores (in that order: the cap reaches only the thread pools of
    libraries already loaded, and unpickling the model loads its library's)."""
    model_for(spec)
    if spec.threads is not None:
        threadpool_limits(limits=spec.threads)


def model_for(spec: ScoringSpec) -> LoadedModel:
    """This process's loaded model for ``spec``, loading it on first use."""
    model = _MODELS.get(spec.package)
    if model is None:
        _MODELS.clear()
        model = _MODELS[spec.package] = load_package(spec.package, model_uri=spec.model_uri)
    return model


def remember_model(spec: ScoringSpec, model: LoadedModel) -> None:
    """Use ``model``, already loaded by the caller, for chunks scored in this process."""
    _MODELS.clear()
    _MODELS[spec.package] = model


def forget_models() -> None:
    """Drop this process's loaded model (the caller's, after an in-process job)."""
    _MODELS.clear()


def score_chunk(task: ChunkTask) -> ChunkResult:
    """Score one chunk and write its part file; what executors run."""
    started = time.process_time()
    spec = task.spec
    model = model_for(spec)
    scored = (score_table(model, table, spec) for table in _tables(task))
    rows = write_part(Path(spec.out_dir), task.index, scored)
    cpu = time.process_time() - started
    return ChunkResult(index=task.index, rows=rows, cpu_seconds=cpu)


def _tables(task: ChunkTask) -> Iterable[pa.Table]:
    spec = task.spec
    if isinstance(task.source, pa.Table):
        return (task.source,)
    return read_slice(
        task.source,
        columns=spec.read_columns,
        batch_rows=spec.chunk_rows,
        protocol=spec.protocol,
        storage_options=spec.storage_options,
    )


def score_table(model: LoadedModel, table: pa.Table, spec: ScoringSpec) -> pa.Table:
    """The output rows for ``table``: id columns, predictions, model version."""
    predictions = model.predict(_model_input(table, spec))
    columns = [(name, table.column(name)) for name in spec.id_cols]
    columns += prediction_columns(predictions, table.num_rows)
    columns.append((MODEL_VERSION_COLUMN, pa.repeat(spec.model_label, table.num_rows)))
    names = [name for name, _ in columns]
    clash = next((name for name in names if names.count(name) > 1), None)
    if clash is not None:
        raise InvalidArgumentError(
            f"Output column {clash!r} would appear twice: --id-cols, the model's outputs "
            f"and {MODEL_VERSION_COLUMN!r} must have distinct names; drop it from --id-cols."
        )
    return pa.Table.from_arrays([values for _, values in columns], names=names)


def _model_input(table: pa.Table, spec: ScoringSpec) -> pd.DataFrame | np.ndarray[Any, Any]:
    # One Arrow -> pandas conversion per chunk; the signature plan then passes a frame whose
    # dtypes match straight through.
    frame: pd.DataFrame = table.select(list(spec.features)).to_pandas()
    if spec.tensor_dtype is not None:
        return frame.to_numpy(dtype=np.dtype(spec.tensor_dtype))
    return frame


def prediction_columns(predictions: object, rows: int) -> list[tuple[str, pa.Array]]:
    """Predictions as named output columns.

    A 1-D result is ``prediction``; a 2-D array gives ``prediction_0``, ``prediction_1``
    ...; a DataFrame or a dict of outputs (ONNX) keeps its names, 2-D outputs suffixed the
    same way.

    Raises:
        InvalidArgumentError: an output whose length is not the chunk's row count, or with
            more than two dimensions.
    """
    if isinstance(predictions, pd.DataFrame):
        named: list[tuple[str, object]] = [(str(c), predictions[c]) for c in predictions.columns]
    elif isinstance(predictions, dict):
        named = [(str(name), values) for name, values in predictions.items()]
    else:
        named = [(PREDICTION_COLUMN, predictions)]
    return [column for name, values in named for column in _output_columns(name, values, rows)]


def _output_columns(name: str, values: object, rows: int) -> list[tuple[str, pa.Array]]:
    if isinstance(values, pd.Series):
        return _checked(name, rows, len(values), [(name, pa.Array.from_pandas(values))])
    array = np.asarray(values)
    if array.ndim == 1:
        return _checked(name, rows, len(array), [(name, pa.array(array))])
    if array.ndim == 2:
        columns = [np.ascontiguousarray(array[:, i]) for i in range(array.shape[1])]
        if len(columns) == 1:
            return _checked(name, rows, len(array), [(name, pa.array(columns[0]))])
        named = [(f"{name}_{i}", pa.array(column)) for i, column in enumerate(columns)]
        return _checked(name, rows, len(array), named)
    raise InvalidArgumentError(
        f"Model output {name!r} has shape {array.shape}; batch predictions take one value "
        "or one row of values per input row."
    )


def _checked(
    name: str, rows: int, length: int, columns: list[tuple[str, pa.Array]]
) -> list[tuple[str, pa.Array]]:
    if length != rows:
        raise InvalidArgumentError(
            f"Model output {name!r} has {length} values for {rows} input rows; batch "
            "predictions need one per row."
        )
    return columns


# -- part files ---------------------------------------------------------------------------------
def part_name(index: int) -> str:
    return f"{PART_PREFIX}{index:05d}{PART_SUFFIX}"


def part_index(name: str) -> int | None:
    """The chunk index of a part file's name, ``None`` for any other name."""
    if not (name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX)):
        return None
    digits = name[len(PART_PREFIX) : -len(PART_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def is_temp_part(name: str) -> bool:
    """A part file a killed job left half written."""
    return name.startswith("." + PART_PREFIX) and name.endswith(TEMP_SUFFIX)


def write_part(out_dir: Path, index: int, tables: Iterator[pa.Table]) -> int:
    """Write ``tables`` as part ``index``, atomically; returns the row count.

    The temporary name starts with a dot, so pandas, pyarrow and DuckDB globs skip it.
    """
    final = out_dir / part_name(index)
    temp = out_dir / f".{final.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
    rows = 0
    try:
        with contextlib.ExitStack() as stack:
            writer: pq.ParquetWriter | None = None
            for table in tables:
                if writer is None:
                    # Dictionary encoding pays only for the repeated model version; on ids
                    # and predictions its attempt costs more than the rest of the write.
                    writer = stack.enter_context(
                        pq.ParquetWriter(temp, table.schema, use_dictionary=[MODEL_VERSION_COLUMN])
                    )
                writer.write_table(_conformed(table, writer.schema))
                rows += table.num_rows
        if rows:
            # The rename publishes the part: fsync first, so a crash cannot publish an
            # empty file.
            fsync_path(temp)
            os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return rows


def _conformed(table: pa.Table, schema: pa.Schema) -> pa.Table:
    # A chunk streamed in several batches is one file, so every batch must have the first
    # batch's types (a pyfunc may return ints for one batch and floats for the next).
    if table.schema.equals(schema):
        return table
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidArgumentError(
            f"The model's outputs changed type within one chunk ({table.schema} after "
            f"{schema}); make predict return one type."
        ) from exc
