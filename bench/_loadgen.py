"""A small HTTP/1.1 load generator: ``concurrency`` keep-alive connections, each sending the
same POST back to back, for ``--requests`` requests or ``--duration`` seconds.

Stdlib only (asyncio streams, no HTTP library), so the generator costs little CPU next to
the server it measures and runs in any venv. Run as its own process, it writes a JSON
summary: requests, errors, seconds, throughput and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit


def build_request(url: str, body: bytes, content_type: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return parts.hostname or "127.0.0.1", parts.port or 80, head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; returns its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def connection(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    budget: list[int],
    out: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            out.append(time.perf_counter() - start)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    body = Path(args.body_file).read_bytes()
    host, port, request = build_request(args.url, body, args.content_type)
    # Warm-up: connections, the server's caches and its first-request paths.
    warm: list[float] = []
    await connection(host, port, request, time.perf_counter() + 5, [args.warmup], warm, [])
    latencies: list[float] = []
    errors: list[int] = []
    budget = [args.requests if args.requests else 10**12]
    stop_at = time.perf_counter() + (args.duration if args.duration else 10**9)
    started = time.perf_counter()
    await asyncio.gather(
        *(
            connection(host, port, request, stop_at, budget, latencies, errors)
            for _ in range(args.concurrency)
        )
    )
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": seconds,
        "throughput": len(latencies) / seconds,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "concurrency": args.concurrency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0.0)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json-out", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args))
    Path(args.json_out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
