"""Helpers shared by the benches: timing, peer venvs, child processes, servers, tables.

Stdlib only: the orchestrating script and its children run under different venvs (Plinth's
and the peer's), and both import this module.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENVS = BENCH_DIR / ".venvs"
WORK = BENCH_DIR / ".work"


class ChildFailed(RuntimeError):
    """A bench child process or server did not do its job."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sample(fn: Callable[[], object], repeats: int, *, warmup: int = 1) -> dict[str, Any]:
    """Median seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = [timed(fn) for _ in range(repeats)]
    return {"seconds": statistics.median(samples), "samples": samples}


def best(fn: Callable[[], object], repeats: int = 10) -> float:
    """Fastest of ``repeats`` calls after a warm-up: the floor a measurement can reach."""
    fn()
    return min(timed(fn) for _ in range(repeats))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_venv(name: str, requirements: Sequence[str]) -> Path:
    """The python of ``bench/.venvs/<name>``, created and filled with ``requirements`` once."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(requirements)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    log(f"Setting up {venv.relative_to(REPO)} ({' '.join(requirements)}); takes a few minutes...")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requirements],
        check=True,
    )
    marker.write_text(wanted)
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without settings that would point a child at another store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLINTH_", "MLFLOW_", "VIRTUAL_ENV"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_child(
    python: Path, script: Path, args: Sequence[str], *, json_out: Path, env: dict[str, str]
) -> dict[str, Any]:
    """Run ``python script *args --json-out json_out`` and return what it wrote there."""
    cmd = [str(python), str(script), *args, "--json-out", str(json_out)]
    result = subprocess.run(cmd, env=env, cwd=json_out.parent, check=False)
    if result.returncode != 0 or not json_out.exists():
        raise ChildFailed(f"{' '.join(args[:3])} exited {result.returncode}")
    data: dict[str, Any] = json.loads(json_out.read_text())
    return data


class Server:
    """A server process in its own session, up once ``health_url`` answers, stopped on exit."""

    def __init__(
        self, cmd: Sequence[str], *, url: str, env: dict[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.cmd, self.url, self.env, self.cwd, self.log_path = cmd, url, env, cwd, log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as out:
            self._proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy(timeout=180)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _wait_healthy(self, *, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ChildFailed(f"server exited {self._proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ChildFailed(f"server not healthy after {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the server's process group (its workers too), SIGKILL if it lingers."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table; rows of one cell are section titles spanning the table."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) > 1:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    rule = "-+-".join("-" * w for w in widths)
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), rule]
    for row in rows:
        if len(row) == 1:
            lines.append(f"{row[0]}")
            continue
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append(" | ".join(cells))
    return "\n".join(lines)
