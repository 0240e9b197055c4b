"""Stream inference against a real Redis: batches, dead letters, redelivery, idempotence and
several consumers sharing a stream. Each test names its streams and keys with a fresh uuid,
so tests can run in parallel on one Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from redis import Redis
from tests.models.conftest import fit_logistic, make_frame

from plinth.client import Client
from plinth.config import Settings
from plinth.errors import BackendUnavailableError, InvalidArgumentError, PlinthError
from plinth.models import log_model, save_model
from plinth.server.threaded import free_port
from plinth.serving.stream import (
    ModelRecordScorer,
    RecordScorer,
    ScoredBatch,
    StreamConsumer,
    connect,
    model_record_scorer,
    predictions_per_record,
)

Record = dict[str, Any]


# -- builders ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn package with the signature tenure: double, calls: long."""
    path = tmp_path_factory.mktemp("stream-model") / "model"
    save_model(fit_logistic(), path, input_example=make_frame(3))
    return path


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> ModelRecordScorer:
    return model_record_scorer(model_dir)


def make_records(count: int, *, seed: int = 1) -> list[Record]:
    return list(make_frame(count, seed=seed).to_dict(orient="records"))  # type: ignore[arg-type]


def expected_predictions(scorer: ModelRecordScorer, rows: list[Record]) -> list[int]:
    raw = scorer.model.raw_model.predict(pd.DataFrame(rows))  # type: ignore[attr-defined]
    return [int(p) for p in raw]


@dataclass(frozen=True, slots=True)
class Streams:
    """One test's stream names, all under a fresh uuid."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def input(self) -> str:
        return f"test:{self.tag}:requests"

    @property
    def output(self) -> str:
        return f"test:{self.tag}:predictions"

    @property
    def dead(self) -> str:
        return f"{self.input}:dead"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = connect(redis_url, block_ms=100)
    yield client
    client.close()


@pytest.fixture
def streams(redis_client: Redis) -> Iterator[Streams]:
    names = Streams()
    yield names
    keys = list(redis_client.scan_iter(match=f"*{names.tag}*", count=1000))
    if keys:
        redis_client.delete(*keys)


def add(client: Redis, stream: str, rows: list[Record], **fields: str) -> list[str]:
    """XADD each row as a JSON ``data`` field; returns the message ids."""
    pipe = client.pipeline(transaction=False)
    for row in rows:
        message: dict[Any, Any] = {"data": orjson.dumps(row), **fields}
        pipe.xadd(stream, message)
    return [i.decode() for i in pipe.execute()]


def add_fields(client: Redis, stream: str, fields: dict[Any, Any]) -> str:
    message_id: Any = client.xadd(stream, fields)
    return str(message_id.decode())


def raw_entries(client: Redis, stream: str) -> list[dict[str, bytes]]:
    reply: Any = client.xrange(stream)
    return [{k.decode(): v for k, v in fields.items()} for _, fields in reply]


def entries(client: Redis, stream: str) -> list[dict[str, str]]:
    return [
        {k: v.decode("utf-8", "replace") for k, v in fields.items()}
        for fields in raw_entries(client, stream)
    ]


def pending(client: Redis, streams: Streams, group: str = "plinth") -> int:
    count: int = client.xpending(streams.input, group)["pending"]
    return count


def make_consumer(
    client: Redis, scorer: RecordScorer, streams: Streams, name: str = "c1", **options: Any
) -> StreamConsumer:
    options.setdefault("block_ms", 100)
    return StreamConsumer(
        client,
        scorer,
        stream=streams.input,
        group="plinth",
        consumer=name,
        output_stream=streams.output,
        **options,
    )


@dataclass
class Recording:
    """A scorer that records each call's size and request ids, then delegates."""

    inner: RecordScorer
    sizes: list[int] = field(default_factory=list)
    request_ids: list[list[str]] = field(default_factory=list)

    def __call__(self, records: list[Record], request_ids: list[str]) -> ScoredBatch:
        self.sizes.append(len(records))
        self.request_ids.append(request_ids)
        return self.inner(records, request_ids)


# -- scoring ----------------------------------------------------------------------------------
def test_a_batch_is_scored_in_one_call_and_written_with_its_message_ids(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer, model_dir: Path
) -> None:
    rows = make_records(10)
    ids = add(redis_client, streams.input, rows)
    recording = Recording(scorer)
    consumer = make_consumer(redis_client, recording, streams, clock=lambda: 1_700_000_000_000)

    assert consumer.process_once() == 10

    out = entries(redis_client, streams.output)
    assert [e["id"] for e in out] == ids
    assert [orjson.loads(e["prediction"]) for e in out] == expected_predictions(scorer, rows)
    assert {(e["model_version"], e["route"], e["consumer"]) for e in out} == {
        (str(model_dir), "primary", "c1")
    }
    assert {e["timestamp_ms"] for e in out} == {"1700000000000"}
    assert "request_id" not in out[0]
    assert recording.sizes == [10]
    assert pending(redis_client, streams) == 0
    assert consumer.stats.processed == 10


def test_request_ids_reach_the_scorer_and_the_output(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    (plain,) = add(redis_client, streams.input, make_records(1))
    add(redis_client, streams.input, make_records(1, seed=2), request_id="req-7")
    recording = Recording(scorer)

    make_consumer(redis_client, recording, streams).process_once()

    # Without a request_id the message id stands in: it is the same on every redelivery.
    assert recording.request_ids == [[plain, "req-7"]]
    assert [e.get("request_id") for e in entries(redis_client, streams.output)] == [
        None,
        "req-7",
    ]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({"data": b"{not json"}, "is not valid JSON", id="not-json"),
        pytest.param({"data": b"\xff\xfe{}"}, "is not valid JSON", id="not-utf8"),
        pytest.param({"data": b"[1, 2]"}, "holds an array", id="array"),
        pytest.param({"data": b'"text"'}, "holds a string", id="string"),
        pytest.param({"tenure": b"3.5", "calls": b"2"}, "has no 'data' field", id="columns"),
    ],
)
def test_malformed_messages_are_dead_lettered_and_the_rest_scored(
    redis_client: Redis,
    streams: Streams,
    scorer: ModelRecordScorer,
    fields: dict[str, bytes],
    error: str,
) -> None:
    good = add(redis_client, streams.input, make_records(1))
    bad = add_fields(redis_client, streams.input, fields)
    good += add(redis_client, streams.input, make_records(1, seed=3))

    assert make_consumer(redis_client, scorer, streams).process_once() == 3

    assert [e["id"] for e in entries(redis_client, streams.output)] == good
    (letter,) = raw_entries(redis_client, streams.dead)
    assert letter["id"].decode() == bad
    assert letter["reason"] == b"malformed"
    assert error in letter["error"].decode()
    original = fields.get("data") or orjson.dumps({k: v.decode() for k, v in fields.items()})
    assert letter["payload"] == original
    assert pending(redis_client, streams) == 0


def test_records_that_do_not_fit_the_signature_are_dead_lettered_alone(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    rows = make_records(5)
    rows[2] = {"tenure": 12.0, "calls": "many"}
    ids = add(redis_client, streams.input, rows)
    recording = Recording(scorer)

    make_consumer(redis_client, recording, streams).process_once()

    # The batch fails as a whole, then each record is scored alone.
    assert recording.sizes == [5, 1, 1, 1, 1, 1]
    out = entries(redis_client, streams.output)
    assert [e["id"] for e in out] == ids[:2] + ids[3:]
    good = rows[:2] + rows[3:]
    assert [orjson.loads(e["prediction"]) for e in out] == expected_predictions(scorer, good)
    (dead,) = entries(redis_client, streams.dead)
    assert (dead["id"], dead["reason"]) == (ids[2], "invalid_record")
    assert "'calls'" in dead["error"]
    assert orjson.loads(dead["payload"]) == rows[2]


@dataclass
class CrashesOnBadInput:
    """A model with a bug: it raises on any batch holding a record with ``calls`` 99."""

    inner: RecordScorer

    def __call__(self, records: list[Record], request_ids: list[str]) -> ScoredBatch:
        if any(r["calls"] == 99 for r in records):
            raise RuntimeError("division by zero in feature 7")
        return self.inner(records, request_ids)


def test_a_crashing_model_dead_letters_only_the_records_it_fails_on(
    redis_client: Redis,
    streams: Streams,
    scorer: ModelRecordScorer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = make_records(3)
    records[1]["calls"] = 99
    ids = add(redis_client, streams.input, records)
    consumer = make_consumer(redis_client, CrashesOnBadInput(scorer), streams)

    assert consumer.process_once() == 3

    dead = entries(redis_client, streams.dead)
    assert [d["id"] for d in dead] == [ids[1]]
    assert dead[0]["reason"] == "model_error"
    error_id = dead[0]["error_id"]
    assert f"RuntimeError: division by zero in feature 7 (error id {error_id}" in dead[0]["error"]
    assert error_id in caplog.text
    assert [e["id"] for e in entries(redis_client, streams.output)] == [ids[0], ids[2]]
    assert (consumer.stats.processed, consumer.stats.dead_lettered) == (2, 1)
    assert pending(redis_client, streams) == 0


def test_a_scorer_whose_backend_is_down_leaves_the_batch_pending(
    redis_client: Redis, streams: Streams
) -> None:
    def unavailable(records: list[Record], request_ids: list[str]) -> ScoredBatch:
        raise BackendUnavailableError("the endpoint's model server does not answer")

    add(redis_client, streams.input, make_records(2))

    with pytest.raises(BackendUnavailableError):
        make_consumer(redis_client, unavailable, streams).process_once()

    assert pending(redis_client, streams) == 2
    assert redis_client.xlen(streams.dead) == 0


# -- delivery ---------------------------------------------------------------------------------
def test_messages_left_pending_by_a_crashed_consumer_are_claimed_and_scored_once(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    ids = add(redis_client, streams.input, make_records(5))
    survivor = make_consumer(redis_client, scorer, streams, "survivor", claim_idle_ms=300)
    survivor.ensure_group()
    # The crashed consumer read the batch and died before acknowledging it.
    redis_client.xreadgroup("plinth", "crashed", {streams.input: ">"}, count=5)

    assert survivor.process_once() == 0  # pending elsewhere, but not idle long enough yet
    time.sleep(0.35)
    assert survivor.process_once() == 5
    assert survivor.process_once() == 0

    out = entries(redis_client, streams.output)
    assert [e["id"] for e in out] == ids
    assert {e["consumer"] for e in out} == {"survivor"}
    assert pending(redis_client, streams) == 0


@dataclass
class Stalling:
    """A scorer that stalls on its first call until released (a long GC pause, a VM freeze)."""

    inner: RecordScorer
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __call__(self, records: list[Record], request_ids: list[str]) -> ScoredBatch:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(timeout=30)
        return self.inner(records, request_ids)


def test_a_stalled_consumer_whose_messages_were_claimed_writes_no_duplicates(
    redis_url: str, redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    ids = add(redis_client, streams.input, make_records(5))
    stalling = Stalling(scorer)
    slow = make_consumer(connect(redis_url), stalling, streams, "slow")
    thread = threading.Thread(target=slow.process_once)
    thread.start()
    assert stalling.entered.wait(timeout=30)

    fast = make_consumer(redis_client, scorer, streams, "fast", claim_idle_ms=100)
    time.sleep(0.15)
    assert fast.process_once() == 5
    stalling.release.set()
    thread.join(timeout=30)

    out = entries(redis_client, streams.output)
    assert [e["id"] for e in out] == ids
    assert {e["consumer"] for e in out} == {"fast"}
    assert (slow.stats.processed, slow.stats.duplicates) == (0, 5)
    assert pending(redis_client, streams) == 0


def test_replaying_a_stream_within_the_ttl_writes_no_duplicates(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    ids = add(redis_client, streams.input, make_records(5))
    recording = Recording(scorer)
    consumer = make_consumer(redis_client, recording, streams)
    assert consumer.process_once() == 5

    # An operator rewinds the group: every message is delivered again.
    redis_client.xgroup_setid(streams.input, "plinth", "0")
    assert consumer.process_once() == 5

    assert [e["id"] for e in entries(redis_client, streams.output)] == ids
    assert recording.sizes == [5]
    assert (consumer.stats.processed, consumer.stats.duplicates) == (5, 5)


@contextmanager
def running(consumers: list[StreamConsumer]) -> Iterator[list[BaseException]]:
    """Each consumer's ``run`` in a thread of its own until the block exits (then stopped
    and joined); yields the list their errors go to."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(consumer: StreamConsumer) -> None:
        try:
            consumer.run(stop_event=stop)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in consumers]
    for thread in threads:
        thread.start()
    try:
        yield errors
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def test_three_consumers_share_a_thousand_messages_exactly_once(
    redis_url: str, redis_client: Redis, streams: Streams, model_dir: Path
) -> None:
    names = ["c0", "c1", "c2"]
    consumers = [
        make_consumer(connect(redis_url), model_record_scorer(model_dir), streams, name)
        for name in names
    ]
    consumers[0].ensure_group()

    with running(consumers) as errors:
        chunks = [add(redis_client, streams.input, make_records(100, seed=s)) for s in range(10)]
        deadline = time.monotonic() + 60
        while redis_client.xlen(streams.output) < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)

    assert errors == []
    out = entries(redis_client, streams.output)
    assert sorted(e["id"] for e in out) == sorted(i for chunk in chunks for i in chunk)
    assert pending(redis_client, streams) == 0
    per_consumer = {name: sum(e["consumer"] == name for e in out) for name in names}
    assert per_consumer == {n: c.stats.processed for n, c in zip(names, consumers, strict=True)}
    assert all(count > 0 for count in per_consumer.values()), per_consumer


def test_run_stops_after_max_messages_and_reports_each_batch(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    add(redis_client, streams.input, make_records(7))
    consumer = make_consumer(redis_client, scorer, streams, batch_size=2)
    seen: list[int] = []

    stats = consumer.run(max_messages=5, on_batch=lambda s: seen.append(s.handled))

    assert stats.processed == 5
    assert seen == [2, 4, 5]
    assert redis_client.xlen(streams.output) == 5
    assert consumer.process_once() == 2


def test_run_returns_soon_after_its_stop_event_is_set(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()

    stats = make_consumer(redis_client, scorer, streams, block_ms=100).run(stop_event=stop)

    assert stats.handled == 0
    assert time.monotonic() - started < 5


def test_a_new_group_scores_messages_added_before_any_consumer_started(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    ids = add(redis_client, streams.input, make_records(3))
    first = make_consumer(redis_client, scorer, streams, "a")
    second = make_consumer(redis_client, scorer, streams, "b")
    first.ensure_group()
    second.ensure_group()  # BUSYGROUP: the group exists, nothing changes

    assert first.process_once() + second.process_once() == 3
    assert [e["id"] for e in entries(redis_client, streams.output)] == ids


def test_a_deleted_stream_is_recreated_with_its_group(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer
) -> None:
    consumer = make_consumer(redis_client, scorer, streams)
    consumer.ensure_group()
    redis_client.delete(streams.input)

    assert consumer.process_once() == 0
    ids = add(redis_client, streams.input, make_records(2))
    assert consumer.process_once() == 2
    assert [e["id"] for e in entries(redis_client, streams.output)] == ids


# -- configuration and failures -----------------------------------------------------------------
@pytest.mark.parametrize("which", ["input", "output", "dead"])
def test_a_stream_whose_key_holds_something_else_is_an_invalid_argument(
    redis_client: Redis, streams: Streams, scorer: ModelRecordScorer, which: str
) -> None:
    key = getattr(streams, which)
    redis_client.set(key, "not a stream")

    with pytest.raises(InvalidArgumentError, match=f"Key '{key}' at .* holds a string"):
        make_consumer(redis_client, scorer, streams).process_once()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"batch_size": 0}, "batch_size must be a positive", id="batch-size"),
        pytest.param({"block_ms": -1}, "block_ms must be a positive", id="block-ms"),
        pytest.param({"output_stream": "same"}, "must differ from the input", id="output"),
        pytest.param({"dead_letter_stream": "same"}, "must differ from the input", id="dead"),
    ],
)
def test_bad_settings_are_refused(
    redis_client: Redis, scorer: ModelRecordScorer, options: dict[str, Any], message: str
) -> None:
    settings: dict[str, Any] = {"stream": "same", "group": "g", "consumer": "c"}
    settings |= {"output_stream": "out", **options}

    with pytest.raises(InvalidArgumentError, match=message):
        StreamConsumer(redis_client, scorer, **settings)


def test_connecting_to_a_redis_that_is_down_names_its_url() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    with pytest.raises(BackendUnavailableError, match=f"Redis at {url} does not answer"):
        connect(url)


def test_a_consumer_whose_redis_went_away_raises_backend_unavailable(
    scorer: ModelRecordScorer,
) -> None:
    port = free_port()
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)
    consumer = StreamConsumer(
        client, scorer, stream="s", group="g", consumer="c", output_stream="o"
    )

    with pytest.raises(BackendUnavailableError, match=f"redis://127.0.0.1:{port}/0"):
        consumer.process_once()


def test_a_bad_redis_url_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="Bad Redis URL"):
        connect("http://127.0.0.1:6379")


# -- scorers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("predictions", "expected"),
    [
        pytest.param(np.array([0, 1]), [0, 1], id="labels"),
        pytest.param(np.array([[0.25, 0.75], [1.0, 0.0]]), [[0.25, 0.75], [1.0, 0.0]], id="2d"),
        pytest.param(pd.Series([1.5, 2.5]), [1.5, 2.5], id="series"),
        pytest.param(
            pd.DataFrame({"p": [0.1, 0.9], "label": ["a", "b"]}),
            [{"p": 0.1, "label": "a"}, {"p": 0.9, "label": "b"}],
            id="frame",
        ),
        pytest.param(
            {"label": np.array([1, 0]), "probabilities": np.array([[0.2, 0.8], [0.6, 0.4]])},
            [{"label": 1, "probabilities": [0.2, 0.8]}, {"label": 0, "probabilities": [0.6, 0.4]}],
            id="onnx-outputs",
        ),
        pytest.param(["x", "y"], ["x", "y"], id="list"),
    ],
)
def test_predictions_are_split_into_one_plain_value_per_record(
    predictions: Any, expected: list[object]
) -> None:
    rows = predictions_per_record(predictions, 2)

    assert rows == expected
    assert orjson.loads(orjson.dumps(rows)) == expected


def test_a_model_returning_the_wrong_number_of_predictions_is_an_error() -> None:
    with pytest.raises(PlinthError, match="returned 3 predictions for 2 records"):
        predictions_per_record(np.array([1, 2, 3]), 2)


def test_a_registered_alias_is_pinned_to_the_version_it_names(tmp_path: Path) -> None:
    client = Client(Settings(home=tmp_path / "home"))
    run_id = client.create_run(client.create_experiment("churn")).info.run_id
    for name in ("first", "second"):
        log_model(
            fit_logistic(),
            name,
            run_id=run_id,
            client=client,
            input_example=make_frame(3),
            registered_model_name="churn",
        )
    client.set_registered_model_alias("churn", "challenger", "1")

    scorer = model_record_scorer("models:/churn@challenger", client=client)
    client.set_registered_model_alias("churn", "challenger", "2")

    assert scorer.model_version == "churn/1"
    assert scorer(make_records(2), ["a", "b"]).model_version == "churn/1"
