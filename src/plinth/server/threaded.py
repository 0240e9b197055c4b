"""Running an app under uvicorn in a background thread: the demo's in-process data plane
and the test suite's live servers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from fastapi import FastAPI

START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(
    app: FastAPI, *, lifespan: Literal["on", "off"] = "on", log_level: str = "warning"
) -> Iterator[str]:
    """Serve ``app`` on a free loopback port until the block ends; yields its URL (also set
    as ``app.state.url``). The lifespan (the data plane) runs unless ``lifespan="off"``."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level=log_level, lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the server did not start within {START_TIMEOUT_S:g} s")
        time.sleep(0.01)
    app.state.url = f"http://127.0.0.1:{port}"
    try:
        yield app.state.url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
