"""An endpoint as a ``RecordScorer`` for stream inference (``plinth consume --endpoint``).

Stream messages are scored exactly as HTTP requests are: through the same ``DataPlane``
(running on a private event loop in a background thread), so routing (canary, A-B with the
sticky key, shadows), micro-batching, route stats for the canary controller and SLOs, and
the prediction log all apply. Each record is its own request (its message's id is the
request id); concurrent records share ``predict`` calls through the micro-batcher.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from plinth.client import Client
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.serving.dataplane import Answer, DataPlane, DataPlaneConfig
from plinth.serving.metrics import ServingMetrics
from plinth.serving.prediction_log import DEFAULT_PREFIX, PredictionLogWriter
from plinth.serving.stream import ScoredBatch
from plinth.tracking.fluent import get_client

T = TypeVar("T")


class EndpointRecordScorer:
    """Scores records on endpoint ``name``; ``close()`` flushes its prediction log."""

    def __init__(self, name: str, *, client: Client, log_predictions: bool = True) -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"scorer-{name}", daemon=True
        )
        self._thread.start()
        writer = (
            PredictionLogWriter(client.artifact_store, prefix=DEFAULT_PREFIX)
            if log_predictions
            else None
        )
        self._plane = DataPlane(
            client,
            prediction_log=writer,
            metrics=ServingMetrics(),
            config=DataPlaneConfig(endpoints=(name,)),
        )
        self._run(self._plane.start())
        try:
            self._plane.live(name)
        except NotFoundError:
            self.close()
            client.stores.serving.get_endpoint(name)  # a clear NotFoundError if unknown
            raise

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __call__(self, records: list[dict[str, Any]], request_ids: list[str]) -> ScoredBatch:
        answers = self._run(self._score(records, request_ids))
        failed = [a for a in answers if isinstance(a, BaseException)]
        if failed:
            invalid = [e for e in failed if isinstance(e, InvalidArgumentError)]
            raise (invalid or failed)[0]
        scored = [a for a in answers if isinstance(a, Answer)]
        versions = dict.fromkeys(a.model_version for a in scored)
        routes = dict.fromkeys(r.label for a in scored for r in a.routes)
        return ScoredBatch(
            predictions=[_first_row(a.predictions) for a in scored],
            model_version=",".join(versions),
            route=",".join(routes),
        )

    async def _score(
        self, records: list[dict[str, Any]], request_ids: list[str]
    ) -> list[Answer | BaseException]:
        calls = [
            self._plane.infer(self.name, pd.DataFrame([record]), request_id=request_id)
            for record, request_id in zip(records, request_ids, strict=True)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self._plane.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


def _first_row(predictions: Any) -> object:
    """The one row of a one-record answer, as JSON-able Python."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.iloc[0].to_dict()
    if isinstance(predictions, pd.Series):
        return predictions.iloc[0]
    if isinstance(predictions, dict):
        return {key: _first_row(value) for key, value in predictions.items()}
    row = np.asarray(predictions)[0]
    return row.tolist() if isinstance(row, np.ndarray | np.generic) else row


def endpoint_record_scorer(name: str, *, client: Client | None = None) -> EndpointRecordScorer:
    """The ``RecordScorer`` of endpoint ``name`` (``plinth consume --endpoint NAME``)."""
    return EndpointRecordScorer(name, client=client or get_client())
