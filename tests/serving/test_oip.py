"""The Open Inference Protocol v2 codec: infer requests in, infer responses and metadata out."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from plinth.errors import InvalidArgumentError, PlinthError
from plinth.models.enforce import input_plan
from plinth.models.signature import ColumnSpec, ModelSignature, TensorSpec
from plinth.serving import oip

CUSTOMERS = ModelSignature(
    inputs=(
        ColumnSpec(type="double", name="age"),
        ColumnSpec(type="long", name="visits"),
        ColumnSpec(type="string", name="city"),
    ),
    outputs=(ColumnSpec(type="long"),),
)
IMAGES = ModelSignature(inputs=(TensorSpec(dtype="float32", shape=(-1, 4), name="pixels"),))


def tensor(name: str, datatype: str, shape: list[int], data: object) -> dict[str, object]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def request(*inputs: dict[str, object], **fields: object) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **fields})


def decode(*inputs: dict[str, object], signature: ModelSignature | None = None) -> Any:
    return oip.decode_infer_request(request(*inputs), signature).data


def customers(**overrides: dict[str, object]) -> list[dict[str, object]]:
    inputs = {
        "age": tensor("age", "FP64", [2], [31.5, 47.0]),
        "visits": tensor("visits", "INT64", [2, 1], [[3], [12]]),
        "city": tensor("city", "BYTES", [2], ["Oslo", "Bergen"]),
    }
    return list((inputs | overrides).values())


def response(**kwargs: Any) -> dict[str, Any]:
    body = oip.encode_infer_response(
        model_name="churn", model_version="3", request_id="r1", **kwargs
    )
    decoded: dict[str, Any] = orjson.loads(body)
    return decoded


# -- decoding: datatypes and shapes ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        pytest.param("BOOL", [True, False], np.array([True, False]), id="BOOL"),
        pytest.param("UINT8", [0, 255], np.array([0, 255], dtype=np.uint8), id="UINT8"),
        pytest.param("UINT16", [0, 65535], np.array([0, 65535], dtype=np.uint16), id="UINT16"),
        pytest.param("UINT32", [0, 2**32 - 1], np.array([0, 2**32 - 1], np.uint32), id="UINT32"),
        pytest.param("UINT64", [0, 2**64 - 1], np.array([0, 2**64 - 1], np.uint64), id="UINT64"),
        pytest.param("INT8", [-128, 127], np.array([-128, 127], dtype=np.int8), id="INT8"),
        pytest.param("INT16", [-32768, 5], np.array([-32768, 5], dtype=np.int16), id="INT16"),
        pytest.param("INT32", [-(2**31), 7], np.array([-(2**31), 7], dtype=np.int32), id="INT32"),
        pytest.param("INT64", [-(2**63), 2**62], np.array([-(2**63), 2**62]), id="INT64"),
        pytest.param("FP16", [0.5, 3], np.array([0.5, 3.0], dtype=np.float16), id="FP16"),
        pytest.param("FP32", [0.25, -1], np.array([0.25, -1.0], dtype=np.float32), id="FP32"),
        pytest.param("FP64", [1e300, 2], np.array([1e300, 2.0]), id="FP64"),
        pytest.param("BYTES", ["a", "é"], np.array(["a", "é"], dtype=object), id="BYTES"),
    ],
)
def test_each_datatype_decodes_to_its_dtype(
    datatype: str, data: list[object], expected: np.ndarray[Any, Any]
) -> None:
    array = decode(tensor("x", datatype, [2], data))
    assert array.dtype == expected.dtype
    np.testing.assert_array_equal(array, expected)


def test_bytes_decode_to_python_strings() -> None:
    array = decode(tensor("text", "BYTES", [3], ["naïve", "", None]))
    assert array.tolist() == ["naïve", "", None]
    assert type(array[0]) is str


@pytest.mark.parametrize(
    "data",
    [
        pytest.param([1, 2, 3, 4, 5, 6], id="flat"),
        pytest.param([[1, 2, 3], [4, 5, 6]], id="nested"),
        pytest.param([[[1, 2, 3]], [[4, 5, 6]]], id="nested-deeper-same-order"),
    ],
)
def test_data_fills_the_shape_row_major(data: list[object]) -> None:
    array = decode(tensor("x", "INT32", [2, 3], data))
    np.testing.assert_array_equal(array, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))


def test_integers_beyond_64_bits_are_refused() -> None:
    body = (
        b'{"inputs": [{"name": "x", "datatype": "UINT64", "shape": [1], '
        b'"data": [18446744073709551616]}]}'
    )
    with pytest.raises(InvalidArgumentError, match=r"outside the uint64 range"):
        oip.decode_infer_request(body, None)


def test_null_in_float_data_is_nan() -> None:
    array = decode(tensor("x", "FP32", [2], [1.5, None]))
    assert array.dtype == np.float32
    assert array[0] == 1.5 and np.isnan(array[1])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(
            tensor("x", "INT32", [2, 2], [1, 2, 3]),
            r"has 3 values in data, but its shape \[2, 2\] needs 4",
            id="too-few",
        ),
        pytest.param(
            tensor("x", "INT32", [1], [1, 2]),
            r"has 2 values in data, but its shape \[1\] needs 1",
            id="too-many",
        ),
        pytest.param(
            tensor("x", "UINT8", [1], [256]),
            r"outside the uint8 range \[0, 255\]",
            id="uint8-overflow",
        ),
        pytest.param(
            tensor("x", "UINT32", [1], [-1]), r"outside the uint32 range", id="negative-unsigned"
        ),
        pytest.param(
            tensor("x", "INT64", [2], [-1, 2**63]), r"outside the int64 range", id="int64-overflow"
        ),
        pytest.param(
            tensor("x", "INT32", [2], [1, 1.5]),
            r"whole numbers that fit int32; got fractional numbers such as 1.5",
            id="fraction-for-int",
        ),
        pytest.param(
            tensor("x", "INT64", [2], [1, None]),
            r"missing values \(null or NaN\), which int64 cannot hold",
            id="null-for-int",
        ),
        pytest.param(
            tensor("x", "INT64", [1], ["7"]),
            r"whole numbers that fit int64; got strings",
            id="string-for-int",
        ),
        pytest.param(
            tensor("x", "BOOL", [2], [1, 0]),
            r"booleans \(true / false\); got integers",
            id="ints-for-bool",
        ),
        pytest.param(tensor("x", "INT8", [1], [True]), r"got booleans", id="bool-for-int"),
        pytest.param(
            tensor("x", "FP32", [1], [1e39]), r"outside the float32 range", id="float32-overflow"
        ),
        pytest.param(
            tensor("x", "FP16", [1], [70000]), r"outside the float16 range", id="float16-overflow"
        ),
        pytest.param(
            tensor("x", "FP64", [2], [1.0, "2"]),
            r"must hold numbers \(float64\); got numbers, strings",
            id="string-for-float",
        ),
        pytest.param(
            tensor("x", "BYTES", [2], ["a", 1]),
            r"must hold strings; got integers, strings",
            id="number-for-bytes",
        ),
        pytest.param(tensor("x", "FP64", [2, 2], [[1, 2], [3]]), r"rectangular array", id="ragged"),
    ],
)
def test_values_that_do_not_fit_are_refused_naming_the_input(
    payload: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"inputs\[0\] \('x'\)") as raised:
        decode(payload)
    assert raised.match(message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{not json", r"not valid JSON", id="not-json"),
        pytest.param(
            b"[1, 2]", r"must be a JSON object with an 'inputs' list; got list", id="top-level-list"
        ),
        pytest.param(b"{}", r"inputs must be a non-empty list", id="no-inputs"),
        pytest.param(b'{"inputs": []}', r"inputs must be a non-empty list", id="empty-inputs"),
        pytest.param(b'{"inputs": [7]}', r"inputs\[0\] must be an object", id="input-not-object"),
        pytest.param(
            request(tensor("x", "FP32", [1], [1]), {"datatype": "FP32", "shape": [1], "data": [1]}),
            r"inputs\[1\]\.name must be a non-empty string",
            id="no-name",
        ),
        pytest.param(
            request({"name": "x", "datatype": "FP32", "shape": "abc", "data": [1]}),
            r"inputs\[0\]\.shape must be a list of non-negative integers; got 'abc'",
            id="shape-string",
        ),
        pytest.param(
            request(tensor("x", "FP32", [-1], [1])),
            r"inputs\[0\]\.shape must be a list of non-negative integers",
            id="shape-negative",
        ),
        pytest.param(
            request(tensor("x", "FP8", [1], [1])),
            r"inputs\[0\]\.datatype must be one of BOOL, .*BYTES; got 'FP8'",
            id="unknown-datatype",
        ),
        pytest.param(
            request({"name": "x", "datatype": "FP32", "shape": [1]}),
            r"inputs\[0\]\.data is missing",
            id="no-data",
        ),
        pytest.param(
            request(tensor("x", "FP32", [1], [1]) | {"parameters": [1]}),
            r"inputs\[0\]\.parameters must be a JSON object",
            id="input-parameters",
        ),
        pytest.param(
            request(tensor("x", "FP32", [1], [1]), tensor("x", "FP32", [1], [1])),
            r"duplicate names: x",
            id="duplicate-names",
        ),
        pytest.param(
            request(tensor("x", "FP32", [1], [1]), id=42),
            r"id must be a string; got 42",
            id="id-number",
        ),
        pytest.param(
            request(tensor("x", "FP32", [1], [1]), parameters="pd"),
            r"parameters must be a JSON object",
            id="parameters-string",
        ),
        pytest.param(
            request(tensor("x", "FP32", [1], [1]), outputs="y"),
            r"outputs must be a list",
            id="outputs-string",
        ),
        pytest.param(
            request(tensor("x", "FP32", [1], [1]), outputs=[{"nom": "y"}]),
            r"outputs\[0\]\.name must be a non-empty string",
            id="output-without-name",
        ),
    ],
)
def test_malformed_requests_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        oip.decode_infer_request(body, None)


def test_request_fields_are_returned() -> None:
    body = request(
        tensor("x", "FP64", [1], [1.0]),
        id="req-7",
        parameters={"priority": 2},
        outputs=[{"name": "probabilities"}, {"name": "label", "parameters": {}}],
    )
    decoded = oip.decode_infer_request(body, None)
    assert decoded.id == "req-7"
    assert decoded.parameters == {"priority": 2}
    assert decoded.requested_outputs == ["probabilities", "label"]


# -- decoding for each kind of signature ----------------------------------------------------------
def test_column_signature_gives_a_frame_in_signature_order() -> None:
    frame = decode(*reversed(customers()), signature=CUSTOMERS)
    expected = pd.DataFrame({"age": [31.5, 47.0], "visits": [3, 12], "city": ["Oslo", "Bergen"]})
    pd.testing.assert_frame_equal(frame, expected)
    # Built the way the model was trained on, so enforcement has nothing left to do.
    assert input_plan(CUSTOMERS)(frame) is frame


def test_column_inputs_convert_to_the_signature_types() -> None:
    frame = decode(
        *customers(
            age=tensor("age", "INT32", [2], [31, 47]),
            visits=tensor("visits", "FP64", [2], [3.0, 12.0]),
        ),
        signature=CUSTOMERS,
    )
    assert frame.dtypes.tolist()[:2] == [np.dtype("float64"), np.dtype("int64")]
    assert frame["visits"].tolist() == [3, 12]


def test_extra_inputs_are_kept_as_columns_for_sticky_keys() -> None:
    user = tensor("user_id", "BYTES", [2], ["u-1", "u-2"])
    frame = decode(user, *customers(), signature=CUSTOMERS)
    assert frame.columns.tolist() == ["age", "visits", "city", "user_id"]
    assert frame["user_id"].tolist() == ["u-1", "u-2"]


def test_a_missing_signature_column_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match=r"Missing input 'visits' required") as raised:
        decode(*customers()[::2], signature=CUSTOMERS)
    assert raised.value.details == {"missing_columns": ["visits"]}
    assert raised.match(r"age \(double\), visits \(long\), city \(string\)")


def test_an_optional_signature_column_may_be_absent() -> None:
    signature = ModelSignature(
        inputs=(
            ColumnSpec(type="double", name="age"),
            ColumnSpec(type="string", name="city", required=False),
        )
    )
    frame = decode(tensor("age", "FP64", [1], [40.0]), signature=signature)
    assert frame.columns.tolist() == ["age"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            tensor("age", "BYTES", [2], ["31", "47"]),
            r"inputs\[0\] \('age'\) must hold numbers \(float64\); got strings",
            id="text-for-double",
        ),
        pytest.param(
            tensor("visits", "FP64", [2], [3.5, 12]),
            r"inputs\[1\] \('visits'\) must hold whole numbers that fit int64; got fractional",
            id="fraction-for-long",
        ),
        pytest.param(
            tensor("city", "INT64", [2], [1, 2]),
            r"inputs\[2\] \('city'\) must hold strings; got integers",
            id="numbers-for-string",
        ),
        pytest.param(
            tensor("visits", "INT64", [2, 2], [1, 2, 3, 4]),
            r"inputs\[1\] \('visits'\) is a table column, so its shape must be \[n\] or "
            r"\[n, 1\]; got \[2, 2\]",
            id="not-a-column",
        ),
        pytest.param(
            tensor("visits", "INT64", [3], [1, 2, 3]),
            r"every column needs the same number of rows; got age: 2, visits: 3, city: 2",
            id="row-counts-differ",
        ),
    ],
)
def test_column_inputs_that_do_not_fit_the_signature_are_named(
    override: dict[str, object], message: str
) -> None:
    inputs = customers(**{str(override["name"]): override})
    with pytest.raises(InvalidArgumentError, match=message):
        decode(*inputs, signature=CUSTOMERS)


def test_datetime_and_binary_columns_decode_from_text() -> None:
    signature = ModelSignature(
        inputs=(ColumnSpec(type="datetime", name="at"), ColumnSpec(type="binary", name="blob"))
    )
    frame = decode(
        tensor("at", "BYTES", [2], ["2024-05-01T12:00:00", "2024-05-01T14:00:00+02:00"]),
        tensor("blob", "BYTES", [2], ["aGVsbG8=", None]),
        signature=signature,
    )
    assert frame["at"].dtype == np.dtype("datetime64[ns]")
    assert frame["at"].tolist() == [pd.Timestamp("2024-05-01 12:00")] * 2
    assert frame["blob"].tolist() == [b"hello", None]


@pytest.mark.parametrize(
    ("column_type", "value", "message"),
    [
        pytest.param(
            "datetime",
            "yesterday",
            r"inputs\[0\] \('x'\) must hold ISO-8601 date-times",
            id="bad-datetime",
        ),
        pytest.param(
            "binary",
            "***",
            r"inputs\[0\] \('x'\)\[0\] must be base64-encoded bytes",
            id="bad-base64",
        ),
    ],
)
def test_unreadable_datetime_or_binary_values_are_named(
    column_type: str, value: str, message: str
) -> None:
    signature = ModelSignature(inputs=(ColumnSpec(type=column_type, name="x"),))
    with pytest.raises(InvalidArgumentError, match=message):
        decode(tensor("x", "BYTES", [1], [value]), signature=signature)


def test_tensor_signature_reshapes_and_converts_to_the_spec_dtype() -> None:
    array = decode(tensor("x", "FP64", [2, 4], [0.5] * 8), signature=IMAGES)
    assert array.dtype == np.float32
    assert array.shape == (2, 4)
    assert input_plan(IMAGES)(array) is array


def test_tensor_shape_must_fit_the_signature() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"inputs\[0\] \('x'\) has shape \[2, 3\], but the model's signature expects a "
        r"float32 tensor of shape \[-1, 4\]",
    ):
        decode(tensor("x", "FP32", [2, 3], [0.5] * 6), signature=IMAGES)


def test_tensor_signature_takes_the_input_named_like_the_spec() -> None:
    array = decode(
        tensor("request_id", "BYTES", [1], ["r-1"]),
        tensor("pixels", "FP32", [1, 4], [1, 2, 3, 4]),
        signature=IMAGES,
    )
    np.testing.assert_array_equal(array, np.array([[1, 2, 3, 4]], dtype=np.float32))


def test_tensor_signature_refuses_several_inputs_without_its_name() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"takes one tensor named 'pixels'; got 2 inputs \(a, b\)"
    ):
        decode(tensor("a", "FP32", [1], [1]), tensor("b", "FP32", [1], [1]), signature=IMAGES)


def test_several_named_tensors_give_a_dict_of_arrays() -> None:
    signature = ModelSignature(
        inputs=(
            TensorSpec(dtype="float32", shape=(-1, 2), name="dense"),
            TensorSpec(dtype="int64", shape=(-1,), name="ids"),
        )
    )
    arrays = decode(
        tensor("ids", "INT32", [2], [7, 8]),
        tensor("dense", "FP64", [2, 2], [1, 2, 3, 4]),
        signature=signature,
    )
    assert set(arrays) == {"dense", "ids"}
    assert arrays["dense"].dtype == np.float32 and arrays["dense"].shape == (2, 2)
    assert arrays["ids"].dtype == np.int64
    with pytest.raises(InvalidArgumentError, match=r"Missing input 'dense' required"):
        decode(tensor("ids", "INT64", [1], [7]), signature=signature)


def test_without_a_signature_several_inputs_give_a_frame() -> None:
    frame = decode(tensor("a", "FP32", [2, 1], [1, 2]), tensor("b", "BYTES", [2], ["x", "y"]))
    pd.testing.assert_frame_equal(
        frame, pd.DataFrame({"a": np.array([1, 2], dtype=np.float32), "b": ["x", "y"]})
    )


def test_pandas_content_type_gives_a_frame_for_one_input() -> None:
    body = request(tensor("a", "INT64", [2], [1, 2]), parameters={"content_type": "pd"})
    frame = oip.decode_infer_request(body, None).data
    assert isinstance(frame, pd.DataFrame)
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [1, 2]}))


def test_unnamed_column_signatures_read_like_no_signature() -> None:
    signature = ModelSignature(inputs=(ColumnSpec(type="double"),))
    array = decode(tensor("x", "FP64", [2], [1, 2]), signature=signature)
    np.testing.assert_array_equal(array, np.array([1.0, 2.0]))


# -- encoding -------------------------------------------------------------------------------------
def test_1d_predictions_are_one_predict_output_of_shape_n_1() -> None:
    body = response(predictions=np.array([0.25, np.nan]))
    assert body == {
        "model_name": "churn",
        "model_version": "3",
        "id": "r1",
        "outputs": [{"name": "predict", "shape": [2, 1], "datatype": "FP64", "data": [0.25, None]}],
    }


@pytest.mark.parametrize(
    ("predictions", "datatype", "data"),
    [
        pytest.param(np.array([True, False]), "BOOL", [True, False], id="BOOL"),
        pytest.param(np.array([1, 255], dtype=np.uint8), "UINT8", [1, 255], id="UINT8"),
        pytest.param(np.array([1], dtype=np.uint16), "UINT16", [1], id="UINT16"),
        pytest.param(np.array([1], dtype=np.uint32), "UINT32", [1], id="UINT32"),
        pytest.param(np.array([2**64 - 1], dtype=np.uint64), "UINT64", [2**64 - 1], id="UINT64"),
        pytest.param(np.array([-1], dtype=np.int8), "INT8", [-1], id="INT8"),
        pytest.param(np.array([-1], dtype=np.int16), "INT16", [-1], id="INT16"),
        pytest.param(np.array([-1], dtype=np.int32), "INT32", [-1], id="INT32"),
        pytest.param(np.array([-(2**63)]), "INT64", [-(2**63)], id="INT64"),
        pytest.param(np.array([0.5], dtype=np.float16), "FP16", [0.5], id="FP16"),
        pytest.param(np.array([0.5], dtype=np.float32), "FP32", [0.5], id="FP32"),
        pytest.param(np.array([0.1]), "FP64", [0.1], id="FP64"),
        pytest.param(["yes", "no"], "BYTES", ["yes", "no"], id="list-of-str"),
        pytest.param(np.array(["é", None], dtype=object), "BYTES", ["é", None], id="object-str"),
        pytest.param(np.array([b"\x00\xff"], dtype=object), "BYTES", ["AP8="], id="bytes-base64"),
        pytest.param(pd.Series([1, None], dtype="Int64"), "FP64", [1.0, None], id="nullable-int"),
        pytest.param(
            np.array(["2024-05-01T12:00"], dtype="datetime64[ns]"),
            "BYTES",
            ["2024-05-01T12:00:00"],
            id="datetime",
        ),
        pytest.param(np.array([1.5, 2.5], dtype=">f8"), "FP64", [1.5, 2.5], id="big-endian"),
    ],
)
def test_output_datatype_follows_the_dtype(
    predictions: object, datatype: str, data: list[object]
) -> None:
    (output,) = response(predictions=predictions)["outputs"]
    assert (output["datatype"], output["data"]) == (datatype, data)


def test_2d_predictions_keep_their_shape_row_major() -> None:
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]], dtype=np.float32)
    (output,) = response(predictions=np.asfortranarray(probabilities))["outputs"]
    assert output["shape"] == [3, 2]
    assert output["data"] == pytest.approx([0.1, 0.9, 0.8, 0.2, 0.5, 0.5])


def test_dict_predictions_give_one_output_per_key() -> None:
    predictions = {
        "output_label": np.array([1, 0]),
        "output_probability": [{0: 0.2, 1: 0.8}, {0: 0.6, 1: 0.4}],
    }
    outputs = response(predictions=predictions)["outputs"]
    assert outputs == [
        {"name": "output_label", "shape": [2, 1], "datatype": "INT64", "data": [1, 0]},
        {
            "name": "output_probability",
            "shape": [2, 1],
            "datatype": "BYTES",
            "data": ['{"0":0.2,"1":0.8}', '{"0":0.6,"1":0.4}'],
        },
    ]


def test_real_onnx_classifier_outputs_encode() -> None:
    pytest.importorskip("skl2onnx")
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.9, 0.2], [0.1, 0.8]], dtype=np.float32)
    model = LogisticRegression().fit(x, [0, 1, 1, 0])
    session = onnxruntime.InferenceSession(to_onnx(model, x[:1]).SerializeToString())
    names = [o.name for o in session.get_outputs()]
    predictions = dict(
        zip(names, session.run(names, {session.get_inputs()[0].name: x}), strict=True)
    )
    outputs = {o["name"]: o for o in response(predictions=predictions)["outputs"]}
    assert outputs["output_label"]["data"] == model.predict(x).tolist()
    assert outputs["output_label"]["shape"] == [4, 1]
    probabilities = [orjson.loads(text) for text in outputs["output_probability"]["data"]]
    assert [p["1"] for p in probabilities] == pytest.approx(model.predict_proba(x)[:, 1], abs=1e-5)


def test_frame_predictions_give_one_output_per_column() -> None:
    frame = pd.DataFrame(
        {
            "label": ["churn", None],
            "score": [0.75, np.nan],
            "scores": [np.array([0.25, 0.75]), np.array([0.5, 0.5])],
        }
    )
    outputs = response(predictions=frame)["outputs"]
    assert outputs == [
        {"name": "label", "shape": [2, 1], "datatype": "BYTES", "data": ["churn", None]},
        {"name": "score", "shape": [2, 1], "datatype": "FP64", "data": [0.75, None]},
        {"name": "scores", "shape": [2, 2], "datatype": "FP64", "data": [0.25, 0.75, 0.5, 0.5]},
    ]


def test_ragged_rows_are_sent_as_json_text() -> None:
    frame = pd.DataFrame({"tokens": [np.array([1, 2]), np.array([3])]})
    (output,) = response(predictions=frame)["outputs"]
    assert (output["datatype"], output["data"]) == ("BYTES", ["[1,2]", "[3]"])


def test_output_names_name_a_prediction_or_split_its_columns() -> None:
    (single,) = response(predictions=pd.Series([1, 0]), output_names=["churned"])["outputs"]
    assert single["name"] == "churned"
    split = response(predictions=np.array([[0.2, 0.8]]), output_names=["p0", "p1"])["outputs"]
    assert [(o["name"], o["shape"], o["data"]) for o in split] == [
        ("p0", [1, 1], [0.2]),
        ("p1", [1, 1], [0.8]),
    ]
    with pytest.raises(PlinthError, match=r"shape \[1, 2\], which cannot be split into the 3"):
        response(predictions=np.array([[0.2, 0.8]]), output_names=["a", "b", "c"])


def test_requested_outputs_filter_and_order_the_outputs() -> None:
    predictions = {"label": np.array([1]), "probability": np.array([0.9]), "raw": np.array([3])}
    outputs = response(predictions=predictions, requested_outputs=["probability", "label"])
    assert [o["name"] for o in outputs["outputs"]] == ["probability", "label"]


def test_an_unknown_requested_output_is_named() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"Unknown requested output 'proba'; this model returns predict"
    ) as raised:
        response(predictions=np.array([1]), requested_outputs=["proba"])
    assert raised.value.details == {"unknown_outputs": ["proba"]}


def test_model_version_is_left_out_when_empty() -> None:
    body = orjson.loads(
        oip.encode_infer_response(
            model_name="m", model_version="", request_id="7", predictions=[1.0]
        )
    )
    assert body == {
        "model_name": "m",
        "id": "7",
        "outputs": [{"name": "predict", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}],
    }


def test_predictions_without_a_protocol_datatype_are_refused() -> None:
    with pytest.raises(
        PlinthError, match=r"dtype complex128, which the Open Inference Protocol cannot carry"
    ):
        response(predictions=np.array([1 + 2j]))


def test_error_body_is_the_protocol_shape() -> None:
    assert orjson.loads(oip.error_body("Missing input 'age'")) == {"error": "Missing input 'age'"}


# -- metadata -------------------------------------------------------------------------------------
def test_metadata_lists_one_input_per_signature_column() -> None:
    metadata = oip.model_metadata("churn", versions=["3"], signature=CUSTOMERS, platform="sklearn")
    assert metadata == {
        "name": "churn",
        "versions": ["3"],
        "platform": "sklearn",
        "inputs": [
            {"name": "age", "datatype": "FP64", "shape": [-1, 1]},
            {"name": "visits", "datatype": "INT64", "shape": [-1, 1]},
            {"name": "city", "datatype": "BYTES", "shape": [-1, 1]},
        ],
        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}],
    }


def test_metadata_lists_tensors_with_their_shapes() -> None:
    signature = ModelSignature(
        inputs=IMAGES.inputs,
        outputs=(
            TensorSpec(dtype="int64", shape=(-1,), name="label"),
            TensorSpec(dtype="float32", shape=(-1, 10)),
        ),
    )
    metadata = oip.model_metadata("digits", versions=[], signature=signature, platform="onnx")
    assert metadata["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "output-1", "datatype": "FP32", "shape": [-1, 10]},
    ]
    assert oip.signature_output_names(signature) == ["label", "output-1"]


def test_metadata_without_a_signature_lists_nothing() -> None:
    metadata = oip.model_metadata("m", versions=["1"], signature=None, platform="pyfunc")
    assert (metadata["inputs"], metadata["outputs"]) == ([], [])
