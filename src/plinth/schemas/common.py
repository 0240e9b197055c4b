"""The base of every wire model, JSON-safe floats, pages, and JSON -> entity decoding."""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, WithJsonSchema

from plinth.entities.validation import MAX_TIMESTAMP_MS

T = TypeVar("T")

NON_FINITE = ("NaN", "Infinity", "-Infinity")


def encode_float(value: float) -> float | str:
    """JSON has no NaN or infinity: send them as the strings JavaScript's ``String()`` uses.

    Pydantic's lax float parsing reads those strings back, so decoding needs no help.
    """
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


WireFloat = Annotated[
    float,
    PlainSerializer(encode_float, return_type=float | str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"enum": list(NON_FINITE)}]}),
]
"""A float that survives JSON: non-finite values travel as ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``."""


EpochMs = Annotated[
    int, Field(ge=0, le=MAX_TIMESTAMP_MS, description="Epoch milliseconds, 1970 to 2100.")
]
"""A time in a request: a value past what the database or a date holds is a 400 here."""


class Wire(BaseModel):
    """Base of all wire models.

    ``from_attributes`` lets handlers return entities (frozen dataclasses) for a wire
    response model; ``extra="forbid"`` turns a misspelt field into a 400 naming it;
    numbers are accepted where strings are expected (param values), as the SQL store does.
    """

    model_config = ConfigDict(
        extra="forbid", from_attributes=True, frozen=True, coerce_numbers_to_str=True
    )


class PageOut(Wire, Generic[T]):
    """One page of a listing; pass ``next_page_token`` back as ``page_token`` for the next."""

    items: list[T]
    next_page_token: str | None = None


_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def decode(tp: type[T], data: object) -> T:
    """Rebuild an entity (or a ``Page``/``list`` of them) from response JSON."""
    adapter = _ADAPTERS.get(tp)
    if adapter is None:
        # Building an adapter compiles a validator: do it once per type.
        adapter = _ADAPTERS[tp] = TypeAdapter(tp)
    result: T = adapter.validate_python(data)
    return result
