"""One HTTP call to a Plinth server: encode, send with retries, map errors, decode JSON.

Errors come back as the same ``PlinthError`` families the embedded store raises: a JSON
error body ``{"error_code", "message"}`` goes through ``plinth.errors.error_from_code``;
a server that does not answer becomes ``BackendUnavailableError`` naming its URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from plinth import __version__
from plinth.entities.validation import UNPAIRED_SURROGATE, unstorable
from plinth.errors import (
    BackendUnavailableError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PlinthError,
    UnauthenticatedError,
    error_from_code,
)

M = TypeVar("M", bound=BaseModel)
QueryItem: TypeAlias = str | int | float | bool | None
QueryValue: TypeAlias = str | int | Sequence[str] | None
Query: TypeAlias = BaseModel | Mapping[str, QueryValue] | None
"""Query parameters: a wire model (unset fields are left out) or a plain mapping."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUS = 503
# Statuses a proxy may answer with, without our JSON error body.
_FAMILY_FOR_STATUS: dict[int, type[PlinthError]] = {
    400: InvalidArgumentError,
    401: UnauthenticatedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    502: BackendUnavailableError,
    503: BackendUnavailableError,
    504: BackendUnavailableError,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry a request the server did not take.

    Args:
        attempts: Tries in total, the first included.
        backoff_s: Pause before the first retry; it doubles after each one.
        max_backoff_s: Upper bound of one pause.
        sleep: Injected so tests do not wait.
    """

    attempts: int = 4
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    sleep: Callable[[float], None] = time.sleep

    def pause(self, attempt: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * 2**attempt))


def path_segment(value: str) -> str:
    """Quote ``value`` as one path segment: slashes and dot segments must not be read as
    path structure (metric and tag keys may contain ``/`` and ``.``)."""
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"A name or key must be a str, got {type(value).__name__} {value!r:.40}."
        )
    if len(value) > MAX_PATH_SEGMENT:
        # Past what a URL carries; no name or key the server stores is this long.
        raise InvalidArgumentError(
            f"A name or key of {len(value)} characters is longer than any stored one."
        )
    try:
        return quote(value, safe="").replace(".", "%2E")
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"Invalid name or key: {UNPAIRED_SURROGATE}.") from None


MAX_PATH_SEGMENT = 8_000
"""Longer names or keys are refused before a URL is built (the store's longest is 8,000)."""


def new_http_client(base_url: str, *, token: str | None, timeout_s: float = 30.0) -> httpx.Client:
    """A keep-alive client for a Plinth server, authenticated by ``token`` when given."""
    headers = {"User-Agent": f"plinth/{__version__}", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


class RestClient:
    """Calls a Plinth server over an injected ``httpx.Client`` (whose pool is kept alive)."""

    def __init__(self, http: httpx.Client, *, retry: RetryPolicy | None = None) -> None:
        self.http = http
        self.retry = retry or RetryPolicy()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: Query = None,
    ) -> Any:
        """Send one request and return its decoded JSON (``None`` for an empty body)."""
        response = self._send(method, path, body, params)
        _raise_for_error(response)
        return orjson.loads(response.content) if response.content else None

    def call_bytes(self, method: str, path: str, *, params: Query = None) -> bytes:
        """Send one request and return its raw body (binary downloads)."""
        response = self._send(method, path, None, params)
        _raise_for_error(response)
        return response.content

    def find(self, path: str, *, params: Query = None) -> Any:
        """GET that answers ``None`` instead of raising when the object does not exist."""
        response = self._send("GET", path, None, params)
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        _raise_for_error(response)
        return orjson.loads(response.content)

    def _send(
        self,
        method: str,
        path: str,
        body: BaseModel | None,
        params: Query,
    ) -> httpx.Response:
        try:
            request = self.http.build_request(
                method,
                path,
                content=None if body is None else _json_body(body),
                headers={"Content-Type": "application/json"} if body is not None else None,
                params=_query(params),
            )
        except UnicodeEncodeError:  # a name in the path or query no URL can carry
            raise InvalidArgumentError(f"Invalid request: {UNPAIRED_SURROGATE}.") from None
        except httpx.InvalidURL as exc:  # e.g. a query string past what a URL holds
            raise InvalidArgumentError(f"Invalid request: {exc}; send shorter values.") from None
        for attempt in range(self.retry.attempts):
            is_last = attempt == self.retry.attempts - 1
            try:
                response = self.http.send(request)
            except httpx.TransportError as exc:
                if is_last or not _may_retry(method, exc):
                    raise BackendUnavailableError(
                        f"Plinth server at {request.url} did not answer: {exc!r}"
                    ) from exc
            else:
                if is_last or not _should_retry_status(method, response):
                    return response
                response.close()
            self.retry.sleep(self.retry.pause(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")


def build(model: type[M], **values: object) -> M:
    """Validate a request body client-side; bad values raise the server's error family."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise InvalidArgumentError(f"Invalid request: {problems}") from None


def _json_body(body: BaseModel) -> bytes:
    try:
        data = body.model_dump(mode="json")
    except PydanticSerializationError as exc:  # e.g. a NumPy integer where a name belongs
        raise InvalidArgumentError(
            f"Invalid request: a value cannot be sent as JSON ({exc})"
        ) from None
    try:
        encoded = orjson.dumps(data)
    except orjson.JSONEncodeError:
        problem = unstorable(data, integers=True)
        if problem is None:
            raise
        # The errors the server (and the SQL store) give for the same values.
        raise InvalidArgumentError(problem) from None
    # Pydantic writes an unpaired surrogate in a dict key as U+FFFD, silently: look for it
    # in bodies that are not plain ASCII (isascii is a fast scan; the 3-byte search is not)
    # and, only if found, for a surrogate it could stand for.
    if not encoded.isascii() and _REPLACEMENT_CHARACTER in encoded:
        problem = unstorable(body.model_dump())
        if problem is not None:
            raise InvalidArgumentError(problem)
    return encoded


_REPLACEMENT_CHARACTER = "\ufffd".encode()


def _may_retry(method: str, exc: httpx.TransportError) -> bool:
    # A failed connect never reached the server, so even a POST is safe to resend; any
    # later failure may have been applied, so only idempotent requests are retried.
    return (
        isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or method in IDEMPOTENT_METHODS
    )


def _should_retry_status(method: str, response: httpx.Response) -> bool:
    return response.status_code == _RETRY_STATUS and method in IDEMPOTENT_METHODS


def _query(params: Query) -> list[tuple[str, QueryItem]] | None:
    """Query pairs without the unset values; sequences become repeated keys."""
    if params is None:
        return None
    if isinstance(params, BaseModel):
        params = params.model_dump(mode="json", exclude_none=True)
    pairs: list[tuple[str, QueryItem]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, str | int):
            pairs.append((key, value))
        else:
            pairs.extend((key, item) for item in value)
    return pairs


def _raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    error = _error_body(response)
    if error is not None:
        raise error_from_code(*error)
    family = _FAMILY_FOR_STATUS.get(response.status_code, PlinthError)
    raise family(f"HTTP {response.status_code} from {response.request.url}: {response.text[:200]}")


def _error_body(response: httpx.Response) -> tuple[str, str, str | None] | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error_code"), str):
        error_type = body.get("error_type")
        return (
            body["error_code"],
            str(body.get("message", "")),
            error_type if isinstance(error_type, str) else None,
        )
    return None
