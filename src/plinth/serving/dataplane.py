"""The inference data plane: endpoints as the store describes them, models loaded, requests
routed, scored, measured and logged.

One ``DataPlane`` per serving process. It polls the store for route changes (every
``refresh_s``), loads the models a new revision needs *before* switching to it, and swaps the
route table in one assignment, so a change never drops or fails a request. Every scored
request is counted in the Prometheus metrics, in the route stats the canary controller and
the SLOs judge (reported to the store every ``stats_flush_s``) and in the prediction log;
shadows score a copy of the request off the response path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from plinth.client import Client
from plinth.entities import now_ms
from plinth.entities.serving import Endpoint, Route, RouteRole
from plinth.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError, PlinthError
from plinth.models.loader import LoadedModel
from plinth.serving.batcher import BatchingConfig
from plinth.serving.merge import merge_rows, take_rows
from plinth.serving.metrics import ServingMetrics
from plinth.serving.model_pool import ModelKey, ModelPool, ServedModel
from plinth.serving.prediction_log import PredictionLogWriter, PredictionRecord
from plinth.serving.router import RouteTable
from plinth.serving.stats_recorder import StatsRecorder

log = logging.getLogger("plinth.serving")

SHADOW_DRAIN_S = 10.0
ALONE_AFTER_S = 1.0
"""A request runs its model on the event loop only if no two requests overlapped this long."""


class ModelError(PlinthError):
    """The model raised while predicting; ``error_id`` ties the response to the server log."""

    def __init__(self, message: str, *, error_id: str) -> None:
        super().__init__(message, details={"error_id": error_id})
        self.error_id = error_id


@dataclass(frozen=True, slots=True, kw_only=True)
class DataPlaneConfig:
    """Args:
    endpoints: Serve only these endpoints (None: all).
    refresh_s: How often the store is polled for route changes.
    stats_flush_s: How often route stats are reported to the store.
    batching: Micro-batching settings.
    max_shadow_in_flight: Shadow scores allowed to queue; beyond, copies are skipped
        (and counted) rather than let shadows slow the process down.
    """

    endpoints: tuple[str, ...] | None = None
    refresh_s: float = 2.0
    stats_flush_s: float = 5.0
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    max_shadow_in_flight: int = 256


@dataclass(frozen=True, slots=True)
class LiveEndpoint:
    """One endpoint revision with its route table and the models of its routes."""

    endpoint: Endpoint
    table: RouteTable
    models: dict[ModelKey, ServedModel]


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """A scored request: the predictions in request order and the routes that made them."""

    predictions: Any
    routes: tuple[Route, ...]
    model: LoadedModel

    @property
    def model_version(self) -> str:
        return ",".join(dict.fromkeys(r.model_version for r in self.routes))

    @property
    def version(self) -> str:
        return ",".join(dict.fromkeys(r.version for r in self.routes))

    @property
    def variant(self) -> str | None:
        labels = [r.variant for r in self.routes if r.role is RouteRole.VARIANT and r.variant]
        return ",".join(dict.fromkeys(labels)) or None


class DataPlane:
    """Args:
    client: The store (embedded or a server) the endpoints and models come from.
    prediction_log: Where every scored request is logged (None: not logged).
    metrics: The process's Prometheus metrics.
    config: Polling, batching and shadow settings.
    """

    def __init__(
        self,
        client: Client,
        *,
        prediction_log: PredictionLogWriter | None,
        metrics: ServingMetrics,
        config: DataPlaneConfig = DataPlaneConfig(),
    ) -> None:
        self.client = client
        self.config = config
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.stats = StatsRecorder()
        self.pool = ModelPool(client, batching=config.batching, on_batch=self._count_batch)
        self._live: dict[str, LiveEndpoint] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._shadow_slots = asyncio.Semaphore(config.max_shadow_in_flight)
        self.shadows_skipped = 0
        self.stats_denied = False
        """The store refused this replica's route stats (its token lacks ``approver``)."""
        self.ready = False
        self._in_flight = 0
        self._overlapped_at = 0.0
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load every served endpoint, then keep polling and reporting in the background."""
        if self.prediction_log is not None:
            self.prediction_log.start()
            self.metrics.set_lag_source(self.prediction_log.lag_seconds)
        with contextlib.suppress(PlinthError):
            await self.refresh()
        self._tasks = [
            asyncio.create_task(self._every(self.config.refresh_s, self.refresh)),
            asyncio.create_task(self._every(self.config.stats_flush_s, self.report_stats)),
        ]

    async def stop(self) -> None:
        """Stop polling, report the last stats, flush the prediction log."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Shadow scores still running belong in the prediction log too (bounded wait).
        if self._shadow_tasks:
            await asyncio.wait(self._shadow_tasks, timeout=SHADOW_DRAIN_S)
        with contextlib.suppress(PlinthError):
            await self.report_stats()
        await self.pool.close()
        if self.prediction_log is not None:
            await asyncio.to_thread(self.prediction_log.close)

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:  # a background job must outlive a bad round
                log.exception("Serving background job %s failed", getattr(job, "__name__", job))

    async def refresh(self) -> None:
        """Apply the store's current endpoints: new revisions go live once loaded."""
        endpoints = await asyncio.to_thread(self.client.stores.serving.list_endpoints)
        wanted = self.config.endpoints
        served = {e.name: e for e in endpoints if wanted is None or e.name in wanted}
        for name, endpoint in served.items():
            current = self._live.get(name)
            if current is None or _version_of(current.endpoint) != _version_of(endpoint):
                await self._go_live(endpoint)
        for name in [n for n in self._live if n not in served]:
            del self._live[name]
        await self.pool.retain({k for live in self._live.values() for k in live.models})
        self.ready = True

    async def _go_live(self, endpoint: Endpoint) -> None:
        """Load the revision's models, then switch to it. A live route that cannot load
        keeps the endpoint on its previous revision (logged, retried next refresh); a
        shadow that cannot load is left out (shadows are best-effort)."""
        live = [(r.model_name, r.version) for r in endpoint.routes if r.is_live]
        try:
            await self.pool.ensure(live)
        except Exception:  # any library's unpickling error; one endpoint must not stop all
            log.exception("Endpoint %s revision %s cannot load", endpoint.name, endpoint.revision)
            return
        for shadow in endpoint.shadows:
            try:
                await self.pool.ensure([(shadow.model_name, shadow.version)])
            except Exception:
                log.exception(
                    "Shadow %s of %s cannot load; skipped", shadow.model_version, endpoint.name
                )
        keys = [(r.model_name, r.version) for r in endpoint.routes]
        models = {key: served for key in keys if (served := self.pool.get(key)) is not None}
        self._live[endpoint.name] = LiveEndpoint(endpoint, RouteTable.of(endpoint), models)
        log.info("Endpoint %s now at revision %s", endpoint.name, endpoint.revision)

    async def report_stats(self) -> None:
        stats = self.stats.snapshot(now_ms=now_ms())
        if not stats:
            return
        try:
            await asyncio.to_thread(self.client.stores.serving.record_route_stats, stats)
        except PermissionDeniedError as exc:
            # No retry will succeed with this token: say so once, plainly, rather than a
            # traceback every few seconds, and keep serving (the stats are dropped).
            if not self.stats_denied:
                log.error(
                    "Route stats are not reported, so canaries and SLOs are judged without "
                    "this replica's traffic: %s Run `plinth serve` with the token of a user "
                    "holding the approver role (a service user: `plinth users create NAME "
                    "--role approver`).",
                    exc.message,
                )
            self.stats_denied = True
        except PlinthError:
            self.stats.requeue(stats)
            raise
        else:
            self.stats_denied = False

    # -- reading ---------------------------------------------------------------------------
    def live(self, name: str) -> LiveEndpoint:
        live = self._live.get(name)
        if live is None:
            raise NotFoundError(f"Endpoint {name!r} is not served here (see /v2/models).")
        return live

    def endpoints(self) -> list[Endpoint]:
        return [live.endpoint for live in self._live.values()]

    def primary_model(self, name: str, version: str | None = None) -> tuple[Route, LoadedModel]:
        """The model answering for ``name`` (its heaviest live route, or ``version``)."""
        live = self.live(name)
        route = self._pinned(live, version) if version else _heaviest(live.endpoint)
        return route, live.models[(route.model_name, route.version)].model

    # -- scoring ---------------------------------------------------------------------------
    async def infer(
        self, name: str, data: Any, *, request_id: str, version: str | None = None
    ) -> Answer:
        """Score ``data`` (a DataFrame or an ndarray) on the endpoint's routes.

        Raises:
            NotFoundError: unknown endpoint, or a pinned version it does not route to.
            InvalidArgumentError: the input does not fit the model's signature.
            ModelError: the model raised (500 with its error id).
        """
        started, arrived = time.perf_counter(), now_ms()
        self._in_flight += 1
        if self._in_flight > 1:
            self._overlapped_at = time.monotonic()
        try:
            return await self._infer(name, data, request_id, version, started, arrived)
        finally:
            self._in_flight -= 1

    async def _infer(
        self,
        name: str,
        data: Any,
        request_id: str,
        version: str | None,
        started: float,
        arrived: int,
    ) -> Answer:
        live = self.live(name)
        groups = self._assign(live, data, request_id, version)
        results = []
        for route, rows in groups:
            part = data if rows is None else take_rows(data, rows)
            served = live.models[(route.model_name, route.version)]
            predictions = await self._score(live, route, served, part, request_id, started, arrived)
            results.append((rows, predictions))
            self._shadow(live, part, request_id)
        predictions = results[0][1] if len(results) == 1 else _merged(results, len(data))
        routes = tuple(route for route, _ in groups)
        return Answer(
            predictions=predictions,
            routes=routes,
            model=live.models[(routes[0].model_name, routes[0].version)].model,
        )

    def _assign(
        self, live: LiveEndpoint, data: Any, request_id: str, version: str | None
    ) -> list[tuple[Route, list[int] | None]]:
        if version is not None:
            return [(self._pinned(live, version), None)]
        sticky = live.endpoint.sticky_key
        if sticky and isinstance(data, pd.DataFrame) and sticky in data.columns:
            keys = sticky_keys(data[sticky], request_id)
            groups = live.table.assign(keys)
            if len(groups) == 1:
                return [(next(iter(groups)), None)]
            return [(route, rows) for route, rows in groups.items()]
        return [(live.table.route_for(request_id), None)]

    @staticmethod
    def _pinned(live: LiveEndpoint, version: str) -> Route:
        route = live.endpoint.route_for_version(version)
        if route is None or not route.is_live:
            raise NotFoundError(
                f"Endpoint {live.endpoint.name!r} does not route live traffic to version "
                f"{version}; it serves "
                f"{', '.join(r.model_version for r in live.endpoint.live_routes)}."
            )
        return route

    async def _score(
        self,
        live: LiveEndpoint,
        route: Route,
        served: ServedModel,
        data: Any,
        request_id: str,
        started: float,
        arrived: int,
    ) -> Any:
        name = live.endpoint.name
        status, outputs, error = "ok", None, None
        prepared: Any = None
        try:
            prepared = served.model.prepare(_signature_columns(served.model, data))
            if _holds_no_rows(prepared):
                # The caller's mistake, not the model's: scikit-learn raises on zero rows,
                # which would count against the version's error rate and guardrails.
                raise InvalidArgumentError("The request holds no rows; send at least one.")
            outputs = await served.batcher.predict(prepared, alone=await self._is_alone())
        except InvalidArgumentError as exc:
            status, error = "invalid", exc.message
            raise
        except Exception as exc:
            blamed = _blames_missing_values(exc, prepared)
            missing = _missing_values(prepared) if blamed else None
            if missing:
                # The caller's input, not the model: the signature lets NaN through (as
                # MLflow's does), but counting this against the version would let one bad
                # client trip its guardrails and roll a healthy canary back. (A canary that
                # refuses more such input than its baseline is caught by its guardrails.)
                status = "invalid"
                public = (
                    f"The model {route.model_version} cannot score missing values: {missing} "
                    "hold NaN or null. Fill them, or serve a model that takes missing values."
                )
                # The model's own words go to the prediction log and the server log, not to
                # the caller (as for any model error: they may name its internals).
                error = f"{public} (the model raised {type(exc).__name__}: {exc})"
                log.info("Request %s refused: %s", request_id, error)
                raise InvalidArgumentError(public) from exc
            status = "error"
            error_id = uuid.uuid4().hex[:12]
            error = f"{type(exc).__name__}: {exc} (error id {error_id})"
            log.exception(
                "Model %s raised on request %s [%s]", route.model_version, request_id, error_id
            )
            self.metrics.count_model_error(name, route.model_version, route.label)
            raise ModelError(
                f"The model {route.model_version} failed on this request (error id {error_id}).",
                error_id=error_id,
            ) from exc
        finally:
            self._record(name, route, data, outputs, status, error, request_id, started, arrived)
        return outputs

    def _record(
        self,
        endpoint: str,
        route: Route,
        data: Any,
        outputs: Any,
        status: str,
        error: str | None,
        request_id: str,
        started: float,
        arrived: int,
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        self.metrics.observe(
            endpoint,
            route.model_version,
            route.label,
            status,  # type: ignore[arg-type]
            latency_ms / 1000,
        )
        self.stats.observe(endpoint, route, status=status, latency_ms=latency_ms, now_ms=arrived)
        if self.prediction_log is not None:
            self.prediction_log.log(
                PredictionRecord(
                    request_id=request_id,
                    endpoint=endpoint,
                    model_name=route.model_name,
                    model_version=route.version,
                    route=route.label,
                    timestamp_ms=arrived,
                    inputs=data,
                    outputs=outputs,
                    latency_ms=latency_ms,
                    status=status,
                    error=error,
                    rows=len(data),
                )
            )

    # -- shadows ---------------------------------------------------------------------------
    def _shadow(self, live: LiveEndpoint, data: Any, request_id: str) -> None:
        for route in live.endpoint.shadows:
            served = live.models.get((route.model_name, route.version))
            if served is None or self._shadow_slots.locked():
                self.shadows_skipped += 1
                continue
            task = asyncio.get_running_loop().create_task(
                self._score_shadow(live, route, served, data, request_id)
            )
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)

    async def _score_shadow(
        self, live: LiveEndpoint, route: Route, served: ServedModel, data: Any, request_id: str
    ) -> None:
        async with self._shadow_slots:
            with contextlib.suppress(Exception):  # counted and logged by _score; never surfaces
                await self._score(
                    live, route, served, data, request_id, time.perf_counter(), now_ms()
                )

    async def _is_alone(self) -> bool:
        """Whether requests come one at a time: none other in flight now nor in the last
        second. Then the model may run on the event loop (no thread hand-off); under
        concurrent load requests go through the batcher's thread and are batched.

        Running on the loop never suspends, so requests already received would not get to
        count themselves: one yield first lets them start (and be seen)."""
        if self._in_flight != 1 or time.monotonic() - self._overlapped_at <= ALONE_AFTER_S:
            return False
        await asyncio.sleep(0)
        return self._in_flight == 1

    def _count_batch(self, key: ModelKey, rows: int) -> None:
        self.metrics.observe_batch("", f"{key[0]}/{key[1]}", rows)


def _version_of(endpoint: Endpoint) -> tuple[int, int]:
    """What identifies an endpoint's routes: a re-created endpoint restarts its revision."""
    return endpoint.creation_timestamp, endpoint.revision


def sticky_keys(column: pd.Series[Any], request_id: str) -> list[str]:
    """The sticky field of each row as routing keys. Integral numbers hash as integers
    whatever their dtype (``42`` and ``42.0`` are one customer); a row without the field
    is routed by the request id, as a request without the field would be."""
    keys: list[str] = []
    for index, value in enumerate(column.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            keys.append(f"{request_id}:{index}")
        elif isinstance(value, float) and value.is_integer():
            keys.append(str(int(value)))
        else:
            keys.append(str(value))
    return keys


def _merged(results: list[tuple[list[int] | None, Any]], rows: int) -> Any:
    try:
        return merge_rows(results, rows)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidArgumentError(
            "This request's records went to A-B variants whose models answer in different "
            f"shapes ({exc}); send one record (or one customer) per request."
        ) from exc


def _heaviest(endpoint: Endpoint) -> Route:
    return max(endpoint.live_routes, key=lambda r: (r.role is RouteRole.PRIMARY, r.weight))


def _holds_no_rows(data: Any) -> bool:
    """Whether a prepared input (a frame, an array, or a mapping of them) has zero rows."""
    if isinstance(data, dict):
        return bool(data) and all(_holds_no_rows(v) for v in data.values())
    shape: tuple[int, ...] = getattr(data, "shape", ())
    return bool(shape) and shape[0] == 0


def _missing_values(data: Any) -> str | None:
    """Which columns or tensors of a prepared input hold NaN or null, for an error message;
    ``None`` if none do. Called only once the model has raised, never on the hot path."""
    if isinstance(data, pd.DataFrame):
        columns = [str(c) for c, has in data.isna().any().items() if has]
        return f"column(s) {', '.join(map(repr, columns))}" if columns else None
    if isinstance(data, dict):
        tensors = [str(name) for name, value in data.items() if _missing_values(value)]
        return f"input(s) {', '.join(map(repr, tensors))}" if tensors else None
    if isinstance(data, pd.Series | np.ndarray):
        try:
            return "the input" if bool(pd.isna(data).any()) else None
        except (TypeError, ValueError):  # an array pandas cannot read as values
            return None
    return None


_MISSING_VALUE_ERRORS = re.compile(
    r"contains NaN"  # scikit-learn: "Input X contains NaN"
    r"|unknown categor(?:y|ies)[^\]]*\[(?:None|nan|np\.float64\(nan\))"  # its encoders
    r"|'NoneType'|type NoneType|float NaN"  # float(None), a NumPy ufunc on None, int(nan)
    r"|NA or inf|value of NA|NaTType",  # pandas: a cast, a truth test, a date of NA
    re.IGNORECASE,
)
"""What libraries say when they refuse a missing value, phrase by phrase (a bare "None" or
"nan" is in many errors about other things)."""


_BAD_DTYPES = re.compile(r"(?:with bad pandas dtypes|Invalid columns):\s*(?P<columns>[^\n]*)")
"""LightGBM's and XGBoost's refusal of a frame's column types, naming them as ``name: dtype``
(a column holding only nulls reaches them as ``object``)."""


def _blames_missing_values(exc: BaseException, data: Any = None) -> bool:
    """Whether the model's error is a library's refusal of missing values. Only then is a
    request holding them the caller's fault: a model failing for another reason on such a
    request still fails as the model (its error counted and logged with an id). Attribute
    and key errors are the model's own bugs, whatever their message says."""
    if not isinstance(exc, ValueError | TypeError):
        return False
    if _MISSING_VALUE_ERRORS.search(f"{type(exc).__name__}: {exc}"):
        return True
    return _only_null_columns_refused(str(exc), data)


def _only_null_columns_refused(message: str, data: Any) -> bool:
    """A gradient-boosting library refused ``object`` columns, and every one it named is a
    column of ``data`` holding nothing but nulls (nulls in a column of numbers
    arrive as NaN, which these libraries take; a column of text is refused whatever it
    holds). Matched against the frame's own column names, which may hold ", " or ": "."""
    found = _BAD_DTYPES.search(message)
    if found is None or not isinstance(data, pd.DataFrame):
        return False
    null_only = [
        str(name)
        for position, name in enumerate(data.columns)  # by position: names may repeat
        if data.dtypes.iloc[position].kind == "O" and data.iloc[:, position].isna().to_numpy().all()
    ]
    # The named list, taken entry by entry from the front: each must be a null-only column.
    rest = found["columns"].strip()
    while rest:
        entry = next(
            (f"{name}: object" for name in null_only if _starts_entry(rest, f"{name}: object")),
            None,
        )
        if entry is None:
            return False
        rest = rest[len(entry) :].removeprefix(",").strip()
    return bool(null_only)


def _starts_entry(text: str, entry: str) -> bool:
    """``text`` starts with ``entry``, followed by the end or the next entry."""
    return text.startswith(entry) and (len(text) == len(entry) or text[len(entry)] == ",")


def _signature_columns(model: LoadedModel, data: Any) -> Any:
    """Pass over request fields the model's signature does not name (an A-B sticky key, a
    request id): they route and log the request but are not the model's input."""
    signature = model.metadata.signature
    if signature is None or signature.is_tensor_based or not isinstance(data, pd.DataFrame):
        return data
    names = signature.column_names
    if len(names) == len(data.columns) and all(
        a == b for a, b in zip(names, data.columns, strict=True)
    ):
        return data
    return data[[c for c in data.columns if c in set(names)]]


def routes_summary(routes: Sequence[Route]) -> str:
    return ", ".join(f"{r.model_version}={r.weight}%" for r in routes)
