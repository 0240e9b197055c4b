"""Shared record shapes: pages of results and time helpers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from plinth.errors import InvalidArgumentError

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results plus the opaque token of the next page (``None`` on the last)."""

    items: Sequence[T]
    next_page_token: str | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def token(self) -> str | None:
        """MLflow's ``PagedList.token`` name, so code written against mlflow reads pages as is."""
        return self.next_page_token


def now_ms() -> int:
    """Current time as epoch milliseconds, the unit of MLflow's API."""
    return int(datetime.now(UTC).timestamp() * 1000)


def ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_moment(value: str | int | datetime, *, now: datetime, flag: str = "--since") -> int:
    """A moment as epoch milliseconds, from a duration before ``now`` (``30m``, ``1h``,
    ``2d``, ``1w``), an ISO-8601 time (local to ``now``'s zone without one), a datetime or
    epoch milliseconds.

    Raises:
        InvalidArgumentError: none of these; the message names ``flag``.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int):
        return value
    else:
        duration = _DURATION.match(value)
        if duration:
            seconds = int(duration.group(1)) * _UNIT_SECONDS[duration.group(2).lower()]
            try:
                return max(int((now - timedelta(seconds=seconds)).timestamp() * 1000), 0)
            except (OverflowError, ValueError):  # further back than datetime reaches
                return 0
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidArgumentError(
                f"{flag} {value!r} is neither a duration (30m, 1h, 2d, 1w) nor an ISO-8601 "
                "time (2024-05-01 or 2024-05-01T12:00:00+00:00)."
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    return int(moment.timestamp() * 1000)
