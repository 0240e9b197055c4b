"""Near-real-time inference over Redis Streams: ``StreamConsumer`` scores what producers add.

**Input.** One record per message, as a JSON object in the field ``data``, plus an optional
``request_id`` field: ``XADD requests * data '{"tenure": 12.5, "calls": 3}' request_id r-1``.
Messages whose fields *are* the columns are refused: stream values are untyped strings, so
``calls`` would reach the model as the text ``"3"``, which its signature rejects; JSON keeps
numbers, nulls and nesting.

**Output.** Per scored message, an output-stream entry with ``id`` (the input message id),
``prediction`` (JSON), ``model_version``, ``route``, ``consumer``, ``timestamp_ms`` and the
``request_id`` if given. Unscorable messages go to the dead-letter stream (default
``<stream>:dead``) with ``id``, ``consumer``, ``timestamp_ms``, ``request_id``, ``reason``
(``malformed``: no JSON object in ``data``; ``invalid_record``: it does not fit the model's
signature; ``model_error``: the model failed), ``error``, ``payload`` (the original ``data``,
else all fields as JSON) and for model errors an ``error_id``, logged with the traceback.

**Delivery: at least once, idempotent by message id.** A batch's results, dead letters and
XACK go in one MULTI/EXEC, so a crash leaves all of them or none. The transaction also sets a
marker per message id (``SET NX``, 24 h TTL): marked ids are acknowledged without scoring, and
markers are WATCHed while committing, so a consumer that stalled while another took its
messages over (XAUTOCLAIM after ``claim_idle_ms``) cannot write a result twice. A redelivery
after the TTL is scored again. On Redis Cluster give all streams one hash tag
(``{churn}:requests``, ``{churn}:predictions``): a transaction's keys must share a slot.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import orjson

from plinth.entities import now_ms
from plinth.errors import BackendUnavailableError, InvalidArgumentError, PlinthError
from plinth.models.loader import LoadedModel, Predictions, load_model
from plinth.registry.uris import is_models_uri, logged_model_id, resolve_model_version
from plinth.tracking import fluent

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

    from plinth.client import Client

log = logging.getLogger("plinth.serving.stream")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DATA_FIELD = "data"
REQUEST_ID_FIELD = "request_id"
PROCESSED_TTL_S = 24 * 3600
"""How long a processed id is remembered; a redelivery within it is not scored again."""
DeadLetterReason: TypeAlias = Literal["malformed", "invalid_record", "model_error"]
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number"}
_Fields: TypeAlias = dict[str, str | bytes | int]
_Entry: TypeAlias = tuple[str, dict[Any, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredBatch:
    """A scorer's answer for a batch of records.

    Attributes:
        predictions: One JSON-able prediction per input record, in order.
        model_version: ``NAME/VERSION`` of the registered version that scored, else the URI.
        route: The endpoint route that served the batch (canary / A-B); ``primary`` else.
    """

    predictions: list[object]
    model_version: str
    route: str = "primary"


class RecordScorer(Protocol):
    """Scores JSON records: the seam between stream inference and a model or an endpoint.

    ``request_ids`` has one id per record (the message's ``request_id``, else its message
    id, which survives redelivery) for routing and the prediction log. Raises
    ``InvalidArgumentError`` when the records do not fit the model's signature.
    """

    def __call__(self, records: list[dict[str, Any]], request_ids: list[str]) -> ScoredBatch: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRecordScorer:
    """A ``RecordScorer`` over one loaded model; see ``model_record_scorer``."""

    model: LoadedModel
    model_version: str

    def __call__(self, records: list[dict[str, Any]], request_ids: list[str]) -> ScoredBatch:
        predictions = predictions_per_record(self.model.predict(records), len(records))
        return ScoredBatch(predictions=predictions, model_version=self.model_version)


def model_record_scorer(
    model_uri: str | Path, *, client: Client | None = None
) -> ModelRecordScorer:
    """A scorer predicting with the model at ``model_uri``, loaded (and verified) once.
    ``models:/NAME@ALIAS`` (or a stage) is pinned to the version it names now, so outputs
    name the version that scored them even if the alias moves while the consumer runs.

    Args:
        model_uri: Any URI ``plinth.models.load_model`` takes, or a package directory.
        client: Resolves ``runs:/`` and ``models:/`` URIs; defaults to the fluent client.

    Raises:
        NotFoundError: no model at the URI. InvalidArgumentError: a malformed URI.
    """
    uri = label = str(model_uri)
    if is_models_uri(uri) and logged_model_id(uri) is None:
        version = resolve_model_version(client or fluent.get_client(), uri)
        label = f"{version.name}/{version.version}"
        uri = f"models:/{label}"
    return ModelRecordScorer(model=load_model(uri, client=client), model_version=label)


def predictions_per_record(predictions: Predictions, count: int) -> list[object]:
    """One plain value per record; ``PlinthError`` if the count differs from ``count``."""
    import numpy as np
    import pandas as pd

    rows: list[object]
    if isinstance(predictions, pd.DataFrame):
        rows = list(predictions.to_dict(orient="records"))
    elif isinstance(predictions, np.ndarray | pd.Series):
        values = predictions.tolist()
        rows = values if isinstance(values, list) else [values]
    elif isinstance(predictions, dict):
        # ONNX: one array per output name -> one {name: value} per record.
        columns = {name: predictions_per_record(v, count) for name, v in predictions.items()}
        rows = [{name: column[i] for name, column in columns.items()} for i in range(count)]
    else:
        rows = list(predictions)
    if len(rows) != count:
        raise PlinthError(f"The model returned {len(rows)} predictions for {count} records.")
    return rows


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStats:
    """A consumer's totals: messages ``processed`` (written to the output stream),
    ``dead_lettered``, and ``duplicates`` (redeliveries of processed ids, only acked)."""

    processed: int = 0
    dead_lettered: int = 0
    duplicates: int = 0

    @property
    def handled(self) -> int:
        """Every message acknowledged, whatever became of it."""
        return self.processed + self.dead_lettered + self.duplicates


@dataclass(frozen=True, slots=True)
class _Message:
    id: str
    record: dict[str, Any]
    payload: bytes
    request_id: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    message_id: str
    stream: str
    fields: _Fields


class StreamConsumer:
    """One member of a Redis consumer group, scoring a stream's messages in batches.

    The module docstring gives the message formats and the delivery guarantees. Run one per
    process or thread, each with its own ``consumer`` name and client; they share the load.

    Args:
        redis_client: A RESP2 client (redis-py's default) whose socket timeout exceeds
            ``block_ms``; ``connect`` builds one.
        scorer: Scores a batch of records (``model_record_scorer``, an endpoint's scorer).
        stream, group, consumer: The input stream (created if missing), the consumer
            group shared by all its consumers (idem), and this consumer's name in it.
        output_stream, dead_letter_stream: Where results and unscorable messages go.
        batch_size: Messages read and scored per model call.
        block_ms: How long a read waits for messages (and ``run`` for its stop event).
        claim_idle_ms: A message pending this long with another consumer is taken over.
        processed_ttl_s, key_prefix: Lifetime and key prefix of the processed-id markers.
        clock: Epoch milliseconds for ``timestamp_ms``.
    """

    def __init__(
        self,
        redis_client: Redis,
        scorer: RecordScorer,
        *,
        stream: str,
        group: str,
        consumer: str,
        output_stream: str,
        dead_letter_stream: str | None = None,
        batch_size: int = 100,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        processed_ttl_s: int = PROCESSED_TTL_S,
        key_prefix: str = "plinth:stream",
        clock: Callable[[], int] = now_ms,
    ) -> None:
        dead_letter_stream = dead_letter_stream or f"{stream}:dead"
        sizes = {"batch_size": batch_size, "block_ms": block_ms, "claim_idle_ms": claim_idle_ms}
        _check_positive(**sizes, processed_ttl_s=processed_ttl_s)
        if stream in (output_stream, dead_letter_stream):
            raise InvalidArgumentError(
                f"The output and dead-letter streams must differ from the input stream "
                f"{stream!r}: what is written there would be read back as requests."
            )
        self._redis, self._scorer, self._clock = redis_client, scorer, clock
        self._stream, self._group, self._consumer = stream, group, consumer
        self._output_stream, self._dead_letter_stream = output_stream, dead_letter_stream
        self._batch_size, self._block_ms = batch_size, block_ms
        self._claim_idle_ms, self._ttl_s = claim_idle_ms, processed_ttl_s
        # The input stream's name (and so its Cluster hash tag) is part of every marker key.
        self._marker_prefix = f"{key_prefix}:{stream}:{group}:done:"
        self._url = redis_url_of(redis_client)
        self._claim_cursor, self._group_ready = "0-0", False
        self._stats = StreamStats()

    @property
    def stats(self) -> StreamStats:
        return self._stats

    def ensure_group(self) -> None:
        """Create the group (and the stream) unless it exists. A new group starts at the
        stream's beginning, so requests added before the first consumer ran are scored too.
        ``InvalidArgumentError`` if a stream's key holds something else."""
        from redis.exceptions import ResponseError

        with redis_errors(self._url):
            # Checked up front: in MULTI/EXEC a failed XADD would not stop the XACK after it.
            for key in (self._stream, self._output_stream, self._dead_letter_stream):
                if (kind := _text(self._redis.type(key))) not in ("stream", "none"):
                    message = f"Key {key!r} at {self._url} holds a {kind}, not a stream"
                    raise InvalidArgumentError(f"{message}; name another stream.")
            try:
                self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
            except ResponseError as exc:
                if not str(exc).startswith("BUSYGROUP"):
                    raise
        self._group_ready = True

    def process_once(self, *, max_count: int | None = None) -> int:
        """Take up to ``max_count`` (at most ``batch_size``) messages, those idle too long
        with other consumers first, else new ones within ``block_ms``; score and commit them.

        Returns the number acknowledged (0 if none came in time). Raises
        ``BackendUnavailableError`` if Redis or the scorer's backend does not answer; the
        batch then stays pending and is redelivered.
        """
        from redis.exceptions import ResponseError

        count = min(self._batch_size, max_count or self._batch_size)
        if not self._group_ready:
            self.ensure_group()
        with redis_errors(self._url):
            try:
                entries = self._claim(count) or self._read(count)
            except ResponseError as exc:
                if not str(exc).startswith("NOGROUP"):
                    raise
                # The stream or group was deleted under us: recreate it on the next call.
                self._group_ready = False
                return 0
            if entries:
                self._handle(entries)
        return len(entries)

    def run(
        self,
        *,
        stop_event: threading.Event | None = None,
        max_messages: int | None = None,
        on_batch: Callable[[StreamStats], None] | None = None,
    ) -> StreamStats:
        """Process batches until ``stop_event`` is set (the batch in hand finishes and is
        acknowledged; an idle consumer notices within ``block_ms``) or ``max_messages`` are
        acknowledged. ``on_batch`` gets the totals after each non-empty batch."""
        stop = stop_event or threading.Event()
        handled = 0
        while not stop.is_set() and (max_messages is None or handled < max_messages):
            remaining = None if max_messages is None else max_messages - handled
            count = self.process_once(max_count=remaining)
            handled += count
            if count and on_batch is not None:
                on_batch(self._stats)
        return self._stats

    # -- one batch ------------------------------------------------------------------------
    def _claim(self, count: int) -> list[_Entry]:
        args = (self._stream, self._group, self._consumer, self._claim_idle_ms)
        reply: Any = self._redis.xautoclaim(*args, start_id=self._claim_cursor, count=count)
        # The cursor walks the pending list across calls; "0-0" means it wrapped around.
        self._claim_cursor = _text(reply[0])
        return [(_text(entry_id), fields) for entry_id, fields in reply[1] if fields is not None]

    def _read(self, count: int) -> list[_Entry]:
        new: dict[Any, Any] = {self._stream: ">"}  # ">": never delivered to anyone
        reply: Any = self._redis.xreadgroup(self._group, self._consumer, new, count, self._block_ms)
        return [(_text(entry_id), fields) for entry_id, fields in reply[0][1]] if reply else []

    def _handle(self, entries: list[_Entry]) -> None:
        messages = [_parse(entry_id, fields) for entry_id, fields in entries]
        markers: Any = self._redis.mget([self._marker_prefix + m.id for m in messages])
        fresh = [m for m, marker in zip(messages, markers, strict=True) if marker is None]
        written = self._commit(self._outcomes(fresh), [m.id for m in messages])
        to_output = sum(1 for o in written if o.stream == self._output_stream)
        self._stats = dataclasses.replace(
            self._stats,
            processed=self._stats.processed + to_output,
            dead_lettered=self._stats.dead_lettered + len(written) - to_output,
            duplicates=self._stats.duplicates + len(messages) - len(written),
        )

    def _outcomes(self, messages: list[_Message]) -> list[_Outcome]:
        by_id = {m.id: self._dead_letter(m, "malformed", m.error) for m in messages if m.error}
        valid = [m for m in messages if m.error is None]
        if valid:
            by_id.update((o.message_id, o) for o in self._score(valid))
        # In message order, so the output stream follows the input stream.
        return [by_id[m.id] for m in messages]

    def _score(self, messages: list[_Message]) -> list[_Outcome]:
        try:
            ids = [m.request_id or m.id for m in messages]
            batch = self._scorer([m.record for m in messages], ids)
            if len(batch.predictions) != len(messages):
                raise PlinthError(
                    f"The scorer returned {len(batch.predictions)} predictions "
                    f"for {len(messages)} records."
                )
        except BackendUnavailableError:
            raise  # transient: leave the batch pending for a retry, do not dead-letter it
        except Exception as exc:  # a bad record, or the model's own code failing on one
            if len(messages) > 1:  # one record fails the whole call: alone, only it fails
                return [outcome for m in messages for outcome in self._score([m])]
            if isinstance(exc, InvalidArgumentError):
                return [self._dead_letter(messages[0], "invalid_record", exc.message)]
            return self._model_errors(messages, exc)
        return [self._result(m, batch, p) for m, p in zip(messages, batch.predictions, strict=True)]

    def _result(self, message: _Message, batch: ScoredBatch, prediction: object) -> _Outcome:
        try:
            body = orjson.dumps(prediction, option=_JSON_OPTIONS)
        except orjson.JSONEncodeError as exc:
            error = f"The model's prediction is not JSON-serializable: {exc}."
            return self._dead_letter(message, "model_error", error)
        fields: _Fields = {"prediction": body, "model_version": batch.model_version}
        return self._outcome(message, self._output_stream, {**fields, "route": batch.route})

    def _model_errors(self, messages: list[_Message], exc: Exception) -> list[_Outcome]:
        error_id = uuid.uuid4().hex
        log.error("Scoring %d messages failed (error id %s)", len(messages), error_id, exc_info=exc)
        error = (
            f"The model raised {type(exc).__name__}: {exc} "
            f"(error id {error_id}; the consumer's log has the traceback)."
        )
        return [self._dead_letter(m, "model_error", error, error_id=error_id) for m in messages]

    def _dead_letter(
        self, message: _Message, reason: DeadLetterReason, error: str, *, error_id: str = ""
    ) -> _Outcome:
        fields: _Fields = {"reason": reason, "error": error, "payload": message.payload}
        if error_id:
            fields["error_id"] = error_id
        return self._outcome(message, self._dead_letter_stream, fields)

    def _outcome(self, message: _Message, stream: str, fields: _Fields) -> _Outcome:
        fields = {"id": message.id, **fields, "consumer": self._consumer}
        fields["timestamp_ms"] = self._clock()
        if message.request_id is not None:
            fields[REQUEST_ID_FIELD] = message.request_id
        return _Outcome(message.id, stream, fields)

    def _commit(self, outcomes: list[_Outcome], ack_ids: list[str]) -> list[_Outcome]:
        """Atomically write the ``outcomes`` nobody wrote yet (returned) and ack ``ack_ids``."""
        from redis.exceptions import WatchError

        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    return self._commit_watched(pipe, outcomes, ack_ids)
                except WatchError:
                    # Another consumer committed some of these ids meanwhile; look again.
                    continue

    def _commit_watched(
        self, pipe: Pipeline, outcomes: list[_Outcome], ack_ids: list[str]
    ) -> list[_Outcome]:
        keys = [self._marker_prefix + o.message_id for o in outcomes]
        taken: set[str] = set()
        if keys:
            pipe.watch(*keys)  # type: ignore[no-untyped-call]
            markers: Any = pipe.mget(keys)
            taken = {key for key, marker in zip(keys, markers, strict=True) if marker is not None}
        todo = [(o, key) for o, key in zip(outcomes, keys, strict=True) if key not in taken]
        pipe.multi()
        for outcome, key in todo:
            pipe.set(key, self._consumer, nx=True, ex=self._ttl_s)
            pipe.xadd(outcome.stream, outcome.fields)  # type: ignore[arg-type]
        pipe.xack(self._stream, self._group, *ack_ids)
        pipe.execute()
        return [outcome for outcome, _ in todo]


def connect(url: str = DEFAULT_REDIS_URL, *, block_ms: int = 1000) -> Redis:
    """A client for ``url`` (``redis://[user:password@]host:port/db``, ``rediss://``,
    ``unix://``) that answered a PING, its socket timeout above the consumer's ``block_ms``.
    Raises ``InvalidArgumentError`` (a bad URL) or ``BackendUnavailableError`` (no answer).
    """
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_timeout=block_ms / 1000 + 10, socket_connect_timeout=5
        )
    except ValueError as exc:
        raise InvalidArgumentError(f"Bad Redis URL: {exc}; use redis://HOST:PORT/DB.") from exc
    # The URL as rebuilt from the client: the same server, without any password.
    with redis_errors(redis_url_of(client)):
        client.ping()
    return client


@contextmanager
def redis_errors(url: str) -> Iterator[None]:
    """Turn Redis connection failures into ``BackendUnavailableError`` naming ``url``."""
    from redis import exceptions

    try:
        yield
    except (exceptions.ConnectionError, exceptions.TimeoutError) as exc:
        raise BackendUnavailableError(
            f"Redis at {url} does not answer ({exc}). Start it, or point to the right "
            "server (plinth consume --redis redis://HOST:PORT/DB)."
        ) from exc


def redis_url_of(client: Redis) -> str:
    """Where ``client`` connects, as a URL without credentials (for messages)."""
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}"
    return f"redis://{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def _parse(entry_id: str, fields: dict[Any, Any]) -> _Message:
    decoded = {_text(k): v for k, v in fields.items()}
    raw_request_id = decoded.get(REQUEST_ID_FIELD)
    request_id = None if raw_request_id is None else _text(raw_request_id)
    data = decoded.get(DATA_FIELD)
    if data is None:
        everything = orjson.dumps({k: _text(v) for k, v in decoded.items()})
        missing = (
            f"The message has no {DATA_FIELD!r} field; put the record there as a JSON "
            f"object (XADD <stream> * {DATA_FIELD} '{{\"column\": value}}')."
        )
        return _Message(entry_id, {}, everything, request_id, missing)
    payload = data if isinstance(data, bytes) else str(data).encode()
    record, error = _record(payload)
    return _Message(entry_id, record, payload, request_id, error)


def _record(payload: bytes) -> tuple[dict[str, Any], str | None]:
    """The record in ``payload``, or an empty one and what is wrong with it."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return {}, f"The {DATA_FIELD!r} field is not valid JSON: {exc}."
    if isinstance(value, dict):
        return value, None
    kind = _JSON_KINDS.get(type(value), "a JSON literal")
    return {}, f'The {DATA_FIELD!r} field holds {kind}, not a JSON object {{"column": value}}.'


def _text(value: object) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise InvalidArgumentError(f"{name} must be a positive integer, not {value}.")
