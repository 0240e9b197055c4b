"""Serving inside a server process: the data plane and the controller as the app's lifespan,
and ``create_serving_app`` for ``plinth serve`` (the data plane alone, a stateless replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI

from plinth import __version__
from plinth.artifacts import ArtifactStore
from plinth.client import Client
from plinth.config import Settings
from plinth.server.auth import Authenticator
from plinth.server.errors import install_error_handlers
from plinth.server.routers import health, inference
from plinth.serving.batcher import BatchingConfig
from plinth.serving.controller import Controller
from plinth.serving.dataplane import DataPlane, DataPlaneConfig
from plinth.serving.metrics import ServingMetrics
from plinth.serving.prediction_log import DEFAULT_PREFIX, PredictionLogWriter
from plinth.store.factory import Stores
from plinth.store.sql.serving_registry import CANARY_CONTROLLER

log = logging.getLogger("plinth.server")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingOptions:
    """How a process serves endpoints.

    Args:
        dataplane: Polling, batching and shadow settings.
        control: Run the canary controller and the SLO checks in this process.
        canary_every_s: How often running canaries are judged.
        slo_every_s: How often SLOs are evaluated.
        log_predictions: Write every scored request to the prediction log.
        log_flush_s: The prediction log's flush interval (the most a crash can lose).
        max_request_bytes: Larger request bodies get 413.
    """

    dataplane: DataPlaneConfig = field(default_factory=DataPlaneConfig)
    control: bool = True
    canary_every_s: float = 5.0
    slo_every_s: float = 30.0
    log_predictions: bool = True
    log_flush_s: float = 1.0
    max_request_bytes: int = 16 << 20


def serving_lifespan(
    *,
    settings: Settings,
    stores: Stores,
    artifact_store: ArtifactStore,
    options: ServingOptions,
    metrics: ServingMetrics | None = None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that runs the data plane (and the controller) for the app's lifetime and
    flushes the prediction log on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = Client(settings, stores=stores, artifact_store=artifact_store)
        writer = (
            PredictionLogWriter(
                artifact_store, prefix=DEFAULT_PREFIX, flush_interval_s=options.log_flush_s
            )
            if options.log_predictions
            else None
        )
        plane = DataPlane(
            client,
            prediction_log=writer,
            metrics=metrics or ServingMetrics.from_environ(os.environ),
            config=options.dataplane,
        )
        app.state.dataplane = plane
        app.state.max_request_bytes = options.max_request_bytes
        await plane.start()
        control = None
        if options.control:
            controller = Controller(
                stores.serving.with_actor(CANARY_CONTROLLER), endpoints=options.dataplane.endpoints
            )
            control = asyncio.create_task(
                controller.run(
                    canary_every_s=options.canary_every_s, slo_every_s=options.slo_every_s
                )
            )
        try:
            yield
        finally:
            if control is not None:
                control.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await control
            await plane.stop()

    return lifespan


def create_serving_app(
    client: Client,
    *,
    options: ServingOptions,
    auth: bool = True,
    metrics: ServingMetrics | None = None,
) -> FastAPI:
    """The data plane alone (``plinth serve``): inference, health and metrics, over the
    client's stores (a database, or a Plinth server when ``PLINTH_URI`` is http)."""
    settings, stores, artifact_store = client.settings, client.stores, client.artifact_store
    app = FastAPI(
        title="Plinth data plane",
        version=__version__,
        lifespan=serving_lifespan(
            settings=settings,
            stores=stores,
            artifact_store=artifact_store,
            options=options,
            metrics=metrics,
        ),
    )
    app.state.settings = settings
    app.state.stores = stores
    app.state.artifact_store = artifact_store
    app.state.authenticator = Authenticator(stores.auth, enabled=auth)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(inference.router)
    app.add_middleware(inference.InferenceFastPath)
    return app


OPTIONS_ENV = "PLINTH_SERVE_OPTIONS"


def options_to_env(options: ServingOptions, *, auth: bool) -> dict[str, str]:
    """What ``serving_app_from_env`` in each worker of ``plinth serve --workers N`` reads."""
    plane = options.dataplane
    data = {
        "endpoints": None if plane.endpoints is None else list(plane.endpoints),
        "max_batch_rows": plane.batching.max_batch_rows,
        "max_wait_ms": plane.batching.max_wait_ms,
        "control": options.control,
        "log_predictions": options.log_predictions,
        "log_flush_s": options.log_flush_s,
        "max_request_bytes": options.max_request_bytes,
        "auth": auth,
    }
    return {OPTIONS_ENV: json.dumps(data)}


def options_from_env(text: str) -> tuple[ServingOptions, bool]:
    data = json.loads(text)
    endpoints = data.get("endpoints")
    batching = BatchingConfig(
        max_batch_rows=int(data["max_batch_rows"]), max_wait_ms=float(data["max_wait_ms"])
    )
    options = ServingOptions(
        dataplane=DataPlaneConfig(
            endpoints=None if endpoints is None else tuple(endpoints), batching=batching
        ),
        control=bool(data["control"]),
        log_predictions=bool(data["log_predictions"]),
        log_flush_s=float(data["log_flush_s"]),
        max_request_bytes=int(data["max_request_bytes"]),
    )
    return options, bool(data["auth"])


def serving_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: each worker of ``plinth serve --workers N``."""
    from plinth.server.app import tune_gc_for_serving

    settings = Settings.from_env(os.environ)
    options, auth = options_from_env(os.environ[OPTIONS_ENV])
    app = create_serving_app(Client(settings), options=options, auth=auth)
    tune_gc_for_serving()
    return app
