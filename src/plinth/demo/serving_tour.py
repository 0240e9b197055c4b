"""The churn demo, part three: the approved model serves traffic.

After :mod:`plinth.demo.lifecycle` put a version in Production: :func:`deploy` creates the
``churn`` endpoint on it (with SLOs); the runner-up is registered and approved for Staging;
traffic goes over real HTTP to a data plane (started in-process when the store is embedded,
the server's own otherwise); a canary of the runner-up ramps 10% -> 50% -> 100% under the
controller while traffic flows, and the demo records the split per round; then the SLA
table, a few logged predictions, and a batch scoring of a Parquet file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd

import plinth
from plinth import serving
from plinth.client import Client
from plinth.demo.churn import TARGET, DemoReport
from plinth.entities.registry import ModelVersion, Stage
from plinth.entities.serving import Endpoint, Slo
from plinth.errors import ConflictError, NotFoundError
from plinth.serving.batch import BatchResult, batch_predict
from plinth.serving.controller import EndpointHealth

ENDPOINT = "churn"
CANARY_STEPS = (10, 50, 100)
REQUESTS_PER_ROUND = 40
MAX_ROUNDS = 40
HOLD_AT = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class TourReport:
    endpoint: Endpoint
    url: str
    baseline: str
    canary: str
    rounds: list[dict[str, int]] = field(default_factory=list)
    """Responses per model version, one dict per round of traffic."""
    health: EndpointHealth | None = None
    predictions: pd.DataFrame | None = None
    batch: BatchResult | None = None
    outcome: str = ""
    """How the canary ended."""


def with_customer_ids(sample: pd.DataFrame) -> pd.DataFrame:
    """The features plus a ``customer_id``, which the model's signature does not name: the
    data plane passes it over (and would use it as an A-B sticky key)."""
    frame = sample.drop(columns=[TARGET], errors="ignore").reset_index(drop=True)
    frame.insert(0, "customer_id", [f"cust-{i:05d}" for i in range(len(frame))])
    return frame


def deploy(production: ModelVersion) -> Endpoint:
    """The ``churn`` endpoint on the Production version (recreated if a previous demo left
    one), with a p99 and an error-rate objective."""
    client = plinth.get_client()
    with suppress(NotFoundError):
        serving.delete_endpoint(ENDPOINT, reason="demo restart", client=client)
    slo = Slo(p99_ms=250.0, error_rate=0.01, window_s=3600)
    return serving.create_endpoint(
        ENDPOINT,
        f"{production.name}/{production.version}",
        slo=slo,
        reason="churn demo",
        client=client,
    )


def stage_runner_up(report: DemoReport, approver: Client) -> ModelVersion:
    """Register the second-best run and have ``approver`` approve it for Staging (what a
    canary needs)."""
    runner_up = report.ranked[1]
    version = plinth.register_model(
        f"runs:/{runner_up.run_id}/model",
        ENDPOINT,
        description=f"{runner_up.name}: the demo's canary.",
    )
    request = plinth.request_promotion(
        version.name, version.version, stage=Stage.STAGING, comment="Canary candidate (churn demo)."
    )
    approver.approve_promotion(request.request_id, comment="Approved for a canary.")
    return version


@contextmanager
def data_plane(client: Client) -> Iterator[str]:
    """A data plane to send traffic to: the server itself when the client is remote, else
    one started in-process (uvicorn in a thread on a free port)."""
    if client.settings.is_remote:
        yield client.settings.store_uri
        return
    from plinth.server.serving import ServingOptions, create_serving_app
    from plinth.server.threaded import serve_in_thread
    from plinth.serving.dataplane import DataPlaneConfig

    options = ServingOptions(
        dataplane=DataPlaneConfig(refresh_s=0.2, stats_flush_s=0.2),
        canary_every_s=0.2,
        slo_every_s=1.0,
        log_flush_s=0.2,
    )
    app = create_serving_app(client, options=options, auth=False)
    with serve_in_thread(app, log_level="error") as url:
        yield url


def send_round(http: httpx.Client, customers: pd.DataFrame, start: int) -> Counter[str]:
    """``REQUESTS_PER_ROUND`` single-customer MLflow-protocol requests; responses per version."""
    served: Counter[str] = Counter()
    for i in range(REQUESTS_PER_ROUND):
        record = customers.iloc[(start + i) % len(customers)].to_dict()
        response = http.post(
            f"/endpoints/{ENDPOINT}/invocations", json={"dataframe_records": [record]}
        )
        response.raise_for_status()
        served[response.headers["x-plinth-model-version"]] += 1
    return served


def wait_until_served(http: httpx.Client, version: str | None = None) -> None:
    path = f"/v2/models/{ENDPOINT}" + (f"/versions/{version}" if version else "") + "/ready"
    deadline = time.monotonic() + 30
    while http.get(path).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"endpoint {ENDPOINT} was not served within 30 s")
        time.sleep(0.05)


def run_tour(
    report: DemoReport,
    production: ModelVersion,
    sample: pd.DataFrame,
    *,
    approver: Client,
    workdir: Path,
) -> TourReport:
    """Deploy, send traffic, canary the runner-up, then SLOs, predictions and batch."""
    client = plinth.get_client()
    deploy(production)
    candidate = stage_runner_up(report, approver)
    customers = with_customer_ids(sample)
    rounds: list[dict[str, int]] = []
    token = client.settings.token if client.settings.is_remote else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with (
        data_plane(client) as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as http,
    ):
        wait_until_served(http)
        rounds.append(dict(send_round(http, customers, 0)))
        serving.start_canary(
            ENDPOINT,
            f"{candidate.name}/{candidate.version}",
            steps=CANARY_STEPS,
            interval=0,
            max_error_rate=0.02,
            max_p99_ms=250,
            min_requests=15,
            reason="churn demo canary",
            client=client,
        )
        wait_until_served(http, candidate.version)
        outcome = _ramp(http, customers, rounds, client)
        rounds.append(dict(send_round(http, customers, MAX_ROUNDS * REQUESTS_PER_ROUND)))
    batch = _score_file(customers, workdir)
    return TourReport(
        endpoint=serving.get_endpoint(ENDPOINT, client=client),
        url=url,
        baseline=f"{production.name}/{production.version}",
        canary=f"{candidate.name}/{candidate.version}",
        rounds=rounds,
        health=serving.health(ENDPOINT, client=client),
        predictions=serving.predictions(ENDPOINT, since="1h", client=client).tail(5),
        batch=batch,
        outcome=outcome,
    )


def _ramp(
    http: httpx.Client, customers: pd.DataFrame, rounds: list[dict[str, int]], client: Client
) -> str:
    """Send rounds of traffic while the controller ramps the canary; once a round ran at
    ``HOLD_AT`` percent, roll it back: the runner-up scored a lower validation AUC, so the
    demo keeps the best model in Production and shows that a rollout is reversible."""
    for n in range(1, MAX_ROUNDS):
        before = serving.get_endpoint(ENDPOINT, client=client).canary
        rounds.append(dict(send_round(http, customers, n * REQUESTS_PER_ROUND)))
        if before is None:
            return "ended by the controller"
        if before.current_weight >= HOLD_AT:
            _roll_back(client)
            return f"rolled back by the demo after a round at {before.current_weight}%"
    return "still ramping"


def _roll_back(client: Client, *, patience_s: float = 10.0) -> None:
    """Roll the canary back. The controller may have ramped it to 100% during the last
    round and be promoting it at this moment, which refuses a rollback until the promotion
    is done (after it, a rollback restores the replaced version): so wait and retry."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            serving.rollback(
                ENDPOINT, reason="demo: the runner-up has a lower validation AUC", client=client
            )
            return
        except ConflictError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _score_file(customers: pd.DataFrame, workdir: Path) -> BatchResult:
    """Batch inference: the customers as a Parquet file, scored by the Production model."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "customers.parquet"
    customers.to_parquet(source, index=False)
    return batch_predict(
        f"models:/{ENDPOINT}/Production",
        source,
        workdir / "scored",
        id_cols=["customer_id"],
        overwrite=True,
        progress=False,
        workers=1,
    )
