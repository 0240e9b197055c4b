"""Adaptive micro-batching: concurrent requests for one model share one ``predict`` call.

One worker task per model takes everything queued (up to ``max_batch_rows``), concatenates
it, predicts in the model's own thread and hands each request its slice. Batching is
adaptive: with one request in flight it is predicted at once (no added wait); requests that
arrive while the model is busy form the next batch, so batch size grows with load.
``max_wait_ms`` > 0 additionally holds a batch open that long for stragglers, trading
latency for throughput on models whose cost hardly grows with rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PredictFn = Callable[[Any], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchingConfig:
    """Args:
    max_batch_rows: Most rows per ``predict`` call.
    max_wait_ms: How long a batch waits for more requests once the first arrived (0:
        adaptive only).
    """

    max_batch_rows: int = 256
    max_wait_ms: float = 0.0


class _Pending:
    __slots__ = ("data", "future", "rows")

    def __init__(self, data: Any, rows: int, future: asyncio.Future[Any]) -> None:
        self.data = data
        self.rows = rows
        self.future = future


class MicroBatcher:
    """Batches calls to ``predict`` for one model; create and use it inside one event loop."""

    def __init__(
        self,
        predict: PredictFn,
        *,
        config: BatchingConfig = BatchingConfig(),
        on_batch: Callable[[int], None] | None = None,
        name: str = "model",
    ) -> None:
        self._predict = predict
        self._config = config
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"predict-{name}")
        self._worker: asyncio.Task[None] | None = None
        self._busy = False
        self._closed = False

    async def predict(self, data: Any, *, alone: bool = False) -> Any:
        """Predict ``data`` (a DataFrame or ndarray) as part of the next batch.

        ``alone``: the caller knows no other request is in flight. With nothing queued
        either, the model runs right here on the event loop: a lone request skips two
        thread hand-offs (a few hundred microseconds), and nothing waits meanwhile.
        """
        loop = asyncio.get_running_loop()
        if alone and not self._busy and self._queue.empty() and not self._closed:
            self._busy = True
            try:
                result = self._predict(data)
            finally:
                self._busy = False
            if self._on_batch is not None:
                self._on_batch(len(data))
            return result
        if self._closed:
            # A request that picked this model just before its route went away: still
            # answered, alone, on the default pool.
            return await loop.run_in_executor(None, self._predict, data)
        if self._worker is None:
            self._worker = loop.create_task(self._run())
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait(_Pending(data, len(data), future))
        return await future

    async def close(self, *, drain_s: float = 30.0) -> None:
        """Stop batching once everything queued has been answered (at most ``drain_s``)."""
        self._closed = True
        deadline = time.monotonic() + drain_s
        while (self._busy or not self._queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        while not self._queue.empty():
            _fail(self._queue.get_nowait().future, RuntimeError("the model was unloaded"))
        self._thread.shutdown(wait=False)

    async def _run(self) -> None:
        while True:
            held: list[_Pending] = []
            try:
                batch = await self._collect(held)
                await self._answer(batch)
            except asyncio.CancelledError:
                # Closing gave up waiting (or the loop is shutting down): never leave a
                # caller waiting on a future nobody will answer.
                for pending in held:
                    _fail(pending.future, RuntimeError("the model was unloaded"))
                raise
            finally:
                self._busy = False

    async def _answer(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        try:
            if len(batch) == 1:
                result = await loop.run_in_executor(self._thread, self._predict, batch[0].data)
                _resolve(batch[0].future, result)
                return
            merged = _concat([p.data for p in batch])
            result = await loop.run_in_executor(self._thread, self._predict, merged)
            _split(result, batch)
        except Exception as exc:  # the model's error belongs to its callers
            if len(batch) == 1:
                _fail(batch[0].future, exc)
            else:
                await self._one_by_one(batch)

    async def _one_by_one(self, batch: list[_Pending]) -> None:
        """A batch failed: predict its requests alone, so only the one the model cannot
        take gets the error."""
        loop = asyncio.get_running_loop()
        for pending in batch:
            try:
                result = await loop.run_in_executor(self._thread, self._predict, pending.data)
            except Exception as exc:
                _fail(pending.future, exc)
            else:
                _resolve(pending.future, result)

    async def _collect(self, batch: list[_Pending]) -> list[_Pending]:
        """Fill ``batch`` (the caller's list, so it knows what is held) with the next
        batch; busy from the first request taken."""
        first = await self._queue.get()
        self._busy = True
        batch.append(first)
        rows = first.rows
        deadline = time.monotonic() + self._config.max_wait_ms / 1000
        while rows < self._config.max_batch_rows:
            if self._queue.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            batch.append(item)
            rows += item.rows
        if self._on_batch is not None:
            self._on_batch(rows)
        return batch


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the caller may have gone away (client disconnect)
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)


def _split(result: Any, batch: list[_Pending]) -> None:
    start = 0
    for pending in batch:
        end = start + pending.rows
        _resolve(pending.future, _rows(result, start, end))
        start = end


def _rows(result: Any, start: int, end: int) -> Any:
    """Rows ``start:end`` of a model's output, whatever its shape."""
    if isinstance(result, pd.DataFrame | pd.Series):
        return result.iloc[start:end].reset_index(drop=True)
    if isinstance(result, dict):
        return {key: _rows(value, start, end) for key, value in result.items()}
    return result[start:end]
