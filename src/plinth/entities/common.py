"""Shared record shapes: pages of results and time helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

T = TypeVar("T")


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
