"""What happened after serving: feedback (ground truth, business outcomes), the prediction
log, and the A-B report that joins the two (``plinth.serving.log_feedback``,
``predictions``, ``ab_report``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from plinth.client import Client
from plinth.entities.common import parse_moment
from plinth.entities.serving import Feedback
from plinth.errors import InvalidArgumentError
from plinth.serving.ab_stats import AbReport
from plinth.serving.ab_stats import ab_report as compare_variants
from plinth.serving.prediction_log import DEFAULT_PREFIX
from plinth.serving.prediction_reader import read_predictions
from plinth.store.rest.serving import RestServingStore
from plinth.tracking.fluent import get_client

Moment = str | int | datetime
LABEL = "label"


def _ms(value: Moment | None, flag: str) -> int | None:
    if value is None:
        return None
    return parse_moment(value, now=datetime.now().astimezone(), flag=flag)


def log_feedback(
    endpoint: str,
    request_id: str | None = None,
    *,
    label: float | int | str | bool | None = None,
    outcomes: Mapping[str, float] | None = None,
    items: Sequence[Mapping[str, Any]] | None = None,
    client: Client | None = None,
) -> int:
    """Record the true label and/or named outcomes of served requests (days later is fine).

    Either one request (``request_id`` with ``label`` and/or ``outcomes``) or ``items``, a
    list of ``{"request_id", "label", "outcomes"}`` dicts. Returns how many were stored.
    """
    if items is None:
        if request_id is None:
            raise InvalidArgumentError("log_feedback needs a request_id (or items=[...]).")
        items = [{"request_id": request_id, "label": label, "outcomes": outcomes or {}}]
    feedback = [
        Feedback(
            endpoint=endpoint,
            request_id=str(item.get("request_id") or ""),
            label=item.get("label"),
            outcomes=dict(item.get("outcomes") or {}),
        )
        for item in items
    ]
    return (client or get_client()).stores.serving.log_feedback(feedback)


def feedback(
    endpoint: str,
    *,
    since: Moment | None = None,
    until: Moment | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Feedback as a DataFrame: ``request_id``, ``timestamp``, ``label``, ``user_name`` and
    one ``outcomes.<name>`` column per outcome."""
    items = (client or get_client()).stores.serving.list_feedback(
        endpoint, since_ms=_ms(since, "since"), until_ms=_ms(until, "until")
    )
    rows = [
        {
            "request_id": f.request_id,
            "timestamp": pd.Timestamp(f.timestamp, unit="ms", tz="UTC"),
            "label": f.label,
            "user_name": f.user_name,
            **{f"outcomes.{k}": v for k, v in f.outcomes.items()},
        }
        for f in items
    ]
    columns = ["request_id", "timestamp", "label", "user_name"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def predictions(
    endpoint: str,
    *,
    since: Moment | None = None,
    until: Moment | None = None,
    columns: Sequence[str] | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """The endpoint's prediction log in ``[since, until)`` (durations like ``1h`` count
    back from now), read with DuckDB from the Parquet segments with the time window pushed
    down. ``inputs`` and ``outputs`` are JSON text."""
    client = client or get_client()
    since_ms, until_ms = _ms(since, "since"), _ms(until, "until")
    return read_logged(client, endpoint, since_ms=since_ms, until_ms=until_ms, columns=columns)


def read_logged(
    client: Client,
    endpoint: str,
    *,
    since_ms: int | None,
    until_ms: int | None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The prediction log through ``client``: straight from the artifact store, or from the
    server as Parquet when the client is remote."""
    client.stores.serving.get_endpoint(endpoint)  # unknown endpoint -> NotFoundError
    store = client.stores.serving
    if isinstance(store, RestServingStore):
        data = store.fetch_predictions(endpoint, since_ms=since_ms, until_ms=until_ms)
        frame = pd.read_parquet(io.BytesIO(data))
        return frame if columns is None else frame[list(columns)]
    return read_predictions(
        client.artifact_store,
        endpoint,
        since_ms=since_ms,
        until_ms=until_ms,
        prefix=DEFAULT_PREFIX,
        columns=columns,
    )


def ab_report(
    endpoint: str,
    *,
    outcome: str = LABEL,
    since: Moment | None = None,
    baseline: str | None = None,
    confidence: float = 0.95,
    client: Client | None = None,
) -> AbReport:
    """Compare an outcome between the routes that served the requests it was logged for.

    ``outcome`` is ``label`` (the ground truth) or the name of a business outcome. Requests
    are matched to their route through the prediction log; shadow scores do not count.
    Binary outcomes get a two-proportion z-test, others Welch's t-test.
    """
    client = client or get_client()
    since_ms = _ms(since, "since")
    served = read_logged(
        client, endpoint, since_ms=since_ms, until_ms=None, columns=["request_id", "route"]
    )
    served = served[served["route"] != "shadow"].drop_duplicates("request_id")
    values = _outcome_values(client, endpoint, outcome, since_ms)
    joined = served.merge(values, on="request_id", how="inner")
    by_route = {str(k): g["value"].to_numpy() for k, g in joined.groupby("route")}
    return compare_variants(
        by_route,
        outcome=outcome,
        baseline=baseline,
        confidence=confidence,
        context=f"for endpoint {endpoint!r}",
    )


def _outcome_values(
    client: Client, endpoint: str, outcome: str, since_ms: int | None
) -> pd.DataFrame:
    items = client.stores.serving.list_feedback(endpoint, since_ms=since_ms)
    rows: list[tuple[str, float]] = []
    for item in items:
        value = item.label if outcome == LABEL else item.outcomes.get(outcome)
        if value is None:
            continue
        if isinstance(value, str):
            raise InvalidArgumentError(
                f"Outcome {outcome!r} of request {item.request_id} is {value!r}; A-B reports "
                "compare numbers (binary 0/1 or continuous). Report a numeric outcome."
            )
        rows.append((item.request_id, float(value)))
    # The newest feedback for a request wins (a correction replaces the first report).
    frame = pd.DataFrame(rows, columns=["request_id", "value"])
    return frame.drop_duplicates("request_id", keep="last").astype({"value": np.float64})
