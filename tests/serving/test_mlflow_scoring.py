"""MLflow's scoring protocol codec: JSON and CSV invocations in, ``{"predictions"}`` out."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from plinth.errors import ErrorCode, InvalidArgumentError, UnsupportedMediaTypeError
from plinth.models.enforce import input_plan
from plinth.models.signature import ColumnSpec, ModelSignature, TensorSpec
from plinth.server.errors import HTTP_STATUS_FOR_CODE
from plinth.serving import mlflow_scoring

CUSTOMERS = ModelSignature(
    inputs=(
        ColumnSpec(type="float", name="age"),
        ColumnSpec(type="long", name="visits"),
        ColumnSpec(type="string", name="city"),
    )
)
IMAGES = ModelSignature(inputs=(TensorSpec(dtype="float32", shape=(-1, 2)),))
EXPECTED_CUSTOMERS = pd.DataFrame(
    {
        "age": np.array([31.5, 47.0], dtype=np.float32),
        "visits": [3, 12],
        "city": ["Oslo", "007"],
    }
)
JSON = "application/json"


def invoke(
    body: object, signature: ModelSignature | None = CUSTOMERS, content_type: str = JSON
) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return mlflow_scoring.decode_invocation(raw, content_type, signature).data


def predictions(value: object) -> object:
    return orjson.loads(mlflow_scoring.encode_predictions(value))["predictions"]


# -- the four JSON formats ------------------------------------------------------------------------
ROWS = [[31.5, 3, "Oslo"], [47, 12, "007"]]
RECORDS = [{"age": 31.5, "visits": 3, "city": "Oslo"}, {"city": "007", "visits": 12, "age": 47}]
COLUMNS = {"age": [31.5, 47], "visits": [3, 12], "city": ["Oslo", "007"]}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"dataframe_split": {"columns": ["age", "visits", "city"], "data": ROWS}},
            id="dataframe_split",
        ),
        pytest.param(
            {
                "dataframe_split": {
                    "columns": ["city", "age", "visits"],
                    "data": [[r[2], r[0], r[1]] for r in ROWS],
                }
            },
            id="dataframe_split-other-order",
        ),
        pytest.param({"dataframe_records": RECORDS}, id="dataframe_records"),
        pytest.param({"instances": RECORDS}, id="instances-records"),
        pytest.param({"instances": ROWS}, id="instances-rows"),
        pytest.param({"inputs": COLUMNS}, id="inputs-columns"),
        pytest.param({"inputs": ROWS}, id="inputs-rows"),
        pytest.param({"inputs": RECORDS}, id="inputs-records"),
    ],
)
def test_every_json_format_gives_the_signature_frame(body: dict[str, object]) -> None:
    frame = invoke(body)
    pd.testing.assert_frame_equal(frame, EXPECTED_CUSTOMERS)
    assert input_plan(CUSTOMERS)(frame) is frame


def test_dataframe_split_honours_the_index() -> None:
    body = {
        "dataframe_split": {"columns": ["age", "visits", "city"], "data": ROWS, "index": [7, 9]}
    }
    assert invoke(body).index.tolist() == [7, 9]


def test_dataframe_split_without_columns_numbers_them_like_pandas() -> None:
    frame = invoke({"dataframe_split": {"data": [[1, 2.5], [3, 4.5]]}}, signature=None)
    pd.testing.assert_frame_equal(frame, pd.DataFrame([[1, 2.5], [3, 4.5]]))


def test_params_are_returned() -> None:
    invocation = mlflow_scoring.decode_invocation(
        orjson.dumps({"inputs": COLUMNS, "params": {"top_k": 3}}), JSON, CUSTOMERS
    )
    assert invocation.params == {"top_k": 3}
    assert (
        mlflow_scoring.decode_invocation(orjson.dumps({"inputs": COLUMNS}), JSON, CUSTOMERS).params
        is None
    )


def test_extra_columns_are_kept_after_the_signature_ones() -> None:
    records = [r | {"user_id": f"u-{i}"} for i, r in enumerate(RECORDS)]
    frame = invoke({"dataframe_records": records})
    assert frame.columns.tolist() == ["age", "visits", "city", "user_id"]
    assert frame["user_id"].tolist() == ["u-0", "u-1"]


def test_missing_values_from_the_mlflow_client_are_read() -> None:
    # MLflow's client writes missing numbers and text as a bare NaN token.
    body = b'{"dataframe_split": {"columns": ["age", "visits", "city"], "data": [[NaN, 3, NaN]]}}'
    frame = invoke(body)
    assert np.isnan(frame["age"][0]) and pd.isna(frame["city"][0])


def test_bodies_written_by_the_mlflow_client_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    dump_input_data = pytest.importorskip("mlflow.utils.proto_json_utils").dump_input_data
    frame = pd.DataFrame({"age": [31.5, np.nan], "visits": [3, 12], "city": ["Oslo", None]})
    decoded = invoke(dump_input_data(frame).encode())
    assert decoded["visits"].tolist() == [3, 12]
    assert decoded["city"].tolist()[0] == "Oslo" and pd.isna(decoded["city"][1])
    array = invoke(dump_input_data(np.array([[0.5, 1.5]])).encode(), signature=IMAGES)
    np.testing.assert_array_equal(array, np.array([[0.5, 1.5]], dtype=np.float32))


# -- tensors and no signature ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"inputs": [[1, 2], [3, 4.5]]}, id="inputs"),
        pytest.param({"instances": [[1, 2], [3, 4.5]]}, id="instances"),
        pytest.param({"dataframe_split": {"data": [[1, 2], [3, 4.5]]}}, id="dataframe_split"),
    ],
)
def test_tensor_signature_gives_an_array_of_its_dtype(body: object) -> None:
    array = invoke(body, signature=IMAGES)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, np.array([[1, 2], [3, 4.5]], dtype=np.float32))


def test_tensor_shape_must_fit_the_signature() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"inputs has shape \[1, 3\], but the model's signature expects a float32 tensor "
        r"of shape \[-1, 2\]",
    ):
        invoke({"inputs": [[1, 2, 3]]}, signature=IMAGES)


def test_named_tensors_give_a_dict_of_arrays() -> None:
    signature = ModelSignature(
        inputs=(
            TensorSpec(dtype="float32", shape=(-1, 2), name="dense"),
            TensorSpec(dtype="int64", shape=(-1,), name="ids"),
        )
    )
    arrays = invoke({"inputs": {"dense": [[1, 2]], "ids": [7]}}, signature=signature)
    assert arrays["dense"].dtype == np.float32 and arrays["ids"].tolist() == [7]
    with pytest.raises(InvalidArgumentError, match=r"inputs is missing the tensor 'ids'"):
        invoke({"inputs": {"dense": [[1, 2]]}}, signature=signature)
    with pytest.raises(InvalidArgumentError, match=r"takes the named tensors dense, ids"):
        invoke({"inputs": [[1, 2]]}, signature=signature)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"inputs": [[1, 2], [3, 4]]}, np.array([[1, 2], [3, 4]]), id="rows-array"),
        pytest.param({"instances": [0.5, 1.5]}, np.array([0.5, 1.5]), id="flat-array"),
        pytest.param({"inputs": ["a", "b"]}, np.array(["a", "b"], dtype=object), id="strings"),
    ],
)
def test_without_a_signature_lists_give_arrays(
    body: object, expected: np.ndarray[Any, Any]
) -> None:
    array = invoke(body, signature=None)
    assert array.dtype == expected.dtype
    np.testing.assert_array_equal(array, expected)


def test_without_a_signature_columns_give_a_dict_and_records_a_frame() -> None:
    arrays = invoke({"inputs": {"a": [1, 2], "b": ["x", "y"]}}, signature=None)
    assert arrays["a"].tolist() == [1, 2] and arrays["b"].tolist() == ["x", "y"]
    frame = invoke({"instances": [{"a": 1, "b": "x"}, {"a": None, "b": "y"}]}, signature=None)
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]}))


def test_list_valued_columns_keep_one_list_per_row() -> None:
    signature = ModelSignature(inputs=(ColumnSpec(type="array", name="tokens"),))
    frame = invoke({"dataframe_records": [{"tokens": [1, 2]}, {"tokens": [3, 4]}]}, signature)
    assert frame["tokens"].tolist() == [[1, 2], [3, 4]]


def test_a_flat_list_is_the_column_of_a_one_column_model() -> None:
    signature = ModelSignature(inputs=(ColumnSpec(type="string", name="text"),))
    frame = invoke({"inputs": ["good", "bad"]}, signature=signature)
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"text": ["good", "bad"]}))


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            [{"age": 1}],
            r"Expected a JSON object; got a list\. MLflow 2\.0 changed the scoring protocol",
            id="top-level-list",
        ),
        pytest.param(
            {},
            r"Expected exactly one of dataframe_split, dataframe_records, instances, inputs; "
            r"got no keys\. MLflow 2\.0",
            id="no-keys",
        ),
        pytest.param(
            {"columns": ["a"], "data": [[1]]},
            r"got the keys columns, data\. MLflow 2\.0",
            id="mlflow-1-split",
        ),
        pytest.param(
            {"inputs": COLUMNS, "instances": ROWS},
            r"got the keys inputs, instances\. MLflow 2\.0",
            id="two-formats",
        ),
        pytest.param(b'"text"', r"Expected a JSON object; got str", id="json-string"),
        pytest.param(b"{not json", r"Request body is not valid JSON", id="not-json"),
    ],
)
def test_bodies_outside_the_protocol_carry_mlflows_hint(body: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        invoke(body)


def test_other_top_level_keys_are_ignored_as_mlflow_does() -> None:
    frame = invoke({"inputs": COLUMNS, "signature_version": 2})
    pd.testing.assert_frame_equal(frame, EXPECTED_CUSTOMERS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"dataframe_split": [[1]]}, r"dataframe_split must be an object", id="split-not-object"
        ),
        pytest.param(
            {"dataframe_split": {"columns": [1], "data": [[1]]}},
            r"dataframe_split\.columns must be a list of strings",
            id="split-columns",
        ),
        pytest.param(
            {"dataframe_split": {"columns": ["a"], "data": [[1]], "index": 3}},
            r"dataframe_split\.index must be a list",
            id="split-index",
        ),
        pytest.param(
            {
                "dataframe_split": {
                    "columns": ["age", "visits", "city"],
                    "data": [[1, 2, "x"], [1, 2]],
                }
            },
            r"dataframe_split rows must each have 3 values \(age, visits, city\); got rows of 2, 3",
            id="split-row-width",
        ),
        pytest.param(
            {"dataframe_split": {"columns": ["age"], "data": [7]}},
            r"dataframe_split row 0 must be a list of values",
            id="split-row-not-list",
        ),
        pytest.param(
            {"dataframe_records": {"age": [1]}},
            r"dataframe_records must be a list of objects",
            id="records-not-list",
        ),
        pytest.param(
            {"inputs": 5},
            r"inputs must be a list \(rows or a tensor\) or an object of columns; got int",
            id="inputs-scalar",
        ),
        pytest.param(
            {"inputs": {"age": 5}},
            r"inputs\.age must be a list of column values",
            id="column-not-list",
        ),
        pytest.param(
            {"inputs": [[1, 2]]}, r"inputs rows must each have 3 values", id="rows-too-narrow"
        ),
        pytest.param(
            {"inputs": [1, 2]},
            r"inputs must hold rows \(lists of 3 values\), records or an object of columns",
            id="flat-list-for-columns",
        ),
        pytest.param(
            {"dataframe_split": {"columns": ["age", "age"], "data": [[1, 2]]}},
            r"dataframe_split names a column twice: age, age",
            id="duplicate-columns",
        ),
        pytest.param(
            {"inputs": COLUMNS, "params": [1]},
            r"params must be a JSON object",
            id="params-not-object",
        ),
        pytest.param(
            {"inputs": {"age": [1, 2], "visits": [1], "city": ["a", "b"]}},
            r"every column needs the same number of rows; got age: 2, visits: 1, city: 2",
            id="ragged-columns",
        ),
    ],
)
def test_malformed_formats_name_the_field(body: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        invoke(body)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        pytest.param(
            [{"age": 1, "visits": 2}],
            r"Missing column 'city' required by the model's signature "
            r"\(age \(float\), visits \(long\), city \(string\)\)",
            id="missing-column",
        ),
        pytest.param(
            [{"age": 1, "visits": 2.5, "city": "x"}],
            r"dataframe_records column 'visits' must hold whole numbers that fit int64; "
            r"got fractional",
            id="fraction-for-long",
        ),
        pytest.param(
            [{"age": "old", "visits": 2, "city": "x"}],
            r"dataframe_records column 'age' must hold numbers \(float32\); got strings",
            id="text-for-float",
        ),
        pytest.param(
            [{"age": 1, "visits": 2, "city": 3}],
            r"dataframe_records column 'city' must hold strings; got integers",
            id="number-for-string",
        ),
        pytest.param(
            [{"age": 1, "visits": None, "city": "x"}],
            r"dataframe_records column 'visits' has missing values",
            id="null-for-long",
        ),
        pytest.param(
            [{"age": 1e39, "visits": 1, "city": "x"}],
            r"dataframe_records column 'age' has values outside the float32 range",
            id="float32-overflow",
        ),
    ],
)
def test_columns_that_do_not_fit_the_signature_are_named(
    records: list[object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        invoke({"dataframe_records": records})


# -- CSV ------------------------------------------------------------------------------------------
def test_csv_is_read_with_the_signature_types() -> None:
    frame = invoke(b"age,visits,city\n31.5,3,Oslo\n47,12,007\n", content_type="text/csv")
    pd.testing.assert_frame_equal(frame, EXPECTED_CUSTOMERS)


def test_csv_keeps_extra_columns_and_names_missing_ones() -> None:
    frame = invoke(b"user_id,age,visits,city\nu1,31.5,3,Oslo\n", content_type="text/csv")
    assert frame.columns.tolist() == ["age", "visits", "city", "user_id"]
    with pytest.raises(InvalidArgumentError, match=r"Missing column 'visits'"):
        invoke(b"age,city\n31.5,Oslo\n", content_type="text/csv")


def test_csv_without_a_signature_is_read_as_pandas_reads_it() -> None:
    frame = invoke(b"a,b\n1,x\n2,\n", signature=None, content_type="text/csv")
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [1, 2], "b": ["x", None]}))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", r"Could not read the body as CSV", id="empty"),
        pytest.param(
            b"age,visits,city\n\xff\xfe,1,x\n", r"Could not read the body as CSV", id="not-utf8"
        ),
        pytest.param(
            b"age,visits,city\nabc,1,x\n",
            r"CSV column 'age' must hold numbers \(float32\); got strings",
            id="text-for-float",
        ),
    ],
)
def test_unreadable_csv_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        invoke(body, content_type="text/csv")


# -- content types --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=UTF-8", 'application/json; charset="utf-8"'],
)
def test_json_content_types_with_a_utf8_charset_are_read(content_type: str) -> None:
    frame = invoke({"inputs": COLUMNS}, content_type=content_type)
    pd.testing.assert_frame_equal(frame, EXPECTED_CUSTOMERS)


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        pytest.param(
            "text/plain",
            r"Content type 'text/plain' is not supported; send application/json or text/csv",
            id="text-plain",
        ),
        pytest.param(
            "application/x-www-form-urlencoded", r"send application/json or text/csv", id="form"
        ),
        pytest.param(None, r"Content type None is not supported", id="none"),
        pytest.param(
            "application/json; charset=latin-1",
            r"Charset 'latin-1' is not supported; send the body as utf-8",
            id="latin-1",
        ),
        pytest.param(
            "text/csv; charset=utf-16", r"Charset 'utf-16' is not supported", id="csv-utf-16"
        ),
        pytest.param(
            "application/json; format=pandas-split",
            r"parameter 'format' is not supported .* MLflow 2\.0 changed",
            id="mlflow-1-format",
        ),
    ],
)
def test_unsupported_media_types_are_refused_with_415(
    content_type: str | None, message: str
) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match=message) as raised:
        mlflow_scoring.decode_invocation(b"{}", content_type, CUSTOMERS)
    assert isinstance(raised.value, InvalidArgumentError)
    assert HTTP_STATUS_FOR_CODE[raised.value.code] == 415
    assert raised.value.code is ErrorCode.UNSUPPORTED_MEDIA_TYPE


# -- encoding -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(np.array([1, 0]), [1, 0], id="ndarray-1d"),
        pytest.param(np.array([[0.25, 0.75]], dtype=np.float32), [[0.25, 0.75]], id="ndarray-2d"),
        pytest.param(np.array([0.5, np.nan]), [0.5, None], id="nan-is-null"),
        pytest.param(np.array(["yes", "no"]), ["yes", "no"], id="ndarray-str"),
        pytest.param(np.arange(6).reshape(2, 3).T, [[0, 3], [1, 4], [2, 5]], id="non-contiguous"),
        pytest.param(pd.Series([1.5, None]), [1.5, None], id="series"),
        pytest.param(pd.Series([1, None], dtype="Int64"), [1.0, None], id="nullable-series"),
        pytest.param(
            pd.DataFrame({"label": [1, 0], "score": [0.9, np.nan], "city": ["Oslo", None]}),
            [{"label": 1, "score": 0.9, "city": "Oslo"}, {"label": 0, "score": None, "city": None}],
            id="frame-records",
        ),
        pytest.param(
            pd.DataFrame({"at": np.array(["2024-05-01", "NaT"], "datetime64[ns]")}),
            [{"at": "2024-05-01T00:00:00"}, {"at": None}],
            id="frame-datetimes",
        ),
        pytest.param(
            {"label": np.array([1]), "probabilities": np.array([[0.1, 0.9]])},
            {"label": [1], "probabilities": [[0.1, 0.9]]},
            id="dict-of-arrays",
        ),
        pytest.param(np.float32(0.5), 0.5, id="numpy-scalar"),
        pytest.param(
            [np.int64(3), np.float64("nan"), "x"], [3, None, "x"], id="list-of-numpy-scalars"
        ),
        pytest.param([{0: 0.25, 1: 0.75}], [{"0": 0.25, "1": 0.75}], id="int-keys"),
    ],
)
def test_predictions_encode_like_mlflows_scoring_server(value: object, expected: object) -> None:
    assert predictions(value) == expected


def test_encoded_predictions_are_plain_json() -> None:
    body = mlflow_scoring.encode_predictions(pd.DataFrame({"score": [np.nan]}))
    assert json.loads(body) == {"predictions": [{"score": None}]}
