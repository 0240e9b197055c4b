"""SHA-256 of a stream being written, computed beside the writer for large streams."""

from __future__ import annotations

import hashlib
import queue
import threading

INLINE_BYTES = 1 << 20
"""Streams up to this size are hashed inline: starting a thread costs more than hashing
them. Beyond it the rest is hashed in a helper thread while the caller writes (hashlib
releases the GIL on large buffers, so the two run on two cores)."""

_QUEUED_CHUNKS = 2
"""Chunks handed to the hasher and not yet hashed; the writer waits beyond this, so a
disk faster than the hash never buffers the stream in memory."""


class StreamSha256:
    """``update`` with each chunk in order, then ``hexdigest`` once; ``close`` on every path
    (a ``with`` block does it) so the helper thread never outlives the stream."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._inline = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, chunk: bytes) -> None:
        if self._queue is not None:
            self._queue.put(chunk)
            return
        self._hash.update(chunk)
        self._inline += len(chunk)
        if self._inline >= INLINE_BYTES:
            self._queue = queue.Queue(_QUEUED_CHUNKS)
            self._thread = threading.Thread(target=self._run, name="plinth-sha256", daemon=True)
            self._thread.start()

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> StreamSha256:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)
