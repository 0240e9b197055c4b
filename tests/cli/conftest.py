"""The CLI runs in-process through ``CliRunner`` over a SQLite store in ``tmp_path``.

``cli`` invokes ``plinth`` with a clean PLINTH_* environment naming that store; ``client``
is an SDK client on the same store, for building data and checking what commands did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from plinth.cli.main import app
from plinth.client import Client
from plinth.config import Settings
from plinth.entities import Metric, Param, RunStatus, RunTag, now_ms

CLEAN_ENV: dict[str, str | None] = {
    "PLINTH_URI": None,
    "PLINTH_ARTIFACTS": None,
    "PLINTH_TOKEN": None,
    "MLFLOW_TRACKING_TOKEN": None,
    "PLINTH_EXPERIMENT_NAME": None,
    # Wide enough that no id or value in a table is folded.
    "COLUMNS": "250",
}


@dataclass(frozen=True, slots=True)
class Cli:
    runner: CliRunner
    env: dict[str, str | None]

    def __call__(self, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
        return self.runner.invoke(app, list(args), env={**self.env, **(env or {})})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No plinth.toml of the working directory may leak into the settings.
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(CliRunner(), {**CLEAN_ENV, "PLINTH_HOME": str(home)})


@pytest.fixture
def client(home: Path) -> Client:
    return Client(Settings(home=home))


class RunFactory:
    """Builds finished runs with params, metric histories (step = index) and tags."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __call__(
        self,
        experiment_id: str,
        *,
        name: str,
        params: Mapping[str, str] | None = None,
        metrics: Mapping[str, Sequence[float]] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        run_id = self.client.create_run(experiment_id, run_name=name).info.run_id
        points = [
            Metric(key=key, value=value, timestamp=now_ms(), step=step)
            for key, values in (metrics or {}).items()
            for step, value in enumerate(values)
        ]
        self.client.log_batch(
            run_id,
            metrics=points,
            params=[Param(k, v) for k, v in (params or {}).items()],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )
        self.client.set_terminated(run_id, RunStatus.FINISHED)
        return run_id


@pytest.fixture
def make_run(client: Client) -> RunFactory:
    return RunFactory(client)
