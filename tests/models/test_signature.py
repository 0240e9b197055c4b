"""Signatures inferred from input examples, stored in MLflow's encoding."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from tests.models.conftest import fit, make_frame

from plinth.errors import InvalidArgumentError
from plinth.models import (
    ColumnSpec,
    ModelSignature,
    TensorSpec,
    infer_signature,
    load_model,
    save_model,
)


def test_a_dataframe_gives_column_names_and_types() -> None:
    frame = pd.DataFrame(
        {
            "score": [0.5],
            "visits": [3],
            "small": np.array([1], dtype="int32"),
            "ratio": np.array([0.1], dtype="float32"),
            "plan": ["gold"],
            "active": [True],
            "since": pd.to_datetime(["2024-01-01"]),
        }
    )

    signature = infer_signature(frame)

    assert signature.inputs == (
        ColumnSpec(name="score", type="double"),
        ColumnSpec(name="visits", type="long"),
        ColumnSpec(name="small", type="integer"),
        ColumnSpec(name="ratio", type="float"),
        ColumnSpec(name="plan", type="string"),
        ColumnSpec(name="active", type="boolean"),
        ColumnSpec(name="since", type="datetime"),
    )
    assert signature.outputs is None


def test_records_give_the_same_columns_as_a_frame() -> None:
    records = [{"tenure": 1.5, "calls": 2, "plan": "gold"}, {"tenure": 3.0, "calls": 0}]

    signature = infer_signature(records)

    assert signature.inputs == (
        ColumnSpec(name="tenure", type="double"),
        # A key missing from one record becomes NaN: ints turn double, as in pandas.
        ColumnSpec(name="calls", type="long"),
        ColumnSpec(name="plan", type="string"),
    )


def test_an_ndarray_gives_a_tensor_spec_with_any_batch_size() -> None:
    signature = infer_signature(np.zeros((5, 4), dtype=np.float32))

    assert signature.inputs == (TensorSpec(dtype="float32", shape=(-1, 4)),)
    assert signature.is_tensor_based


def test_a_prediction_vector_is_one_unnamed_column() -> None:
    signature = infer_signature(make_frame(3), np.array([0, 1, 0]))

    assert signature.outputs == (ColumnSpec(type="long"),)


def test_a_column_mixing_types_is_refused_by_name() -> None:
    frame = pd.DataFrame({"ok": [1.0, 2.0], "mixed": [1, "two"]})

    with pytest.raises(InvalidArgumentError, match=r"'mixed'.*int, str"):
        infer_signature(frame)


def test_an_unsupported_example_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="DataFrame, a list of dicts or a numpy"):
        infer_signature("not data")


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(infer_signature(make_frame(2), np.array([1, 0])), id="columns"),
        pytest.param(infer_signature(np.zeros((2, 3), dtype=np.float64)), id="tensor"),
        pytest.param(
            ModelSignature(inputs=(ColumnSpec(name="opt", type="double", required=False),)),
            id="optional",
        ),
    ],
)
def test_a_signature_round_trips_through_mlmodel(signature: ModelSignature) -> None:
    assert ModelSignature.from_mlmodel(signature.to_mlmodel()) == signature


def test_a_signature_mlflow_encoded_parses(mlflow: ModuleType) -> None:
    frame = make_frame(3)
    with warnings.catch_warnings():  # MLflow hints that int columns cannot hold NaN
        warnings.simplefilter("ignore")
        encoded = mlflow.models.infer_signature(frame, np.array([0, 1, 1])).to_dict()

    signature = ModelSignature.from_mlmodel(encoded)

    assert signature.inputs == (
        ColumnSpec(name="tenure", type="double"),
        ColumnSpec(name="calls", type="long"),
    )
    assert signature.outputs == (TensorSpec(dtype="int64", shape=(-1,)),)


def test_save_infers_inputs_and_outputs_from_the_example(tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)

    package = save_model(fitted.model, tmp_path / "pkg", input_example=make_frame(4))

    assert package.signature is not None
    assert [s.name for s in package.signature.inputs] == ["tenure", "calls"]
    assert package.signature.outputs == (ColumnSpec(type="long"),)
    assert load_model(tmp_path / "pkg").metadata.signature == package.signature


def test_records_work_as_an_input_example(tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)
    records = make_frame(2).to_dict(orient="records")

    package = save_model(fitted.model, tmp_path / "pkg", input_example=records)

    assert package.signature is not None
    assert package.signature.inputs == (
        ColumnSpec(name="tenure", type="double"),
        ColumnSpec(name="calls", type="long"),
    )


def test_an_explicit_signature_wins_over_the_example(tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)
    signature = ModelSignature(
        inputs=(ColumnSpec(name="tenure", type="double"), ColumnSpec(name="calls", type="double"))
    )

    package = save_model(
        fitted.model, tmp_path / "pkg", signature=signature, input_example=make_frame(2)
    )

    assert package.signature == signature
