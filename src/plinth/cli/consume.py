"""``plinth consume``: near-real-time inference from a Redis stream.

The command joins the consumer group ``--group`` on ``--stream``, scores each message with
``--model`` (or ``--endpoint``) and writes the results to ``--output-stream``. Start several,
on one host or many, to share the load. SIGINT / SIGTERM stop it gracefully: the batch in
hand is finished and acknowledged, then it prints a summary and exits 0 (a second Ctrl-C
interrupts at once). Message formats and delivery guarantees: ``plinth.serving.stream``.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from plinth.cli import state_of
from plinth.cli.output import key_value_table, stderr, stdout
from plinth.errors import InvalidArgumentError

if TYPE_CHECKING:
    from plinth.serving.stream import RecordScorer, StreamStats

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def consume(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Score through this endpoint's routes (canary / A-B)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Score with this model: models:/NAME/VERSION, runs:/..., a path."
    ),
    redis_url: str = typer.Option("redis://127.0.0.1:6379/0", "--redis", help="Redis URL."),
    stream: str = typer.Option(..., "--stream", help="Stream of requests ('data': a JSON record)."),
    output_stream: str = typer.Option(..., "--output-stream", help="Stream for the predictions."),
    group: str = typer.Option("plinth", "--group", help="Consumer group shared by consumers."),
    consumer: str | None = typer.Option(
        None, "--consumer", help="This consumer's name in the group.", show_default="HOSTNAME-PID"
    ),
    dead_letter_stream: str | None = typer.Option(
        None,
        "--dead-letter-stream",
        help="Stream for unscorable messages.",
        show_default="STREAM:dead",
    ),
    batch_size: int = typer.Option(100, "--batch-size", min=1, help="Messages per model call."),
    block_ms: int = typer.Option(1000, "--block-ms", min=1, help="How long a read waits."),
    claim_idle_ms: int = typer.Option(
        30_000, "--claim-idle-ms", min=1, help="Take over messages pending this long elsewhere."
    ),
    max_messages: int | None = typer.Option(
        None, "--max-messages", min=1, help="Stop after this many messages."
    ),
) -> None:
    """Score the messages of a Redis stream continuously, as one of a consumer group."""
    from plinth.serving.stream import StreamConsumer, connect

    _check_one_source(endpoint=endpoint, model=model)
    name = consumer or f"{socket.gethostname()}-{os.getpid()}"
    with ExitStack() as resources:
        scorer = _scorer(ctx, resources, endpoint=endpoint, model=str(model))
        worker = StreamConsumer(
            connect(redis_url, block_ms=block_ms),
            scorer,
            stream=stream,
            group=group,
            consumer=name,
            output_stream=output_stream,
            dead_letter_stream=dead_letter_stream,
            batch_size=batch_size,
            block_ms=block_ms,
            claim_idle_ms=claim_idle_ms,
        )
        stop = threading.Event()
        started = time.monotonic()
        with _stop_on_signals(stop), _running_count(f"{name} on {stream}") as show:
            stats = worker.run(stop_event=stop, max_messages=max_messages, on_batch=show)
    # After the endpoint scorer closed: its prediction log is flushed by then.
    print_summary(stats, seconds=time.monotonic() - started, consumer=name)


def _check_one_source(*, endpoint: str | None, model: str | None) -> None:
    if (endpoint is None) == (model is None):
        raise InvalidArgumentError(
            "Pass exactly one of --endpoint NAME (score through an endpoint's routes) and "
            "--model URI (score with one model)."
        )


def _scorer(
    ctx: typer.Context, resources: ExitStack, *, endpoint: str | None, model: str
) -> RecordScorer:
    state = state_of(ctx)
    if endpoint is not None:
        from plinth.serving.scorer import endpoint_record_scorer

        scorer = endpoint_record_scorer(endpoint, client=state.client)
        resources.callback(scorer.close)  # stops its data plane, flushes its prediction log
        return scorer
    from plinth.serving.stream import model_record_scorer

    # A package directory loads without the store; other URIs resolve through it.
    return model_record_scorer(model, client=None if Path(model).is_dir() else state.client)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT / SIGTERM set ``stop``; the previous handlers are back after the first one,
    so a second signal acts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers; embedders stop via the event
        return
    previous = {sig: signal.getsignal(sig) or signal.SIG_DFL for sig in STOP_SIGNALS}

    def handle(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signum, previous[signal.Signals(signum)])

    for sig in STOP_SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _running_count(title: str) -> Iterator[Callable[[StreamStats], None]]:
    """A status line on stderr, updated after each batch."""
    with stderr().status(f"Consuming {title}: waiting for messages") as status:

        def show(stats: StreamStats) -> None:
            status.update(
                f"Consuming {title}: {stats.processed:,} scored, "
                f"{stats.dead_lettered:,} dead-lettered, {stats.duplicates:,} duplicates"
            )

        yield show


def print_summary(stats: StreamStats, *, seconds: float, consumer: str) -> None:
    """The totals of a finished run, with its throughput."""
    rate = stats.handled / seconds if seconds > 0 else 0.0
    rows = [
        ("Processed", f"{stats.processed:,}"),
        ("Dead-lettered", f"{stats.dead_lettered:,}"),
        ("Duplicates skipped", f"{stats.duplicates:,}"),
        ("Seconds", f"{seconds:.2f}"),
        ("Messages/s", f"{rate:,.1f}"),
    ]
    stdout().print(key_value_table(rows, title=f"Consumer {consumer} stopped"))
