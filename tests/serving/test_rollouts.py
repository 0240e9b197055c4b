"""Rollouts under real traffic: the controller ramps a canary to completion or rolls it back,
and a separate data-plane replica (``plinth serve``) follows route changes within seconds
without failing a request."""

from __future__ import annotations

import threading
import time

import httpx
from tests.serving.conftest import FAST, Serving, register_models, wait_for
from tests.serving.test_http_dataplane import oip_body

from plinth import serving
from plinth.client import Client
from plinth.config import Settings
from plinth.entities.registry import Stage
from plinth.server.serving import create_serving_app
from plinth.server.threaded import serve_in_thread


def send(http: httpx.Client, endpoint: str, *, calls: int = 2, n: int = 1) -> list[httpx.Response]:
    body = oip_body([{"tenure": 12.0, "calls": calls}])
    return [http.post(f"/v2/models/{endpoint}/infer", json=body) for _ in range(n)]


def wait_loaded(http: httpx.Client, endpoint: str) -> None:
    """Until the replica behind ``http`` has loaded ``endpoint``."""
    wait_for(
        lambda: http.get(f"/v2/models/{endpoint}/ready").status_code == 200,
        timeout=5,
        what=f"the replica to load {endpoint}",
    )


def test_canary_ramps_to_completion(serving_env: Serving) -> None:
    register_models(serving_env.server.settings, name="risk")
    # The canary takes all traffic and completes only once approved for Production.
    local = Client(serving_env.server.settings).stores.registry
    request = local.request_promotion(
        "risk", "2", stage=Stage.PRODUCTION, archive_existing_versions=False
    )
    local.approve_promotion(request.request_id)
    client = serving_env.client
    serving.create_endpoint("risk", "risk/1", client=client)
    serving.start_canary(
        "risk",
        "risk/2",
        steps=[50, 100],
        interval=0,
        max_error_rate=0.05,
        max_p99_ms=5000,
        min_requests=20,
        reason="new model",
        client=client,
    )
    serving_env.wait_ready("risk", version="2")
    deadline = time.monotonic() + 30
    while serving.get_endpoint("risk", client=client).canary is not None:
        assert time.monotonic() < deadline, "the canary did not complete in 30 s"
        assert all(r.status_code == 200 for r in send(serving_env.http, "risk", n=10))
    endpoint = serving.get_endpoint("risk", client=client)
    assert [(r.model_version, r.weight) for r in endpoint.routes] == [("risk/2", 100)]
    registry = client.stores.registry
    assert registry.get_model_version("risk", "2").current_stage is Stage.PRODUCTION
    assert registry.get_model_version("risk", "1").current_stage is Stage.ARCHIVED
    kinds = [e.event_type for e in serving.endpoint_events("risk", client=client)]
    assert "canary_step" in kinds and kinds[-1] == "canary_completed"


def test_failing_canary_is_rolled_back(serving_env: Serving) -> None:
    register_models(serving_env.server.settings, name="fragile")
    client = serving_env.client
    serving.create_endpoint("fragile", "fragile/1", client=client)
    # v3 raises on calls == 99; the guardrail allows 1% errors over the step's 50 requests.
    serving.start_canary(
        "fragile",
        "fragile/3",
        steps=[50, 100],
        interval="1h",
        max_error_rate=0.01,
        min_requests=50,
        client=client,
    )
    serving_env.wait_ready("fragile", version="3")
    deadline = time.monotonic() + 30
    while serving.get_endpoint("fragile", client=client).canary is not None:
        assert time.monotonic() < deadline, "the canary was not rolled back in 30 s"
        send(serving_env.http, "fragile", calls=99, n=5)
    endpoint = serving.get_endpoint("fragile", client=client)
    assert [(r.model_version, r.weight) for r in endpoint.routes] == [("fragile/1", 100)]
    last = serving.endpoint_events("fragile", client=client)[-1]
    assert last.event_type == "canary_rolled_back" and "guardrail" in (last.comment or "")
    stage = client.stores.registry.get_model_version("fragile", "3").current_stage
    assert stage is Stage.STAGING


def test_a_replica_follows_route_changes_without_dropping_requests(serving_env: Serving) -> None:
    server = serving_env.server
    settings = Settings(
        home=server.settings.home.parent / "replica", uri=server.url, token=server.admin_token
    )
    replica_client = Client(settings)
    app = create_serving_app(replica_client, options=FAST)
    serving.create_endpoint("replicated", "churn/1", client=serving_env.client)
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=headers) as http:
        wait_loaded(http, "replicated")
        statuses: list[int] = []
        versions: list[str] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                response = send(http, "replicated")[0]
                statuses.append(response.status_code)
                versions.append(response.headers.get("x-plinth-model-version", ""))

        worker = threading.Thread(target=load)
        worker.start()
        try:
            time.sleep(0.3)
            changed = time.monotonic()
            serving.start_ab(
                "replicated", ["a=churn/1:50", "b=churn/2:50"], client=serving_env.client
            )
            wait_for(
                lambda: "churn/2" in versions[-50:],
                timeout=5,
                what="the replica to apply the A-B split",
            )
            applied_s = time.monotonic() - changed
        finally:
            stop.set()
            worker.join()
    assert statuses and set(statuses) == {200}
    assert applied_s < 5


def test_a_replica_with_a_service_users_token_authenticates_callers(
    serving_env: Serving,
) -> None:
    # The replica checks each caller's token with the server under its own token, which is
    # a service user's (viewer here), not an admin's.
    server, admin = serving_env.server, serving_env.client
    admin.create_user("replica-svc", "viewer")
    _, replica_token = admin.create_token("replica-svc")
    admin.create_user("caller", "viewer")
    _, caller_token = admin.create_token("caller")
    settings = Settings(
        home=server.settings.home.parent / "svc-replica", uri=server.url, token=replica_token
    )
    app = create_serving_app(Client(settings), options=FAST)
    serving.create_endpoint("svc", "churn/1", client=admin)
    caller = {"Authorization": f"Bearer {caller_token}"}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=caller) as http:
        wait_loaded(http, "svc")
        answered = send(http, "svc")[0]
        anonymous = httpx.post(f"{url}/v2/models/svc/infer", json=oip_body([{"calls": 1}]))

    assert answered.status_code == 200, answered.text
    assert anonymous.status_code == 401
