"""A Plinth home with registered churn models, and a live server serving its endpoints.

``churn`` v1 is in Production, v2 approved for Staging (canaries, A-B variants), v3 a
model that raises on every row where ``calls`` is 99 (approved for Staging). Everything is
real: scikit-learn models logged and registered through the SDK, a uvicorn server with the
data plane running, HTTP requests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import LiveServer, serve

from plinth.client import Client
from plinth.config import Settings
from plinth.entities.registry import Stage
from plinth.models import PythonModel, PythonModelContext
from plinth.server.serving import ServingOptions
from plinth.serving.dataplane import DataPlaneConfig

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

FEATURES = ["tenure", "calls"]
FAST = ServingOptions(
    dataplane=DataPlaneConfig(refresh_s=0.2, stats_flush_s=0.2),
    canary_every_s=0.2,
    slo_every_s=0.2,
    log_flush_s=0.2,
    max_request_bytes=1 << 20,
)


def churn_frame(rows: int = 200, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"tenure": rng.uniform(0, 72, rows).round(2), "calls": rng.integers(0, 9, rows)}
    )


class Boom(PythonModel):
    """Scores ``calls`` and raises on the value 99: a model with a bug real traffic finds."""

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        if (model_input["calls"] == 99).any():
            raise ValueError("calls == 99 is not handled")
        return model_input["calls"].to_numpy() * 0.1


@dataclass(frozen=True, slots=True)
class Models:
    """The registered versions and their in-process counterparts."""

    frame: pd.DataFrame
    v1: Any
    v2: Any


def register_models(settings: Settings, name: str = "churn") -> Models:
    """Train, log and register v1 (Production), v2 and v3 (approved for Staging)."""
    from sklearn.linear_model import LogisticRegression

    import plinth

    frame = churn_frame()
    labels = ((frame["tenure"] < 24) | (frame["calls"] > 5)).astype(int)
    plinth.set_tracking_uri(settings=settings)
    v1 = LogisticRegression(max_iter=500).fit(frame, labels)
    v2 = LogisticRegression(C=0.01, max_iter=500).fit(frame, labels)
    with plinth.start_run():
        for number, model in enumerate((v1, v2, Boom()), start=1):
            plinth.log_model(
                model, f"model-{number}", input_example=frame.head(3), registered_model_name=name
            )
    registry = Client(settings).stores.registry
    for version, stage in (("1", Stage.PRODUCTION), ("2", Stage.STAGING), ("3", Stage.STAGING)):
        request = registry.request_promotion(
            name, version, stage=stage, archive_existing_versions=False
        )
        registry.approve_promotion(request.request_id)
    return Models(frame=frame, v1=v1, v2=v2)


@dataclass(frozen=True, slots=True)
class Serving:
    server: LiveServer
    models: Models
    http: httpx.Client
    client: Client

    def wait_ready(self, endpoint: str, *, version: str | None = None, timeout: float = 10) -> None:
        """Until the data plane serves ``endpoint`` (at ``version``, if given)."""
        deadline = time.monotonic() + timeout
        path = f"/v2/models/{endpoint}" + (f"/versions/{version}" if version else "") + "/ready"
        while time.monotonic() < deadline:
            if self.http.get(path).status_code == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"{endpoint} not ready within {timeout}s")


@pytest.fixture(scope="module")
def serving_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    home = tmp_path_factory.mktemp("serving") / "home"
    settings = Settings(home=home)
    models = register_models(settings)
    with serve(settings, auth=True, serving=FAST) as server:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        remote = Settings(home=home.parent / "client", uri=server.url, token=server.admin_token)
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            yield Serving(server=server, models=models, http=http, client=Client(remote))


def wait_for(condition: Callable[[], bool], *, timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


def home_of(tmp: Path) -> Settings:
    return Settings(home=tmp / "home")
