from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plinth.errors import InvalidArgumentError
from plinth.tracking.inputs import describe_dataset


def make_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.array([1, 2, 3], dtype="int64"),
            "count": np.array([4, 5, 6], dtype="int32"),
            "score": np.array([0.5, 1.5, 2.5], dtype="float64"),
            "weight": np.array([1.0, 2.0, 3.0], dtype="float32"),
            "label": ["a", "b", "c"],
            "ok": [True, False, True],
            "at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    )


FRAME_COLSPEC = [
    {"name": "id", "type": "long"},
    {"name": "count", "type": "integer"},
    {"name": "score", "type": "double"},
    {"name": "weight", "type": "float"},
    {"name": "label", "type": "string"},
    {"name": "ok", "type": "boolean"},
    {"name": "at", "type": "datetime"},
]


def colspec(schema: str) -> list[dict[str, str]]:
    columns: list[dict[str, str]] = json.loads(schema)["mlflow_colspec"]
    return columns


def test_frame_description_has_schema_profile_and_in_memory_source() -> None:
    description = describe_dataset(make_frame())

    assert description.name == "dataset"
    assert description.source_type == "code"
    assert description.source == "in-memory"
    assert colspec(description.schema) == FRAME_COLSPEC
    assert json.loads(description.profile) == {"num_rows": 3, "num_elements": 21}
    assert len(description.digest) == 16
    int(description.digest, 16)


def test_frame_description_uses_given_name() -> None:
    assert describe_dataset(make_frame(), name="train").name == "train"


def test_frame_digest_is_stable_across_calls_and_copies() -> None:
    first = describe_dataset(make_frame()).digest

    assert describe_dataset(make_frame()).digest == first
    assert describe_dataset(make_frame().copy()).digest == first


def test_frame_digest_ignores_the_index() -> None:
    frame = make_frame()

    assert describe_dataset(frame.set_axis([10, 20, 30])).digest == describe_dataset(frame).digest


def test_frame_digest_changes_when_one_value_changes() -> None:
    frame = make_frame()
    changed = frame.copy()
    changed.loc[2, "score"] = 2.75

    assert describe_dataset(changed).digest != describe_dataset(frame).digest


def test_frame_digest_changes_when_a_column_is_renamed() -> None:
    frame = make_frame()
    renamed = frame.rename(columns={"score": "points"})

    assert describe_dataset(renamed).digest != describe_dataset(frame).digest


def test_frame_digest_changes_when_a_column_is_cast() -> None:
    frame = make_frame()
    cast = frame.astype({"id": "float64"})

    assert describe_dataset(cast).digest != describe_dataset(frame).digest


def test_frame_with_container_cells_gets_a_stable_digest() -> None:
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"tags": [["a"], ["b", "c"]], "meta": [{"k": 1}, None]})

    assert describe_dataset(frame()).digest == describe_dataset(frame()).digest
    assert colspec(describe_dataset(frame()).schema)[0] == {"name": "tags", "type": "string"}


@pytest.mark.parametrize(
    ("column", "expected_type"),
    [
        pytest.param(pd.Series([b"x", b"y"]), "binary", id="bytes"),
        pytest.param(pd.Series(["x", "y"], dtype="category"), "string", id="category"),
        pytest.param(pd.Series([1, None], dtype="Int64"), "long", id="nullable-int"),
        pytest.param(pd.Series([1, 2], dtype="uint8"), "integer", id="uint8"),
        pytest.param(pd.Series([1, 2], dtype="uint64"), "long", id="uint64"),
        pytest.param(pd.Series([True, None], dtype="boolean"), "boolean", id="nullable-bool"),
        pytest.param(pd.Series(["x", None], dtype="string"), "string", id="string-dtype"),
        pytest.param(
            pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("UTC")), "datetime", id="tz"
        ),
        pytest.param(pd.Series([1.5, 2], dtype=object), "double", id="object-numbers"),
    ],
)
def test_frame_column_types_map_to_colspec_names(column: pd.Series, expected_type: str) -> None:
    description = describe_dataset(pd.DataFrame({"c": column}))

    assert colspec(description.schema) == [{"name": "c", "type": expected_type}]


def test_array_description_has_tensorspec_and_profile() -> None:
    description = describe_dataset(np.zeros((4, 3)))

    schema = json.loads(description.schema)["mlflow_tensorspec"]
    assert json.loads(schema["features"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}
    ]
    assert schema["targets"] is None
    assert json.loads(description.profile) == {"num_rows": 4, "num_elements": 12}
    assert (description.source_type, description.source) == ("code", "in-memory")


def test_array_digest_is_stable_and_changes_with_one_value() -> None:
    array = np.arange(12, dtype="float64").reshape(4, 3)
    changed = array.copy()
    changed[3, 2] = -1.0

    assert describe_dataset(array).digest == describe_dataset(array.copy()).digest
    assert describe_dataset(changed).digest != describe_dataset(array).digest


def test_array_digest_depends_on_shape_and_layout_not_memory_order() -> None:
    array = np.arange(12, dtype="int64").reshape(4, 3)

    assert describe_dataset(array.reshape(3, 4)).digest != describe_dataset(array).digest
    assert describe_dataset(np.asfortranarray(array)).digest == describe_dataset(array).digest


def test_object_array_digest_hashes_values() -> None:
    def array() -> np.ndarray:
        return np.array(["a", None, ["list"]], dtype=object)

    assert describe_dataset(array()).digest == describe_dataset(array()).digest


def test_zero_dimensional_array_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="0-dimensional"):
        describe_dataset(np.array(5.0))


def test_parquet_file_is_described_from_its_footer(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    make_frame().to_parquet(path)

    description = describe_dataset(path)

    assert description.name == "train.parquet"
    assert description.source_type == "local"
    assert description.source == path.resolve().as_uri()
    assert colspec(description.schema) == FRAME_COLSPEC
    assert json.loads(description.profile) == {"num_rows": 3, "num_elements": 21}
    assert description.digest == hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_parquet_index_columns_are_not_data(tmp_path: Path) -> None:
    path = tmp_path / "indexed.parquet"
    make_frame().set_index("label").to_parquet(path)

    names = [column["name"] for column in colspec(describe_dataset(path).schema)]

    assert "label" not in names
    assert len(names) == 6


def test_file_digest_is_stable_and_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    make_frame().to_parquet(path)
    first = describe_dataset(path).digest
    assert describe_dataset(str(path)).digest == first

    changed = make_frame()
    changed.loc[0, "label"] = "z"
    changed.to_parquet(path)

    assert describe_dataset(path).digest != first


def test_csv_file_rows_are_counted_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    num_rows = 100_050
    pd.DataFrame({"x": np.arange(num_rows), "y": np.full(num_rows, 0.5)}).to_csv(path, index=False)

    description = describe_dataset(path, name="big")

    assert description.name == "big"
    assert colspec(description.schema) == [
        {"name": "x", "type": "long"},
        {"name": "y", "type": "double"},
    ]
    assert json.loads(description.profile) == {"num_rows": num_rows, "num_elements": 2 * num_rows}


def test_csv_with_header_only_has_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")

    description = describe_dataset(path)

    assert [column["name"] for column in colspec(description.schema)] == ["a", "b"]
    assert json.loads(description.profile) == {"num_rows": 0, "num_elements": 0}


def test_empty_csv_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nothing.csv"
    path.write_text("")

    with pytest.raises(InvalidArgumentError, match=r"nothing\.csv"):
        describe_dataset(path)


def write_parquet_directory(root: Path) -> Path:
    directory = root / "table"
    directory.mkdir()
    frame = make_frame()
    frame.iloc[:2].to_parquet(directory / "part-0.parquet")
    frame.iloc[2:].to_parquet(directory / "part-1.parquet")
    (directory / "_SUCCESS").write_text("")
    return directory


def test_parquet_directory_sums_rows_over_parts(tmp_path: Path) -> None:
    directory = write_parquet_directory(tmp_path)

    description = describe_dataset(directory)

    assert description.name == "table"
    assert description.source == directory.resolve().as_uri()
    assert colspec(description.schema) == FRAME_COLSPEC
    assert json.loads(description.profile) == {"num_rows": 3, "num_elements": 21}


def test_directory_digest_is_stable_and_tracks_file_names(tmp_path: Path) -> None:
    directory = write_parquet_directory(tmp_path)
    first = describe_dataset(directory).digest
    assert describe_dataset(directory).digest == first

    (directory / "part-1.parquet").rename(directory / "part-9.parquet")

    assert describe_dataset(directory).digest != first


def test_directory_digest_changes_when_one_file_changes(tmp_path: Path) -> None:
    directory = write_parquet_directory(tmp_path)
    first = describe_dataset(directory).digest

    (directory / "_SUCCESS").write_text("done")

    assert describe_dataset(directory).digest != first


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(["a.parquet", "b.csv"], id="mixed-formats"),
        pytest.param(["notes.txt"], id="unknown-format"),
    ],
)
def test_directory_without_one_readable_format_has_no_schema(
    tmp_path: Path, names: list[str]
) -> None:
    for name in names:
        make_frame().to_csv(tmp_path / name, index=False)

    description = describe_dataset(tmp_path)

    assert (description.schema, description.profile) == ("", "")
    assert len(description.digest) == 16


def test_missing_path_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        describe_dataset(tmp_path / "absent.parquet")


def test_unsupported_data_type_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="list"):
        describe_dataset([1, 2, 3])  # type: ignore[arg-type]


def test_corrupt_parquet_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")

    with pytest.raises(InvalidArgumentError, match=r"broken\.parquet"):
        describe_dataset(path)


def test_empty_path_string_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="empty"):
        describe_dataset("")


def test_frame_with_duplicate_column_names_is_described() -> None:
    frame = pd.DataFrame([[1, "a"]], columns=["x", "x"])

    assert [column["name"] for column in colspec(describe_dataset(frame).schema)] == ["x", "x"]
