"""The run loaders read many runs in chunks of ``IN_CHUNK`` ids, each padded to a power of
two, on the driver's cursor: every run gets exactly its own rows, in the order asked."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine, text
from tests.store.sql.test_search import _children, _experiment, _insert, _metrics, _run

from plinth.errors import BackendUnavailableError
from plinth.store.sql import SqlTrackingStore, run_rows
from plinth.store.sql.migrate import upgrade
from plinth.store.sql.models import ExperimentRow, LatestMetricRow, ParamRow, RunRow, TagRow

RUN_IDS = [f"r{i:02d}" for i in range(23)]


@pytest.fixture
def filled(engine: Engine) -> Engine:
    _insert(
        engine,
        (ExperimentRow, [_experiment(5, "e")]),
        (RunRow, [_run(r, 5, i) for i, r in enumerate(RUN_IDS)]),
        (ParamRow, [p for r in RUN_IDS for p in _children(r, {"p": f"{r}-p", "q": "same"})]),
        (TagRow, [t for r in RUN_IDS for t in _children(r, {"t": f"{r}-t"})]),
        (
            LatestMetricRow,
            [m for i, r in enumerate(RUN_IDS) for m in _metrics(r, {"m": i, "n": math.nan})],
        ),
    )
    return engine


@pytest.mark.parametrize("chunk", [4, 5, 900])
def test_runs_load_whole_in_any_chunking(
    filled: Engine, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(run_rows, "IN_CHUNK", chunk)  # 23 ids: chunks of 4 pad to 4, 3 to 4
    asked = [*reversed(RUN_IDS[:19]), "missing", *RUN_IDS[19:]]
    with filled.connect() as connection:
        runs = run_rows.load_runs_by_id(connection, asked)
        info = run_rows.load_run_info(connection, "r07")

    assert [r.info.run_id for r in runs] == [r for r in asked if r != "missing"]
    for run in runs:
        run_id = run.info.run_id
        assert run.data.params == {"p": f"{run_id}-p", "q": "same"}
        assert run.data.tags == {"t": f"{run_id}-t"}
        assert run.data.metrics["m"] == RUN_IDS.index(run_id)
        assert math.isnan(run.data.metrics["n"])
        assert run.info.experiment_id == "5" and run.info.status.value == "FINISHED"
    assert info is not None and info.run_id == "r07" and info.start_time == 7


def test_a_row_the_driver_cannot_decode_is_a_store_error(sqlite_search_engine: Engine) -> None:
    upgrade(sqlite_search_engine)
    store = SqlTrackingStore(sqlite_search_engine)
    run_id = store.create_run(store.create_experiment("e"), user_id="u", start_time=1).info.run_id
    with sqlite_search_engine.begin() as conn:  # bytes no Plinth writes; decoded when fetched
        bad = "INSERT INTO params (run_id, key, value) VALUES (:r, 'p', CAST(x'ff' AS TEXT))"
        conn.execute(text(bad), {"r": run_id})

    with pytest.raises(BackendUnavailableError, match="decode"):
        store.get_run(run_id)


@pytest.mark.postgres
def test_a_connection_lost_mid_load_names_the_cause_and_the_next_read_works(
    postgres_search_engine: Engine,
) -> None:
    upgrade(postgres_search_engine)
    store = SqlTrackingStore(postgres_search_engine)
    run_id = store.create_run(store.create_experiment("e"), user_id="u", start_time=1).info.run_id
    lost = pytest.raises(BackendUnavailableError, match="terminating connection")
    with postgres_search_engine.connect() as admin, lost, store._read_connection() as conn:
        pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
        run_rows.load_runs_by_id(conn, [run_id])

    assert store.get_run(run_id).info.run_id == run_id  # the pool replaced the lost connection
