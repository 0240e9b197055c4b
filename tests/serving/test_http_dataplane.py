"""The inference data plane end to end: a real server, real models, real HTTP.

Endpoints are created through the SDK against the server (as its admin); requests go over
the Open Inference Protocol v2 and MLflow's scoring protocol.
"""

from __future__ import annotations

import uuid
from collections import Counter

import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.serving.conftest import FEATURES, Serving, wait_for

from plinth import serving


def oip_body(rows: list[dict[str, float]], **extra: object) -> dict[str, object]:
    columns = list(rows[0])
    inputs = [
        {
            "name": c,
            "shape": [len(rows)],
            "datatype": "BYTES" if isinstance(rows[0][c], str) else "FP64",
            "data": [r[c] for r in rows],
        }
        for c in columns
    ]
    return {"inputs": inputs, **extra}


@pytest.fixture(scope="module")
def churn(serving_env: Serving) -> str:
    serving.create_endpoint("churn", "churn/1", reason="launch", client=serving_env.client)
    serving_env.wait_ready("churn")
    return "churn"


def test_oip_metadata_lists_the_signature_columns(serving_env: Serving, churn: str) -> None:
    assert serving_env.http.get("/v2/health/live").json() == {"live": True}
    assert serving_env.http.get("/v2/health/ready").json() == {"ready": True}
    meta = serving_env.http.get(f"/v2/models/{churn}").json()
    assert meta["name"] == churn and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == FEATURES


def test_oip_infer_matches_the_model(serving_env: Serving, churn: str) -> None:
    frame = serving_env.models.frame.head(5)
    rows = frame.to_dict(orient="records")
    response = serving_env.http.post(f"/v2/models/{churn}/infer", json=oip_body(rows, id="req-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == churn and body["model_version"] == "1" and body["id"] == "req-1"
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["x-plinth-model-version"] == "churn/1"
    output = body["outputs"][0]
    assert output["shape"][0] == 5
    assert output["data"] == serving_env.models.v1.predict(frame).tolist()


def test_pinned_version(serving_env: Serving, churn: str) -> None:
    rows = serving_env.models.frame.head(1).to_dict(orient="records")
    ok = serving_env.http.post(f"/v2/models/{churn}/versions/1/infer", json=oip_body(rows))
    assert ok.status_code == 200
    missing = serving_env.http.post(f"/v2/models/{churn}/versions/2/infer", json=oip_body(rows))
    assert missing.status_code == 404 and "does not route" in missing.json()["error"]


@pytest.mark.parametrize(
    "payload",
    [
        lambda f: {"dataframe_split": f.to_dict(orient="split", index=False)},
        lambda f: {"dataframe_records": f.to_dict(orient="records")},
        lambda f: {"instances": f.to_dict(orient="records")},
        lambda f: {"inputs": f.to_dict(orient="list")},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_mlflow_invocations(serving_env: Serving, churn: str, payload: object) -> None:
    frame = serving_env.models.frame.head(4)
    response = serving_env.http.post(
        f"/endpoints/{churn}/invocations",
        content=orjson.dumps(payload(frame), option=orjson.OPT_SERIALIZE_NUMPY),  # type: ignore[operator]
        headers={"Content-Type": "application/json", "x-request-id": "abc"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": serving_env.models.v1.predict(frame).tolist()}
    assert response.headers["x-request-id"] == "abc"


def test_mlflow_invocations_csv(serving_env: Serving, churn: str) -> None:
    frame = serving_env.models.frame.head(3)
    response = serving_env.http.post(
        f"/endpoints/{churn}/invocations",
        content=frame.to_csv(index=False),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == serving_env.models.v1.predict(frame).tolist()


def test_bad_requests_get_clear_errors_and_never_a_500(serving_env: Serving, churn: str) -> None:
    http = serving_env.http
    missing = http.post(f"/v2/models/{churn}/infer", json=oip_body([{"tenure": 1.0}]))
    assert missing.status_code == 400 and "calls" in missing.json()["error"]
    assert http.post("/v2/models/nope/infer", json=oip_body([{"tenure": 1.0}])).status_code == 404
    unknown = http.post("/endpoints/nope/invocations", json={"instances": [[1, 2]]})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    both = http.post(f"/endpoints/{churn}/invocations", json={"instances": [], "inputs": []})
    assert both.status_code == 400
    media = http.post(
        f"/endpoints/{churn}/invocations", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert media.status_code == 415
    huge = http.post(
        f"/endpoints/{churn}/invocations",
        content=b"x" * (2 << 20),
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and "limit" in huge.json()["message"]
    garbage = http.post(f"/v2/models/{churn}/infer", content=b"{not json")
    assert garbage.status_code == 400
    # Paths and methods no route matches answer in the protocol's shape too.
    for response, status in [
        (http.get(f"/v2/models/{churn}/nope"), 404),
        (http.get("/v2/nope"), 404),
        (http.put(f"/v2/models/{churn}/infer"), 405),
    ]:
        assert response.status_code == status and set(response.json()) == {"error"}, response.text


def _model_errors(serving_env: Serving, endpoint: str) -> float:
    text = serving_env.http.get("/metrics").text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "plinth_requests_total"
        and s.labels.get("endpoint") == endpoint
        and s.labels.get("status") == "error"
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        pytest.param("invocations", b"[" * 5000, "not valid JSON", id="deeply-nested"),
        pytest.param(
            "invocations",
            b'{"dataframe_records": [{"tenure": 1.0, "plan": "x\\ud800"}]}',
            "unpaired surrogate",
            id="lone-surrogate",
        ),
        pytest.param(
            "invocations",
            orjson.dumps(
                {"dataframe_split": {"columns": ["tenure"], "data": [[1.0]], "index": [0, 1]}}
            ),
            "2 labels for 1 rows",
            id="index-of-other-length",
        ),
        pytest.param(
            "invocations",
            orjson.dumps({"dataframe_split": {"columns": FEATURES, "data": []}}),
            "no rows",
            id="no-rows",
        ),
        pytest.param(
            "invocations",
            orjson.dumps({"dataframe_records": []}),
            "no rows",
            id="no-records",
        ),
        pytest.param(
            "infer",
            orjson.dumps(
                {
                    "inputs": [
                        {"name": c, "shape": [0], "datatype": "FP64", "data": []} for c in FEATURES
                    ]
                }
            ),
            "no rows",
            id="oip-no-rows",
        ),
        # The signature takes NaN in a double column (as MLflow's does) and the logistic
        # regression raises on it: the input's fault, named as such, not the model's.
        pytest.param(
            "invocations",
            b'{"dataframe_records": [{"tenure": null, "calls": 1}, {"tenure": 2.0, "calls": 1}]}',
            "cannot score missing values: column(s) 'tenure'",
            id="null",
        ),
        pytest.param(
            "invocations",
            b'{"dataframe_split": {"columns": ["tenure", "calls"], "data": [[NaN, 1]]}}',
            "cannot score missing values: column(s) 'tenure'",
            id="nan",
        ),
    ],
)
def test_malformed_inputs_are_400_and_not_counted_against_the_model(
    serving_env: Serving, churn: str, path: str, body: bytes, message: str
) -> None:
    url = f"/v2/models/{churn}/infer" if path == "infer" else f"/endpoints/{churn}/invocations"
    errors_before = _model_errors(serving_env, churn)

    response = serving_env.http.post(
        url, content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400, response.text
    answer = response.json()
    text = answer.get("error", answer.get("message", ""))
    assert message in text, answer
    assert "the model raised" not in text  # its own words stay in the logs
    assert _model_errors(serving_env, churn) == errors_before


def test_inference_needs_a_token(serving_env: Serving, churn: str) -> None:
    import httpx

    anonymous = httpx.post(
        f"{serving_env.server.url}/v2/models/{churn}/infer",
        json=oip_body([{"tenure": 1.0, "calls": 1}]),
    )
    assert anonymous.status_code == 401


def test_a_model_that_raises_is_a_500_with_an_error_id(serving_env: Serving) -> None:
    registry = serving_env.client.stores.registry
    serving.create_endpoint("flaky", "churn/1", client=serving_env.client)
    # v3 raises on calls == 99: an A-B variant, called by pinning its version.
    serving.start_ab("flaky", ["x=churn/3:50", "y=churn/1:50"], client=serving_env.client)
    serving_env.wait_ready("flaky", version="3")
    bad = serving_env.http.post(
        "/v2/models/flaky/versions/3/infer", json=oip_body([{"tenure": 1.0, "calls": 99}])
    )
    assert bad.status_code == 500
    assert bad.json()["error_id"] and bad.json()["error_id"] in bad.json()["error"]
    # A missing value in a column the model's bug has nothing to do with does not make it
    # the caller's fault: the model fails with the value filled too.
    with_null = serving_env.http.post(
        "/v2/models/flaky/versions/3/infer",
        json={
            "inputs": [
                {"name": "tenure", "shape": [1], "datatype": "FP64", "data": [None]},
                {"name": "calls", "shape": [1], "datatype": "INT64", "data": [99]},
            ]
        },
    )
    assert with_null.status_code == 500 and "error_id" in with_null.json(), with_null.text
    good = serving_env.http.post(
        "/v2/models/flaky/versions/3/infer", json=oip_body([{"tenure": 1.0, "calls": 3}])
    )
    assert good.status_code == 200 and good.json()["outputs"][0]["data"] == pytest.approx([0.3])
    assert registry.get_model_version("churn", "3").current_stage.value == "Staging"


def test_ab_split_is_sticky_and_follows_the_weights(serving_env: Serving) -> None:
    client = serving_env.client
    serving.create_endpoint("ab", "churn/1", client=client)
    serving.start_ab(
        "ab", ["a=churn/1:50", "b=churn/2:50"], sticky_key="customer_id", client=client
    )
    serving_env.wait_ready("ab", version="2")
    seen: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for i in range(300):
        customer = f"c{i % 150}"
        record = {"customer_id": customer, "tenure": 10.0, "calls": 2}
        response = serving_env.http.post(
            "/endpoints/ab/invocations", json={"dataframe_records": [record]}
        )
        assert response.status_code == 200, response.text
        variant = response.headers["x-plinth-variant"]
        assert seen.setdefault(customer, variant) == variant
        counts[variant] += 1
    assert set(counts) == {"a", "b"} and 0.3 < counts["a"] / 300 < 0.7
    # Outcomes logged later through the feedback API; then the report compares them.
    ids = []
    for i in range(200):
        response = serving_env.http.post(
            "/endpoints/ab/invocations",
            json={"dataframe_records": [{"customer_id": f"n{i}", "tenure": 5.0, "calls": 1}]},
        )
        variant = response.headers["x-plinth-variant"]
        ids.append((response.headers["x-request-id"], variant))
    items = [
        {"request_id": rid, "outcomes": {"converted": 1 if v == "b" else int(n % 4 == 0)}}
        for n, (rid, v) in enumerate(ids)
    ]
    assert serving_env.http.post("/api/v1/endpoints/ab/feedback", json=items).json() == {
        "logged": 200
    }

    def report_ready() -> bool:
        frame = serving.predictions("ab", client=client)
        return frame["request_id"].isin([rid for rid, _ in ids]).sum() == 200

    wait_for(report_ready, what="prediction log flush")
    report = serving.ab_report("ab", outcome="converted", baseline="a", client=client)
    assert {v.variant for v in report.variants} == {"a", "b"}
    comparison = report.comparisons[0]
    assert report.binary and comparison.variant == "b" and comparison.significant


def test_shadow_scores_are_logged_but_never_answer(serving_env: Serving) -> None:
    client = serving_env.client
    serving.create_endpoint("shadowed", "churn/1", client=client)
    serving.set_shadow("shadowed", "churn/3", client=client)
    serving_env.wait_ready("shadowed")
    sent: list[str] = []

    def shadowed_request_logged() -> bool:
        # Until the data plane has the revision with the shadow, requests have no shadow
        # record: keep sending (calls == 99 makes the shadow raise; the response must not
        # notice) until one has both.
        request_id = uuid.uuid4().hex
        response = serving_env.http.post(
            "/v2/models/shadowed/infer",
            json=oip_body([{"tenure": 3.0, "calls": 99}]),
            headers={"x-request-id": request_id},
        )
        assert response.status_code == 200
        assert response.headers["x-plinth-model-version"] == "churn/1"
        sent.append(request_id)
        frame = serving.predictions("shadowed", client=client)
        shadows = frame[(frame["route"] == "shadow") & frame["request_id"].isin(sent)]
        return len(shadows) > 0

    wait_for(shadowed_request_logged, timeout=30, what="a shadow record")
    frame = serving.predictions("shadowed", client=client)
    shadow = frame[(frame["route"] == "shadow") & frame["request_id"].isin(sent)].iloc[0]
    assert shadow["status"] == "error" and "99" in shadow["error"]
    both = frame[frame["request_id"] == shadow["request_id"]]
    assert set(both["route"]) == {"primary", "shadow"}


def test_metrics(serving_env: Serving, churn: str) -> None:
    rows = serving_env.models.frame.head(1).to_dict(orient="records")
    serving_env.http.post(f"/v2/models/{churn}/infer", json=oip_body(rows))
    text = serving_env.http.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = [
        s
        for s in families["plinth_requests"].samples
        if s.name == "plinth_requests_total" and s.labels["endpoint"] == churn
    ]
    assert any(
        s.labels
        == {"endpoint": churn, "model_version": "churn/1", "route": "primary", "status": "ok"}
        and s.value >= 1
        for s in requests
    )
    assert "plinth_request_duration_seconds" in families
    assert "plinth_prediction_log_lag_seconds" in families


def test_sla_stats_reach_the_store(serving_env: Serving, churn: str) -> None:
    rows = serving_env.models.frame.head(1).to_dict(orient="records")
    for _ in range(5):
        serving_env.http.post(f"/v2/models/{churn}/infer", json=oip_body(rows))
    serving.set_slo(churn, p99_ms=1000, error_rate=0.5, client=serving_env.client)

    def measured() -> bool:
        return serving.health(churn, client=serving_env.client).stats.judged >= 5

    wait_for(measured, what="route stats")
    health = serving.health(churn, client=serving_env.client)
    assert {s.objective: s.ok for s in health.slo} == {"p99_ms": True, "error_rate": True}


def test_batch_of_records_splits_by_sticky_key(serving_env: Serving) -> None:
    client = serving_env.client
    serving.create_endpoint("mixed", "churn/1", client=client)
    serving.start_ab(
        "mixed", ["a=churn/1:50", "b=churn/2:50"], sticky_key="customer_id", client=client
    )
    serving_env.wait_ready("mixed", version="2")
    frame = serving_env.models.frame.head(40).copy()
    frame["customer_id"] = [f"m{i}" for i in range(40)]
    response = serving_env.http.post(
        "/endpoints/mixed/invocations",
        json={"dataframe_records": frame.to_dict(orient="records")},
    )
    assert response.status_code == 200
    assert set(response.headers["x-plinth-variant"].split(",")) == {"a", "b"}
    singles = [
        serving_env.http.post(
            "/endpoints/mixed/invocations", json={"dataframe_records": [row]}
        ).json()["predictions"][0]
        for row in frame.to_dict(orient="records")
    ]
    assert np.allclose(response.json()["predictions"], singles)


def test_records_without_the_sticky_key_are_routed_by_request_id(serving_env: Serving) -> None:
    client = serving_env.client
    serving.create_endpoint("partial", "churn/1", client=client)
    serving.start_ab(
        "partial", ["a=churn/1:50", "b=churn/2:50"], sticky_key="customer_id", client=client
    )
    serving_env.wait_ready("partial", version="2")
    records = [
        {"customer_id": 42, "tenure": 1.0, "calls": 2},
        {"customer_id": None, "tenure": 2.0, "calls": 3},
        {"tenure": 3.0, "calls": 4},
    ]
    response = serving_env.http.post(
        "/endpoints/partial/invocations", json={"dataframe_records": records}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3
    # 42 and 42.0 are one customer: the same variant either way.
    as_int = serving_env.http.post(
        "/endpoints/partial/invocations",
        json={"dataframe_records": [{"customer_id": 42, "tenure": 1.0, "calls": 2}]},
    )
    as_float = serving_env.http.post(
        "/endpoints/partial/invocations",
        json={"dataframe_records": [{"customer_id": 42.0, "tenure": 1.0, "calls": 2}]},
    )
    assert as_int.headers["x-plinth-variant"] == as_float.headers["x-plinth-variant"]


def test_a_recreated_endpoint_is_served_with_its_new_routes(serving_env: Serving) -> None:
    client = serving_env.client
    serving.create_endpoint("again", "churn/1", client=client)
    serving_env.wait_ready("again")
    serving.delete_endpoint("again", client=client)
    registry = client.stores.registry
    assert registry.get_model_version("churn", "1").current_stage.value == "Production"
    serving.create_endpoint("again", "churn/1", client=client)
    serving.start_ab("again", ["a=churn/2:50", "b=churn/1:50"], client=client)
    serving_env.wait_ready("again", version="2")
