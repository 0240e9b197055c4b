"""The serving store's records that are not endpoints: events, route stats, feedback."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.entities import now_ms
from plinth.entities.route_stats import RouteStats
from plinth.entities.serving import EndpointEvent, Feedback
from plinth.entities.validation import json_text, validate_time_window, validate_timestamp
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.store.sql.models import EndpointEventRow, EndpointRow, FeedbackRow, RouteStatsRow
from plinth.store.sql.session import SqlStoreBase

MAX_FEEDBACK_ITEMS = 10_000


class ServingRecords(SqlStoreBase):
    """Events, stats and feedback; ``SqlServingStore`` adds endpoints and routes."""

    # -- events ----------------------------------------------------------------------------
    def _event(
        self,
        session: Session,
        name: str,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        session.add(
            EndpointEventRow(
                endpoint=name,
                event_type=event_type,
                user_name=self.actor,
                timestamp=now_ms(),
                comment=comment,
                details_json=json_text(details or {}, "details"),
            )
        )

    def record_endpoint_event(
        self,
        name: str,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        with self._write() as session:
            if session.get(EndpointRow, name) is None:
                raise NotFoundError(f"Endpoint {name!r} does not exist.")
            self._event(session, name, event_type, comment=comment, details=details)

    def list_endpoint_events(
        self, name: str, *, since_ms: int | None = None, limit: int = 1000
    ) -> list[EndpointEvent]:
        validate_time_window(since_ms, None)
        stmt = select(EndpointEventRow).where(EndpointEventRow.endpoint == name)
        if since_ms is not None:
            stmt = stmt.where(EndpointEventRow.timestamp >= since_ms)
        stmt = stmt.order_by(EndpointEventRow.event_id.desc()).limit(limit)
        with self._read() as session:
            rows = list(session.scalars(stmt))
        return [_event_entity(row) for row in reversed(rows)]

    # -- route stats -----------------------------------------------------------------------
    def record_route_stats(self, stats: Sequence[RouteStats]) -> None:
        rows = [_stats_row(s) for s in stats]
        if not rows:
            return
        with self._write() as session:
            self._upsert(
                session,
                RouteStatsRow.__table__,  # type: ignore[arg-type]
                rows,
                keys=("endpoint", "route", "model_name", "version", "minute", "replica"),
                update=("requests", "errors", "invalid", "latency_sum_ms", "buckets_json"),
            )

    def list_route_stats(
        self, endpoint: str, *, since_ms: int, until_ms: int | None = None
    ) -> list[RouteStats]:
        validate_time_window(since_ms, until_ms)
        stmt = select(RouteStatsRow).where(
            RouteStatsRow.endpoint == endpoint, RouteStatsRow.minute >= since_ms
        )
        if until_ms is not None:
            stmt = stmt.where(RouteStatsRow.minute < until_ms)
        with self._read() as session:
            return [_stats_entity(row) for row in session.scalars(stmt)]

    # -- feedback --------------------------------------------------------------------------
    def log_feedback(self, items: Sequence[Feedback]) -> int:
        if len(items) > MAX_FEEDBACK_ITEMS:
            raise InvalidArgumentError(
                f"{len(items)} feedback items in one call; send at most {MAX_FEEDBACK_ITEMS}."
            )
        rows = [self._feedback_row(item, index) for index, item in enumerate(items)]
        with self._write() as session:
            for name in {item.endpoint for item in items}:
                if session.get(EndpointRow, name) is None:
                    raise NotFoundError(f"Endpoint {name!r} does not exist.")
            session.add_all(rows)
        return len(rows)

    def _feedback_row(self, item: Feedback, index: int) -> FeedbackRow:
        where = f"feedback[{index}]"
        if not item.request_id:
            raise InvalidArgumentError(f"{where}.request_id is required.")
        if item.label is None and not item.outcomes:
            raise InvalidArgumentError(
                f"{where} has neither a label nor outcomes; send at least one, e.g. "
                '{"request_id": "...", "label": 1} or {"outcomes": {"converted": 1}}.'
            )
        for key, value in item.outcomes.items():
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidArgumentError(
                    f"{where}.outcomes.{key} must be a finite number (or true/false), "
                    f"got {value!r}."
                )
        return FeedbackRow(
            endpoint=item.endpoint,
            request_id=item.request_id,
            label_json=None if item.label is None else json_text(item.label, f"{where}.label"),
            outcomes_json=json_text(
                {k: float(v) for k, v in item.outcomes.items()}, f"{where}.outcomes"
            ),
            timestamp=(
                now_ms()
                if item.timestamp is None
                else validate_timestamp(f"{where}.timestamp", item.timestamp)
            ),
            user_name=self.actor,
        )

    def list_feedback(
        self, endpoint: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[Feedback]:
        validate_time_window(since_ms, until_ms)
        stmt = select(FeedbackRow).where(FeedbackRow.endpoint == endpoint)
        if since_ms is not None:
            stmt = stmt.where(FeedbackRow.timestamp >= since_ms)
        if until_ms is not None:
            stmt = stmt.where(FeedbackRow.timestamp < until_ms)
        stmt = stmt.order_by(FeedbackRow.timestamp, FeedbackRow.feedback_id)
        with self._read() as session:
            return [_feedback_entity(row) for row in session.scalars(stmt)]


def _event_entity(row: EndpointEventRow) -> EndpointEvent:
    return EndpointEvent(
        event_id=row.event_id,
        endpoint=row.endpoint,
        event_type=row.event_type,
        user_name=row.user_name,
        timestamp=row.timestamp,
        comment=row.comment,
        details=json.loads(row.details_json or "{}"),
    )


def _stats_row(stats: RouteStats) -> dict[str, object]:
    return {
        "endpoint": stats.endpoint,
        "route": stats.route,
        "model_name": stats.model_name,
        "version": int(stats.version),
        "minute": stats.minute,
        "replica": stats.replica,
        "requests": stats.requests,
        "errors": stats.errors,
        "invalid": stats.invalid,
        "latency_sum_ms": stats.latency_sum_ms,
        "buckets_json": json.dumps(sorted(stats.buckets.items())),
    }


def _stats_entity(row: RouteStatsRow) -> RouteStats:
    return RouteStats(
        endpoint=row.endpoint,
        route=row.route,
        model_name=row.model_name,
        version=str(row.version),
        minute=row.minute,
        replica=row.replica,
        requests=row.requests,
        errors=row.errors,
        invalid=row.invalid,
        latency_sum_ms=row.latency_sum_ms,
        buckets={int(i): int(c) for i, c in json.loads(row.buckets_json or "[]")},
    )


def _feedback_entity(row: FeedbackRow) -> Feedback:
    return Feedback(
        endpoint=row.endpoint,
        request_id=row.request_id,
        label=None if row.label_json is None else json.loads(row.label_json),
        outcomes=json.loads(row.outcomes_json or "{}"),
        timestamp=row.timestamp,
        user_name=row.user_name,
    )
