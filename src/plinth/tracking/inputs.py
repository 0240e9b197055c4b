"""Describe a run's input data the way MLflow's ``log_input`` records it.

A :class:`DatasetDescription` carries a content digest (so two runs on the same data can be
matched), where the data came from, a schema and a small profile. Describing never loads a
file-backed dataset whole: Parquet is read from its footer and CSV in chunks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from plinth.errors import InvalidArgumentError

SOURCE_TYPE_CODE = "code"
SOURCE_TYPE_LOCAL = "local"
IN_MEMORY_SOURCE = "in-memory"
DEFAULT_DATASET_NAME = "dataset"
"""MLflow's name for a dataset logged without one."""

DIGEST_LENGTH = 16
"""Hex characters kept from the SHA-256: 64 bits, ample to tell a run's datasets apart."""

_FILE_CHUNK_BYTES = 1 << 20
_CSV_CHUNK_ROWS = 100_000

# infer_dtype() kinds of object columns that map to a colspec type; others become "string".
_OBJECT_KIND_TYPES = {
    "string": "string",
    "bytes": "binary",
    "boolean": "boolean",
    "integer": "long",
    "floating": "double",
    "mixed-integer-float": "double",
    "decimal": "double",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}

# Cells hash_pandas_object accepts in an object column; others (lists, dicts) go through repr.
_HASHABLE_OBJECT_KINDS = frozenset({"string", "bytes", "empty"})

_Column = tuple[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetDescription:
    """What a run logs about one input dataset.

    Attributes:
        name: Display name; the file or directory name for paths, else ``"dataset"``.
        digest: 16 hex characters of a SHA-256 over the content; equal data, equal digest.
        source_type: ``"code"`` for in-memory data, ``"local"`` for files.
        source: ``"in-memory"``, or the absolute ``file://`` URI of the path.
        schema: JSON, MLflow-style: ``{"mlflow_colspec": [{"name": ..., "type": ...}]}`` for
            tables, ``{"mlflow_tensorspec": ...}`` for arrays; ``""`` when the file format
            is not one that can be read without loading it (only Parquet and CSV are).
        profile: JSON ``{"num_rows": N, "num_elements": M}``; ``""`` when the schema is.
    """

    name: str
    digest: str
    source_type: str
    source: str
    schema: str
    profile: str


def describe_dataset(
    data: pd.DataFrame | npt.NDArray[np.generic] | str | Path, *, name: str | None = None
) -> DatasetDescription:
    """Describe in-memory data or a local file or directory of files.

    Args:
        data: A DataFrame, a NumPy array of at least one dimension, or the path of a file
            or directory (``str`` is taken as a path). A directory is one dataset: its
            digest covers every file, and its schema and row count come from its data
            files when they are all Parquet or all CSV (names starting with ``_`` or
            ``.``, like Spark's ``_SUCCESS``, are not data files).
        name: Display name; defaults to the path's name, or ``"dataset"``.

    Returns:
        The description, ready to log as a run input.

    Raises:
        InvalidArgumentError: If the path is empty or does not exist, a CSV or Parquet file
            cannot be read, the array is zero-dimensional, or ``data`` is of another type.
    """
    if isinstance(data, pd.DataFrame):
        return _describe_frame(data, name or DEFAULT_DATASET_NAME)
    if isinstance(data, np.ndarray):
        return _describe_array(data, name or DEFAULT_DATASET_NAME)
    if isinstance(data, str | Path):
        if data == "":
            # Path("") is the working directory; hashing all of it is never what was meant.
            raise InvalidArgumentError("dataset path must not be empty")
        return _describe_path(Path(data), name)
    kind = type(data).__name__
    raise InvalidArgumentError(f"cannot describe a dataset of type {kind}")


def _describe_frame(df: pd.DataFrame, name: str) -> DatasetDescription:
    columns = [(str(label), _pandas_type_name(series)) for label, series in df.items()]
    return DatasetDescription(
        name=name,
        digest=_frame_digest(df),
        source_type=SOURCE_TYPE_CODE,
        source=IN_MEMORY_SOURCE,
        schema=_colspec_json(columns),
        profile=_profile_json(len(df), int(df.size)),
    )


def _frame_digest(df: pd.DataFrame) -> str:
    # hash_pandas_object is vectorised (one uint64 per cell, no Python loop for numeric and
    # string columns) and deterministic across processes, unlike hash(); the index is left
    # out so that a filtered-then-reset frame matches the original data. Names and dtypes
    # are hashed too, since renaming or casting a column changes the dataset.
    sha = hashlib.sha256()
    sha.update(json.dumps([[str(label), str(s.dtype)] for label, s in df.items()]).encode())
    sha.update(f"rows={len(df)}".encode())  # keeps row count in a frame with no columns
    for _, series in df.items():
        sha.update(_series_hashes(series).tobytes())
    return sha.hexdigest()[:DIGEST_LENGTH]


def _series_hashes(series: pd.Series[Any]) -> npt.NDArray[np.uint64]:
    if pd.api.types.is_object_dtype(series.dtype):
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind not in _HASHABLE_OBJECT_KINDS:
            series = series.map(repr)
    hashes = pd.util.hash_pandas_object(series, index=False)
    # Fixed little-endian so that the digest is the same on every platform.
    return hashes.to_numpy(dtype=np.dtype("<u8"))


def _describe_array(array: npt.NDArray[np.generic], name: str) -> DatasetDescription:
    if array.ndim == 0:
        raise InvalidArgumentError("cannot describe a 0-dimensional array as a dataset")
    sha = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    if array.dtype.hasobject:
        # tobytes() of an object array is the cells' memory addresses, not their values.
        sha.update(_series_hashes(pd.Series(array.ravel(), dtype=object)).tobytes())
    else:
        sha.update(np.ascontiguousarray(array).tobytes())
    return DatasetDescription(
        name=name,
        digest=sha.hexdigest()[:DIGEST_LENGTH],
        source_type=SOURCE_TYPE_CODE,
        source=IN_MEMORY_SOURCE,
        schema=_tensorspec_json(array),
        profile=_profile_json(array.shape[0], int(array.size)),
    )


def _tensorspec_json(array: npt.NDArray[np.generic]) -> str:
    # MLflow describes arrays as one tensor with a variable first dimension; a colspec cannot
    # express a shape. "features" is itself a JSON string, as in MLflow's NumpyDataset.
    dtype = {"U": "str", "S": "bytes"}.get(array.dtype.kind, array.dtype.name)
    spec = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": [-1, *array.shape[1:]]}}
    return json.dumps({"mlflow_tensorspec": {"features": json.dumps([spec]), "targets": None}})


def _describe_path(path: Path, name: str | None) -> DatasetDescription:
    if not path.exists():
        raise InvalidArgumentError(f"dataset path {path} does not exist")
    resolved = path.resolve()
    if resolved.is_dir():
        files = sorted(p for p in resolved.rglob("*") if p.is_file())
        data_files = [f for f in files if not f.name.startswith(("_", "."))]
        digest = _directory_digest(resolved, files)
    else:
        data_files = [resolved]
        digest = _file_sha256(resolved).hex()[:DIGEST_LENGTH]
    schema, profile = _tabular_summary(data_files)
    return DatasetDescription(
        name=name or resolved.name,
        digest=digest,
        source_type=SOURCE_TYPE_LOCAL,
        source=resolved.as_uri(),
        schema=schema,
        profile=profile,
    )


def _file_sha256(path: Path) -> bytes:
    # Streamed so that a multi-gigabyte file costs 1 MiB of memory, not its size.
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_FILE_CHUNK_BYTES):
            sha.update(chunk)
    return sha.digest()


def _directory_digest(root: Path, files: list[Path]) -> str:
    # Hashing each file's path next to its own digest (not its raw bytes back to back) keeps
    # file boundaries in the hash: moving bytes from one file to the next changes the digest.
    sha = hashlib.sha256()
    for file in files:
        sha.update(file.relative_to(root).as_posix().encode() + b"\0")
        sha.update(_file_sha256(file))
    return sha.hexdigest()[:DIGEST_LENGTH]


def _tabular_summary(files: list[Path]) -> tuple[str, str]:
    suffixes = {file.suffix.lower() for file in files}
    reader = _TABLE_READERS.get(suffixes.pop()) if len(suffixes) == 1 else None
    if reader is None:
        return "", ""
    columns, num_rows = reader(files)
    return _colspec_json(columns), _profile_json(num_rows, num_rows * len(columns))


def _parquet_columns(files: list[Path]) -> tuple[list[_Column], int]:
    # Schema and row counts live in each file's footer, so no data page is read.
    schema = _read_parquet_footer(files[0]).schema.to_arrow_schema()
    index_columns = set(_pandas_index_columns(schema))
    columns = [
        (str(field.name), _arrow_type_name(field.type))
        for field in schema
        if field.name not in index_columns
    ]
    num_rows = sum(int(_read_parquet_footer(file).num_rows) for file in files)
    return columns, num_rows


def _read_parquet_footer(file: Path) -> Any:
    try:
        return pq.read_metadata(file)
    except pa.ArrowException as exc:
        raise InvalidArgumentError(f"could not read Parquet file {file}: {exc}") from exc


def _pandas_index_columns(schema: Any) -> list[str]:
    # DataFrame.to_parquet stores a non-range index as extra columns named in the pandas
    # metadata; they are row labels, not data, and describe_dataset(df) leaves them out too.
    metadata: dict[str, Any] = schema.pandas_metadata or {}
    return [column for column in metadata.get("index_columns", []) if isinstance(column, str)]


def _csv_columns(files: list[Path]) -> tuple[list[_Column], int]:
    columns: list[_Column] | None = None
    num_rows = 0
    for file in files:
        try:
            with pd.read_csv(file, chunksize=_CSV_CHUNK_ROWS) as chunks:
                for chunk in chunks:
                    # Types are inferred per chunk; the first one stands for the file, which
                    # is what a description without a full load can offer.
                    if columns is None:
                        columns = [(str(label), _pandas_type_name(s)) for label, s in chunk.items()]
                    num_rows += len(chunk)
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
            raise InvalidArgumentError(f"could not read CSV file {file}: {exc}") from exc
    return columns or [], num_rows


_TABLE_READERS: dict[str, Callable[[list[Path]], tuple[list[_Column], int]]] = {
    ".parquet": _parquet_columns,
    ".csv": _csv_columns,
}


def _pandas_type_name(series: pd.Series[Any]) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _pandas_type_name(pd.Series(dtype.categories))
    if pd.api.types.is_object_dtype(dtype):
        return _OBJECT_KIND_TYPES.get(pd.api.types.infer_dtype(series, skipna=True), "string")
    # Checked before kind: pandas' "str"/"string" dtypes report kind "O".
    if pd.api.types.is_string_dtype(dtype):
        return "string"
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind == "M":
        return "datetime"
    if dtype.kind in "iuf":
        return _numeric_type_name(dtype.kind, int(getattr(dtype, "itemsize", 8)))
    # timedelta, complex, period, interval...: colspec has no name for them.
    return "string"


def _arrow_type_name(arrow_type: Any) -> str:
    types = pa.types
    if types.is_dictionary(arrow_type):
        return _arrow_type_name(arrow_type.value_type)
    if types.is_boolean(arrow_type):
        return "boolean"
    if types.is_integer(arrow_type):
        kind = "i" if types.is_signed_integer(arrow_type) else "u"
        return _numeric_type_name(kind, arrow_type.bit_width // 8)
    if types.is_floating(arrow_type):
        return _numeric_type_name("f", arrow_type.bit_width // 8)
    if types.is_timestamp(arrow_type) or types.is_date(arrow_type):
        return "datetime"
    binary_checks = (types.is_binary, types.is_large_binary, types.is_fixed_size_binary)
    if any(check(arrow_type) for check in binary_checks):
        return "binary"
    return "string"


def _numeric_type_name(kind: str, itemsize: int) -> str:
    if kind == "f":
        return "float" if itemsize <= 4 else "double"
    # colspec "integer" is signed 32-bit and "long" signed 64-bit, as in MLflow's numpy
    # mapping. uint64 has no exact name; "long" is the nearest.
    if (kind == "i" and itemsize <= 4) or (kind == "u" and itemsize <= 2):
        return "integer"
    return "long"


def _colspec_json(columns: list[_Column]) -> str:
    return json.dumps({"mlflow_colspec": [{"name": n, "type": t} for n, t in columns]})


def _profile_json(num_rows: int, num_elements: int) -> str:
    return json.dumps({"num_rows": num_rows, "num_elements": num_elements})
