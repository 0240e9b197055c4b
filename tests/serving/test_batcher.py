"""Adaptive micro-batching: concurrent requests share predict calls, one bad request fails
alone, and unloading a model never leaves a request hanging."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from plinth.serving.batcher import BatchingConfig, MicroBatcher


class Model:
    """Doubles its input slowly (so requests queue up) and refuses negative numbers."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, data: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        with self.lock:
            self.calls.append(len(data))
        time.sleep(0.01)
        if (data < 0).any():
            raise ValueError("negative input")
        return data * 2


def test_concurrent_requests_share_predict_calls() -> None:
    model = Model()
    sizes: list[int] = []

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(model, on_batch=sizes.append)
        results = await asyncio.gather(*(batcher.predict(np.array([i])) for i in range(50)))
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    assert [int(r[0]) for r in results] == [2 * i for i in range(50)]
    assert len(model.calls) < 50 and sum(model.calls) == 50 and max(sizes) > 1


def test_max_batch_rows_is_respected() -> None:
    model = Model()

    async def scenario() -> None:
        batcher = MicroBatcher(model, config=BatchingConfig(max_batch_rows=8))
        await asyncio.gather(*(batcher.predict(np.array([i, i])) for i in range(20)))
        await batcher.close()

    asyncio.run(scenario())
    assert max(model.calls) <= 8 and sum(model.calls) == 40


def test_one_bad_request_fails_alone() -> None:
    model = Model()

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(model)
        inputs = [np.array([-1]) if i == 3 else np.array([i]) for i in range(10)]
        results = await asyncio.gather(
            *(batcher.predict(x) for x in inputs), return_exceptions=True
        )
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    assert isinstance(results[3], ValueError)
    assert [int(r[0]) for i, r in enumerate(results) if i != 3] == [
        2 * i for i in range(10) if i != 3
    ]


def test_a_closed_batcher_still_answers_late_requests() -> None:
    """A request that picked a model just before its route was removed must not hang."""

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(Model())
        first = asyncio.create_task(batcher.predict(np.array([1, 2])))
        await asyncio.sleep(0)
        closing = asyncio.create_task(batcher.close())
        late = await asyncio.wait_for(batcher.predict(np.array([5])), 5)
        await closing
        return [await first, late]

    first, late = asyncio.run(scenario())
    assert list(first) == [2, 4] and list(late) == [10]


@pytest.mark.parametrize("wait_ms", [0.0, 20.0])
def test_max_wait_holds_a_batch_open(wait_ms: float) -> None:
    model = Model()

    async def scenario() -> None:
        batcher = MicroBatcher(model, config=BatchingConfig(max_wait_ms=wait_ms))

        async def later(i: int) -> Any:
            await asyncio.sleep(0.002 * i)
            return await batcher.predict(np.array([i]))

        await asyncio.gather(*(later(i) for i in range(5)))
        await batcher.close()

    asyncio.run(scenario())
    assert sum(model.calls) == 5
    if wait_ms:
        assert model.calls[0] == 5


def test_closing_while_a_batch_waits_for_stragglers_answers_it() -> None:
    async def scenario() -> Any:
        batcher = MicroBatcher(Model(), config=BatchingConfig(max_wait_ms=200))
        waiting = asyncio.create_task(batcher.predict(np.array([3])))
        await asyncio.sleep(0.02)  # the worker now holds it, waiting for more
        await batcher.close()
        return await asyncio.wait_for(waiting, 5)

    assert list(asyncio.run(scenario())) == [6]
