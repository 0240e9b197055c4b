"""Loaded model versions of a serving process: each loaded once, each with its batcher.

Loading happens in a thread (it reads and unpickles files), before a route that needs the
version goes live, so no request waits for a load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from plinth.client import Client
from plinth.models.loader import LoadedModel, load_model
from plinth.serving.batcher import BatchingConfig, MicroBatcher

log = logging.getLogger("plinth.serving")

ModelKey = tuple[str, str]
"""(registered model name, version)"""


@dataclass(frozen=True, slots=True)
class ServedModel:
    model: LoadedModel
    batcher: MicroBatcher


class ModelPool:
    """Args:
    client: Resolves ``models:/NAME/VERSION`` and downloads packages.
    batching: Micro-batching settings of every model.
    on_batch: Called with (model key, rows) per predict call (the batch-size metric).
    """

    def __init__(
        self,
        client: Client,
        *,
        batching: BatchingConfig,
        on_batch: Callable[[ModelKey, int], None] | None = None,
    ) -> None:
        self._client = client
        self._batching = batching
        self._on_batch = on_batch
        self._models: dict[ModelKey, ServedModel] = {}
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, key: ModelKey) -> ServedModel | None:
        return self._models.get(key)

    def __contains__(self, key: ModelKey) -> bool:
        return key in self._models

    async def ensure(self, keys: Iterable[ModelKey]) -> None:
        """Load every version in ``keys`` not loaded yet. Raises what ``load_model`` raises."""
        async with self._lock:
            for key in keys:
                if key not in self._models:
                    self._models[key] = await self._load(key)

    async def _load(self, key: ModelKey) -> ServedModel:
        name, version = key
        log.info("Loading model %s/%s", name, version)
        model = await asyncio.to_thread(
            load_model, f"models:/{name}/{version}", client=self._client
        )

        def counted(rows: int) -> None:
            if self._on_batch is not None:
                self._on_batch(key, rows)

        batcher = MicroBatcher(
            model.predict_prepared,
            config=self._batching,
            on_batch=counted,
            name=f"{name}-{version}",
        )
        return ServedModel(model, batcher)

    async def retain(self, keys: set[ModelKey]) -> None:
        """Unload versions no endpoint routes to any more, once the requests they already
        took are answered (in the background: a refresh never waits for a drain)."""
        async with self._lock:
            gone = [(k, self._models.pop(k)) for k in list(self._models) if k not in keys]
        for key, served in gone:
            task = asyncio.create_task(served.batcher.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            log.info("Unloading model %s/%s", *key)

    async def close(self) -> None:
        await self.retain(set())
        await asyncio.gather(*self._closing, return_exceptions=True)
