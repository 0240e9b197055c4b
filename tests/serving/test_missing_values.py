"""Which model errors on a request holding NaN or null are the caller's: only those whose
message names the missing values, as the libraries' own errors do. Real scikit-learn
pipelines raise here; nothing is faked."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from plinth.serving.dataplane import _blames_missing_values, _missing_values

FRAME = pd.DataFrame(
    {"plan": ["basic", "pro"] * 50, "tenure": np.linspace(1.0, 72.0, 100).round(2)}
)
LABELS = (FRAME["tenure"] < 24).astype(int)


def pipeline(plan: Any, tenure: Any) -> Any:
    columns = ColumnTransformer([("plan", plan, ["plan"]), ("tenure", tenure, ["tenure"])])
    return make_pipeline(columns, LogisticRegression(max_iter=500)).fit(FRAME, LABELS)


def raised(model: Any, row: dict[str, Any]) -> BaseException:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as caught:  # any library error
            model.predict(pd.DataFrame([row]))
    return caught.value


@pytest.mark.parametrize(
    ("model", "row", "column"),
    [
        pytest.param(
            pipeline(OneHotEncoder(), "passthrough"),
            {"plan": None, "tenure": 3.0},
            "'plan'",
            id="unknown-category-None",
        ),
        pytest.param(
            pipeline(OneHotEncoder(), "passthrough"),
            {"plan": "pro", "tenure": float("nan")},
            "'tenure'",
            id="input-contains-NaN",
        ),
        pytest.param(
            pipeline(OneHotEncoder(handle_unknown="ignore"), FunctionTransformer(np.log)),
            {"plan": "pro", "tenure": None},
            "'tenure'",
            id="ufunc-on-NoneType",
        ),
    ],
)
def test_library_errors_about_missing_values_blame_them(
    model: Any, row: dict[str, Any], column: str
) -> None:
    error = raised(model, row)

    assert _blames_missing_values(error), error
    assert column in str(_missing_values(pd.DataFrame([row])))


@pytest.fixture(scope="module", params=["lightgbm", "xgboost"])
def boosted(request: pytest.FixtureRequest) -> Any:
    """A gradient-boosted model on two numeric columns: NaN is a value to it, but a column
    holding only nulls reaches it as ``object`` and is refused by name."""
    numbers = pd.DataFrame({"tenure": FRAME["tenure"], "calls": FRAME["tenure"] % 7})
    if request.param == "lightgbm":
        lightgbm = pytest.importorskip("lightgbm")
        return lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(numbers, LABELS)
    xgboost = pytest.importorskip("xgboost")
    return xgboost.XGBClassifier(n_estimators=3).fit(numbers, LABELS)


def test_a_boosted_models_refusal_of_an_all_null_column_blames_it(boosted: Any) -> None:
    frame = pd.DataFrame([{"tenure": None, "calls": 2.0}])
    error = raised(boosted, {"tenure": None, "calls": 2.0})

    assert _blames_missing_values(error, frame), error
    assert _missing_values(frame) == "column(s) 'tenure'"


def test_a_refused_null_column_is_found_whatever_its_name() -> None:
    xgboost = pytest.importorskip("xgboost")
    numbers = pd.DataFrame({"tenure, months": FRAME["tenure"], "calls: n": FRAME["tenure"] % 7})
    model = xgboost.XGBClassifier(n_estimators=3).fit(numbers, LABELS)
    row = {"tenure, months": None, "calls: n": 2.0}
    error = raised(model, row)

    assert _blames_missing_values(error, pd.DataFrame([row])), error


@pytest.mark.parametrize(
    ("message", "blamed"),
    [
        ("Fields with bad pandas dtypes: a: object", True),
        ("Fields with bad pandas dtypes: a: object, b: object", False),  # b holds text
        ("Invalid columns:ba: object", False),  # not a's entry, though it ends like it
        ("Invalid columns:,a: object", False),
        ("Invalid columns:a: objects", False),
    ],
)
def test_only_entries_naming_null_only_columns_blame_them(message: str, blamed: bool) -> None:
    frame = pd.DataFrame({"a": [None], "b": ["text"], "ba": [1.0]})

    assert _blames_missing_values(ValueError(message), frame) is blamed


@pytest.mark.parametrize(
    "row",
    [{"tenure": "long", "calls": 2.0}, {"tenure": "long", "calls": None}],
    ids=["text", "text-and-a-null-elsewhere"],
)
def test_a_boosted_models_refusal_of_text_stays_the_models(
    boosted: Any, row: dict[str, Any]
) -> None:
    error = raised(boosted, row)

    assert not _blames_missing_values(error, pd.DataFrame([row])), error


def test_pandas_refusals_of_missing_values_blame_them() -> None:
    with pytest.raises(ValueError) as cast:
        pd.Series([1.0, None]).astype("int64")
    with pytest.raises(TypeError) as truth:
        bool(pd.NA)
    with pytest.raises(ValueError) as to_int:
        int(float("nan"))

    assert all(_blames_missing_values(e.value) for e in (cast, truth, to_int))


@pytest.mark.parametrize(
    "error",
    [
        ValueError("calls == 99 is not handled"),
        RuntimeError("nanoseconds overflow"),
        # The model's own bugs, whatever their words: an attribute never loaded, a column
        # it selects that does not exist.
        AttributeError("'NoneType' object has no attribute 'get'"),
        KeyError("None of [Index(['n_calls'], dtype='str')] are in the [columns]"),
        ValueError("None of the thresholds were met"),
    ],
)
def test_other_errors_stay_the_models(error: BaseException) -> None:
    assert not _blames_missing_values(error)


def test_missing_values_are_found_in_frames_tensors_and_arrays() -> None:
    assert _missing_values(pd.DataFrame({"a": [1.0], "b": ["x"]})) is None
    tensors = {"x": np.array([1.0, np.nan]), "y": np.array([1.0, 2.0])}
    assert _missing_values(tensors) == "input(s) 'x'"
    assert _missing_values(np.array(["a", None], dtype=object)) == "the input"
    assert _missing_values(np.array([1, 2])) is None
