"""A request body handed from the event loop to a worker thread while it arrives.

The artifact stores write with blocking calls, so an upload runs in a worker thread. Having
that thread ask the loop for each next block stalls the socket whenever the thread is busy
hashing or writing (nobody reads, so the server stops the client): an upload then costs
receiving plus writing. Here the loop keeps reading into a bounded queue that the thread
drains, so the two overlap and a 10 MB upload costs about the slower of the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import AsyncIterator, Iterator

from starlette.requests import ClientDisconnect, Request

from plinth.errors import InvalidArgumentError

MAX_BUFFERED_BYTES = 8 << 20
"""Bytes read from the client and not yet taken by the thread; the loop stops reading
beyond this, so a slow disk pushes back on the client instead of filling memory."""

_END = object()


@contextlib.asynccontextmanager
async def piped_body(
    request: Request, *, max_buffered: int = MAX_BUFFERED_BYTES
) -> AsyncIterator[BodyPipe]:
    """The body of ``request`` as a pipe being filled; iterate it in one worker thread.

    Reading stops when the block ends, also when the thread gave up early (a bad path, a
    full disk), so no task outlives the request.
    """
    pipe = BodyPipe(max_buffered=max_buffered)
    filling = asyncio.get_running_loop().create_task(pipe.fill(request))
    try:
        yield pipe
    finally:
        filling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await filling


class BodyPipe:
    """Run :meth:`fill` on the event loop and iterate the pipe in one worker thread
    (:func:`piped_body` does both).

    Args:
        max_buffered: Bytes the loop may read ahead of the thread.
    """

    def __init__(self, *, max_buffered: int = MAX_BUFFERED_BYTES) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._max_buffered = max_buffered
        self._buffered = 0  # changed on the loop only (the thread reports through it)
        self._room = asyncio.Event()

    async def fill(self, request: Request) -> None:
        """Read the whole body into the pipe. Never raises: a client that disconnects ends
        the pipe with an error, which the reading thread raises."""
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                self._buffered += len(chunk)
                self._queue.put(chunk)
                while self._buffered > self._max_buffered:
                    self._room.clear()
                    await self._room.wait()
        except ClientDisconnect:
            self._queue.put(InvalidArgumentError("The client disconnected during the upload."))
            return
        self._queue.put(_END)

    def __iter__(self) -> Iterator[bytes]:
        """The body's chunks, in order, for the worker thread; blocks until each arrives."""
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            self._loop.call_soon_threadsafe(self._taken, len(item))
            yield item

    def _taken(self, size: int) -> None:
        self._buffered -= size
        if self._buffered <= self._max_buffered // 2:
            self._room.set()
