"""Signature enforcement at predict time, observed through a model that returns its input
as it received it (``Echo``) and through real scikit-learn models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.models.conftest import Echo, fit, make_frame

from plinth.errors import InvalidArgumentError
from plinth.models import (
    ColumnSpec,
    LoadedModel,
    ModelSignature,
    SignatureWarning,
    TensorSpec,
    load_model,
    save_model,
)

COLUMNS = ModelSignature(
    inputs=(
        ColumnSpec(name="tenure", type="double"),
        ColumnSpec(name="calls", type="long"),
        ColumnSpec(name="plan", type="string"),
        ColumnSpec(name="discount", type="double", required=False),
    )
)
TENSOR = ModelSignature(inputs=(TensorSpec(dtype="float32", shape=(-1, 2)),))


def echo(tmp_path: Path, signature: ModelSignature) -> LoadedModel:
    save_model(Echo(), tmp_path / "echo", signature=signature)
    return load_model(tmp_path / "echo")


def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {"tenure": [1.5, 30.0], "calls": [2, 7], "plan": ["gold", "basic"], "discount": [0.0, 0.1]}
    )


# -- columns -----------------------------------------------------------------------------------
def test_a_matching_frame_reaches_the_model_untouched(tmp_path: Path) -> None:
    frame = customers()

    assert echo(tmp_path, COLUMNS).predict(frame) is frame


def test_columns_in_an_object_index_match_too(tmp_path: Path) -> None:
    frame = customers()
    frame.columns = pd.Index(list(frame.columns), dtype=object)

    assert echo(tmp_path, COLUMNS).predict(frame) is frame


def test_an_int_column_for_a_double_is_converted(tmp_path: Path) -> None:
    frame = customers().assign(tenure=[1, 30])

    seen = echo(tmp_path, COLUMNS).predict(frame)

    assert isinstance(seen, pd.DataFrame)
    assert seen["tenure"].dtype == np.float64
    assert seen["tenure"].tolist() == [1.0, 30.0]


@pytest.mark.parametrize(
    ("column", "values"),
    [
        pytest.param("calls", np.array([2, 7], dtype="int32"), id="int32-to-long"),
        pytest.param("tenure", np.array([1.5, 3.0], dtype="float32"), id="float-to-double"),
        pytest.param("tenure", [True, False], id="bool-to-double"),
        pytest.param("calls", pd.array([2, 7], dtype="Int64"), id="nullable-int-to-long"),
    ],
)
def test_safe_conversions_happen(tmp_path: Path, column: str, values: Any) -> None:
    frame = customers().assign(**{column: values})

    seen = echo(tmp_path, COLUMNS).predict(frame)

    assert isinstance(seen, pd.DataFrame)
    assert seen[column].dtype == {"calls": np.int64, "tenure": np.float64}[column]


def test_columns_are_put_in_signature_order(tmp_path: Path) -> None:
    frame = customers()[["plan", "discount", "calls", "tenure"]]

    seen = echo(tmp_path, COLUMNS).predict(frame)

    assert isinstance(seen, pd.DataFrame)
    assert list(seen.columns) == ["tenure", "calls", "plan", "discount"]


def test_a_missing_column_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="missing the column 'calls'") as caught:
        echo(tmp_path, COLUMNS).predict(customers().drop(columns=["calls"]))

    assert caught.value.details["missing_columns"] == ["calls"]


def test_an_optional_column_may_be_absent(tmp_path: Path) -> None:
    seen = echo(tmp_path, COLUMNS).predict(customers().drop(columns=["discount"]))

    assert isinstance(seen, pd.DataFrame)
    assert list(seen.columns) == ["tenure", "calls", "plan"]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        pytest.param("calls", ["two", "seven"], r"'calls' has type .* expects long", id="str"),
        pytest.param("calls", [2.5, 7.0], r"'calls' has type float64.* expects long", id="float"),
        pytest.param("plan", [1, 2], r"'plan' has type int64.* expects string", id="int-as-str"),
    ],
)
def test_a_wrong_type_fails_naming_the_column_and_types(
    tmp_path: Path, column: str, values: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        echo(tmp_path, COLUMNS).predict(customers().assign(**{column: values}))


def test_missing_values_in_a_nullable_int_column_fail_for_long(tmp_path: Path) -> None:
    frame = customers().assign(calls=pd.array([2, None], dtype="Int64"))

    with pytest.raises(InvalidArgumentError, match="'calls' has missing values"):
        echo(tmp_path, COLUMNS).predict(frame)


def test_extra_columns_are_dropped_with_a_warning_naming_them(tmp_path: Path) -> None:
    frame = customers().assign(customer_id=["a", "b"], region=["n", "s"])

    with pytest.warns(SignatureWarning, match="'customer_id', 'region'"):
        seen = echo(tmp_path, COLUMNS).predict(frame)

    assert isinstance(seen, pd.DataFrame)
    assert list(seen.columns) == ["tenure", "calls", "plan", "discount"]


def test_records_become_a_typed_frame(tmp_path: Path) -> None:
    records = customers().to_dict(orient="records")

    seen = echo(tmp_path, COLUMNS).predict(records)

    assert isinstance(seen, pd.DataFrame)
    pd.testing.assert_frame_equal(seen, customers())


def test_an_ndarray_for_a_column_signature_gets_the_column_names(tmp_path: Path) -> None:
    signature = ModelSignature(
        inputs=(ColumnSpec(name="a", type="double"), ColumnSpec(name="b", type="double"))
    )

    seen = echo(tmp_path, signature).predict(np.array([[1.0, 2.0]]))

    assert isinstance(seen, pd.DataFrame)
    assert list(seen.columns) == ["a", "b"]


def test_an_ndarray_of_the_wrong_width_fails_listing_the_columns(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"expects 4 columns: tenure \(double\)"):
        echo(tmp_path, COLUMNS).predict(np.zeros((1, 2)))


def test_a_real_model_accepts_ints_for_a_double_column(tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)
    save_model(fitted.model, tmp_path / "pkg", input_example=make_frame(3))
    frame = make_frame(20).assign(tenure=lambda f: f["tenure"].round().astype("int64"))

    predictions = load_model(tmp_path / "pkg").predict(frame)

    expected = fitted.model.predict(frame.astype({"tenure": "float64"}))
    np.testing.assert_array_equal(predictions, expected)


def test_without_a_signature_input_passes_through(tmp_path: Path) -> None:
    save_model(Echo(), tmp_path / "echo")
    frame = customers()

    model = load_model(tmp_path / "echo")

    assert model.predict(frame) is frame
    assert isinstance(model.predict(frame.to_dict(orient="records")), pd.DataFrame)


# -- tensors -----------------------------------------------------------------------------------
def test_a_matching_tensor_reaches_the_model_untouched(tmp_path: Path) -> None:
    array = np.ones((3, 2), dtype=np.float32)

    assert echo(tmp_path, TENSOR).predict(array) is array


def test_a_small_int_tensor_is_cast_to_the_float_dtype(tmp_path: Path) -> None:
    seen = echo(tmp_path, TENSOR).predict(np.ones((3, 2), dtype=np.int16))

    assert isinstance(seen, np.ndarray)
    assert seen.dtype == np.float32


def test_a_lossy_tensor_cast_fails_naming_both_dtypes(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="float64 -> float32 is not a safe cast"):
        echo(tmp_path, TENSOR).predict(np.ones((3, 2), dtype=np.float64))


def test_a_tensor_of_the_wrong_shape_fails_naming_the_expected_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"shape \(3, 5\).*shape \(-1, 2\)"):
        echo(tmp_path, TENSOR).predict(np.ones((3, 5), dtype=np.float32))


def test_a_frame_for_a_tensor_signature_becomes_an_array(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0], "b": [2.0]}, dtype="float32")

    seen = echo(tmp_path, TENSOR).predict(frame)

    assert isinstance(seen, np.ndarray)
    assert seen.tolist() == [[1.0, 2.0]]
