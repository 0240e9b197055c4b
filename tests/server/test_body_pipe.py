"""piped_body: a request body handed to a worker thread while it arrives, with a bound on
what is read ahead, and a disconnect surfacing in the thread."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import anyio.to_thread
import pytest
from starlette.requests import Request

from plinth.errors import InvalidArgumentError
from plinth.server.body_pipe import piped_body


def _request(chunks: list[bytes], *, disconnect: bool = False) -> tuple[Request, list[int]]:
    """A Starlette request whose ASGI ``receive`` serves ``chunks``; also the list of how
    many chunks had been received each time one was asked for."""
    served: list[int] = []
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": True} for c in chunks
    ]
    messages.append(
        {"type": "http.disconnect"}
        if disconnect
        else {"type": "http.request", "body": b"", "more_body": False}
    )

    async def receive() -> dict[str, Any]:
        served.append(len(served))
        return messages[len(served) - 1]

    scope = {"type": "http", "method": "PUT", "path": "/", "headers": [], "query_string": b""}
    return Request(scope, receive), served


def _collect_slowly(pipe: Any, seen_received: list[int], served: list[int]) -> bytes:
    out = []
    for chunk in pipe:
        seen_received.append(len(served))
        out.append(chunk)
        time.sleep(0.002)
    return b"".join(out)


def test_the_thread_gets_the_body_in_order_and_the_loop_reads_at_most_the_bound_ahead() -> None:
    chunks = [os.urandom(1024) for _ in range(40)]
    request, served = _request(chunks)
    seen: list[int] = []

    async def run() -> bytes:
        async with piped_body(request, max_buffered=4 * 1024) as body:
            got: bytes = await anyio.to_thread.run_sync(_collect_slowly, body, seen, served)
            return got

    assert asyncio.run(run()) == b"".join(chunks)
    # When the thread took chunk i, the loop had read at most the bound (4 chunks) plus the
    # one that crossed it beyond what the thread had taken.
    assert all(received - taken <= 6 for taken, received in enumerate(seen, start=1))


def test_a_client_that_disconnects_fails_the_thread_with_a_clear_error() -> None:
    request, _ = _request([b"a" * 100, b"b" * 100], disconnect=True)

    async def run() -> None:
        async with piped_body(request) as body:
            await anyio.to_thread.run_sync(lambda: b"".join(body))

    with pytest.raises(InvalidArgumentError, match="disconnected"):
        asyncio.run(run())


def test_a_thread_that_gives_up_early_stops_the_reading() -> None:
    started = threading.Event()
    request, served = _request([b"x" * 1024] * 10_000)

    def give_up(body: Any) -> None:
        next(iter(body))
        started.set()
        raise OSError("disk full")

    async def run() -> None:
        async with piped_body(request) as body:
            await anyio.to_thread.run_sync(give_up, body)

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(run())
    assert started.is_set()
    assert len(served) < 10_000
