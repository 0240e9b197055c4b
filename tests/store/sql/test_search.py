"""Run and experiment search statements executed on SQLite and PostgreSQL.

Every test gets an empty database: a SQLite file in ``tmp_path`` or a fresh PostgreSQL schema
(dropped afterwards). PostgreSQL tests skip when the server does not answer, and fail instead
when ``CI=true``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from plinth.entities.tracking import ViewType
from plinth.errors import InvalidArgumentError
from plinth.store.sql.models import (
    Base,
    DatasetRow,
    ExperimentRow,
    ExperimentTagRow,
    LatestMetricRow,
    ParamRow,
    RunInputRow,
    RunRow,
    TagRow,
)
from plinth.store.sql.run_search import (
    DATASET_CONTEXT_TAG,
    run_search_statement,
)
from plinth.store.sql.search import (
    decode_page_token,
    encode_page_token,
    experiment_search_statement,
)
from plinth.tracking.search_filter import parse_run_filter

NAN = float("nan")


# --- Data -----------------------------------------------------------------------------------


def _insert(engine: Engine, *tables: tuple[type[Base], Sequence[dict[str, Any]]]) -> None:
    """Bulk-insert rows into each table, all in one transaction."""
    with Session(engine) as s, s.begin():
        for table, rows in tables:
            s.execute(insert(table), list(rows))


def _experiment(experiment_id: int, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "experiment_id": experiment_id,
        "name": name,
        "artifact_location": f"file:///e/{experiment_id}",
        "lifecycle_stage": "active",
        "creation_time": 1000 + experiment_id,
        "last_update_time": 1000 + experiment_id,
    } | extra


def _run(run_id: str, experiment_id: int, start_time: int, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "run_name": run_id,
        "user_id": "u",
        "status": "FINISHED",
        "start_time": start_time,
        "end_time": None,
        "artifact_uri": f"file:///a/{run_id}",
        "lifecycle_stage": "active",
    } | extra


def _children(run_id: str, values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]


def _metrics(run_id: str, values: dict[str, float]) -> list[dict[str, Any]]:
    return [
        # NaN is stored as 0 + is_nan, as the store writes it.
        {"run_id": run_id, "key": k, "value": 0.0 if v != v else v, "is_nan": v != v}
        | {"timestamp": 0, "step": 0}
        for k, v in values.items()
    ]


RUNS = [
    _run("r1", 1, 100, run_name="alpha", user_id="alice", end_time=200),
    _run("r2", 1, 200, run_name="Beta", user_id="bob", status="RUNNING"),
    _run("r3", 1, 300, run_name="gamma", user_id="alice", status="FAILED", end_time=400),
    _run("r4", 1, 400, run_name="delta", lifecycle_stage="deleted"),
    _run("r5", 2, 150, run_name="eps"),
]
PARAMS = {
    "r1": {"lr": "0.1", "model": "CNN", "a b": "x", "n": "10", "pat": "50%_off*"},
    "r2": {"lr": "0.01", "model": "cnn", "n": "9", "pat": "50xyoff?"},
    "r3": {"lr": "1e-3", "path": "C:\\tmp\\"},
    "r4": {"lr": "0.1"},
    "r5": {"lr": "0.1"},
}
TAGS = {"r1": {"team": "Core", "mlflow.note": "x"}, "r2": {"team": "core"}}
METRICS = {
    "r1": {"acc": 0.9, "loss": 0.5, "tie": 1.0},
    "r2": {"acc": 0.5, "loss": NAN, "tie": 1.0},
    "r3": {"acc": 0.7, "tie": 1.0},
    "r4": {"acc": 1.0},
    "r5": {"acc": 0.3},
}
# (run, dataset name, digest, context)
INPUTS = [("r1", "train-set", "d1", "training"), ("r2", "eval-set", "d2", "eval")]


@pytest.fixture
def runs(engine: Engine) -> Engine:
    """Experiments 1 and 2 with the runs above (r4 deleted, r5 in experiment 2)."""
    _seed_runs(engine)
    return engine


def _seed_runs(engine: Engine) -> None:
    datasets = [
        {"dataset_id": f"ds{i}", "experiment_id": 1, "name": name, "digest": digest}
        | {"source_type": "local", "source": "/data"}
        for i, (_, name, digest, _) in enumerate(INPUTS)
    ]
    inputs = [
        {"run_id": run, "dataset_id": f"ds{i}", "tags_json": json.dumps({DATASET_CONTEXT_TAG: ctx})}
        for i, (run, _, _, ctx) in enumerate(INPUTS)
    ]
    _insert(
        engine,
        (ExperimentRow, [_experiment(1, "one"), _experiment(2, "two")]),
        (RunRow, RUNS),
        (ParamRow, [r for k, v in PARAMS.items() for r in _children(k, v)]),
        (TagRow, [r for k, v in TAGS.items() for r in _children(k, v)]),
        (LatestMetricRow, [r for k, v in METRICS.items() for r in _metrics(k, v)]),
        (DatasetRow, datasets),
        (RunInputRow, inputs),
    )


def search(
    engine: Engine,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    *,
    experiment_ids: Sequence[int] = (1,),
    view_type: ViewType = ViewType.ACTIVE_ONLY,
    offset: int = 0,
    limit: int = 1000,
    driver: int | None = None,
) -> list[str]:
    search = run_search_statement(
        experiment_ids=experiment_ids,
        filter_string=filter_string,
        view_type=view_type,
        order_by=order_by,
        offset=offset,
        limit=limit,
        driver=driver,
    )
    with engine.connect() as conn:
        return [row.run_id for row in conn.execute(search.statement, search.parameters)]


def indexed_clauses(filter_string: str) -> list[int]:
    """Positions of the clauses a search may start from: = and IN on params and tags."""
    clauses = parse_run_filter(filter_string)
    return [
        i for i, c in enumerate(clauses) if c.entity in ("param", "tag") and c.op in ("=", "IN")
    ]


# --- Runs: filters ----------------------------------------------------------------------------
# Unless ordered otherwise, results come newest first: r3 (300), r2 (200), r1 (100).


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        pytest.param("metrics.acc > 0.6", ["r3", "r1"], id="metric-gt"),
        pytest.param("metrics.acc >= 0.7", ["r3", "r1"], id="metric-ge"),
        pytest.param("metrics.acc < 0.7", ["r2"], id="metric-lt"),
        pytest.param("metrics.acc <= 0.7", ["r3", "r2"], id="metric-le"),
        pytest.param("metrics.acc = 0.5", ["r2"], id="metric-eq"),
        pytest.param("metrics.acc != 0.5", ["r3", "r1"], id="metric-ne"),
        pytest.param("metrics.loss > -1", ["r1"], id="nan-never-greater"),
        pytest.param("metrics.loss = 0", [], id="nan-placeholder-not-zero"),
        pytest.param("metrics.loss != 0.5", ["r2"], id="nan-is-not-equal"),
        pytest.param("metrics.missing > 0", [], id="metric-absent"),
        pytest.param("params.lr = '0.1'", ["r1"], id="param-eq"),
        pytest.param("params.lr != '0.1'", ["r3", "r2"], id="param-ne"),
        pytest.param("params.model != 'CNN'", ["r2"], id="param-ne-needs-key"),
        pytest.param("params.model LIKE 'c%'", ["r2"], id="like-case-sensitive-lower"),
        pytest.param("params.model LIKE 'C%'", ["r1"], id="like-case-sensitive-upper"),
        pytest.param("params.model ILIKE 'c%'", ["r2", "r1"], id="ilike"),
        pytest.param("params.lr LIKE '0._'", ["r1"], id="like-underscore"),
        pytest.param("params.lr LIKE '0.__'", ["r2"], id="like-two-underscores"),
        pytest.param("params.pat LIKE '50\\%\\_%'", ["r1"], id="like-escaped-wildcards"),
        pytest.param("params.pat LIKE '50%off*'", ["r1"], id="like-literal-star"),
        pytest.param("params.pat LIKE '%?'", ["r2"], id="like-literal-question-mark"),
        pytest.param("params.pat LIKE '[5]%'", [], id="like-literal-bracket"),
        pytest.param("params.pat LIKE '50__off_'", ["r2", "r1"], id="like-mixed"),
        pytest.param("params.path LIKE 'C:\\\\tmp%'", ["r3"], id="like-escaped-backslash"),
        pytest.param("params.path LIKE 'C:\\tmp%'", [], id="like-backslash-escapes-t"),
        pytest.param("params.path LIKE '%\\'", ["r3"], id="like-trailing-backslash"),
        pytest.param("params.path ILIKE 'c:%\\'", ["r3"], id="ilike-trailing-backslash"),
        pytest.param("params.model IN ('CNN', 'x')", ["r1"], id="param-in"),
        pytest.param("params.model NOT IN ('CNN')", ["r2"], id="param-not-in"),
        pytest.param("params.model IS NULL", ["r3"], id="param-is-null"),
        pytest.param("params.model IS NOT NULL", ["r2", "r1"], id="param-is-not-null"),
        pytest.param("params.`a b` = 'x'", ["r1"], id="backtick-key"),
        pytest.param('params."a b" = "x"', ["r1"], id="double-quoted-key"),
        pytest.param("tags.team = 'core'", ["r2"], id="tag-eq"),
        pytest.param("tags.team LIKE 'C%'", ["r1"], id="tag-like"),
        pytest.param("tags.team ILIKE 'CORE'", ["r2", "r1"], id="tag-ilike"),
        pytest.param("tags.mlflow.note = 'x'", ["r1"], id="tag-dotted"),
        pytest.param("tags.`mlflow.note` = 'x'", ["r1"], id="tag-backticks"),
        pytest.param("tags.team IS NULL", ["r3"], id="tag-is-null"),
        pytest.param("attributes.status = 'RUNNING'", ["r2"], id="status"),
        pytest.param("status IN ('FINISHED', 'FAILED')", ["r3", "r1"], id="status-in"),
        pytest.param("status NOT IN ('FINISHED')", ["r3", "r2"], id="status-not-in"),
        pytest.param("run_name LIKE 'b%'", [], id="run-name-like"),
        pytest.param("run_name ILIKE 'b%'", ["r2"], id="run-name-ilike"),
        pytest.param("attributes.`Run name` = 'alpha'", ["r1"], id="run-name-alias"),
        pytest.param("user_id = 'alice'", ["r3", "r1"], id="user"),
        pytest.param("run_id = 'r2'", ["r2"], id="run-id"),
        pytest.param("run_id != 'r1'", ["r3", "r2"], id="run-id-ne"),
        pytest.param("attributes.run_id IN ('r1', 'r3')", ["r3", "r1"], id="run-id-in"),
        pytest.param("start_time >= 200", ["r3", "r2"], id="start-time"),
        pytest.param("created < 200", ["r1"], id="created-alias"),
        pytest.param("end_time > 150", ["r3", "r1"], id="end-time"),
        pytest.param("end_time != 200", ["r3"], id="end-time-null-excluded"),
        pytest.param("artifact_uri LIKE '%/r1'", ["r1"], id="artifact-uri"),
        pytest.param("datasets.name = 'train-set'", ["r1"], id="dataset-name"),
        pytest.param("datasets.name LIKE 'Train%'", [], id="dataset-like-case"),
        pytest.param("datasets.name ILIKE 'TRAIN%'", ["r1"], id="dataset-ilike"),
        pytest.param("datasets.name LIKE '%-set'", ["r2", "r1"], id="dataset-like"),
        pytest.param("datasets.digest IN ('d1', 'd2')", ["r2", "r1"], id="dataset-digest-in"),
        pytest.param("datasets.digest NOT IN ('d1')", ["r2"], id="dataset-digest-not-in"),
        pytest.param("datasets.context = 'eval'", ["r2"], id="dataset-context"),
        pytest.param("datasets.context != 'eval'", ["r1"], id="dataset-context-ne"),
        pytest.param(
            "metrics.acc > 0.4 and params.model ILIKE 'cnn' and tags.team = 'core'",
            ["r2"],
            id="and",
        ),
    ],
)
def test_filter(runs: Engine, filter_string: str, expected: list[str]) -> None:
    assert search(runs, filter_string) == expected
    for driver in indexed_clauses(filter_string):  # starting from that clause's index
        assert search(runs, filter_string, driver=driver) == expected


@pytest.mark.parametrize(
    ("view_type", "expected"),
    [
        pytest.param(ViewType.ACTIVE_ONLY, ["r3", "r2", "r1"], id="active"),
        pytest.param(ViewType.DELETED_ONLY, ["r4"], id="deleted"),
        pytest.param(ViewType.ALL, ["r4", "r3", "r2", "r1"], id="all"),
    ],
)
def test_view_type(runs: Engine, view_type: ViewType, expected: list[str]) -> None:
    assert search(runs, view_type=view_type) == expected


def test_experiment_ids(runs: Engine) -> None:
    assert search(runs, experiment_ids=[1, 2]) == ["r3", "r2", "r5", "r1"]
    assert search(runs, experiment_ids=[2]) == ["r5"]
    assert search(runs, experiment_ids=[]) == []


def test_invalid_filter_raises_before_sql() -> None:
    with pytest.raises(InvalidArgumentError, match="OR is not supported"):
        run_search_statement(
            experiment_ids=[1],
            filter_string="params.a = 'x' or params.b = 'y'",
            view_type=ViewType.ALL,
            order_by=(),
            offset=0,
            limit=1,
        )


@pytest.mark.parametrize(("offset", "limit"), [(-1, 1), (0, -1)])
def test_negative_window_is_rejected(offset: int, limit: int) -> None:
    with pytest.raises(InvalidArgumentError, match=">= 0"):
        run_search_statement(
            experiment_ids=[1],
            filter_string=None,
            view_type=ViewType.ALL,
            order_by=(),
            offset=offset,
            limit=limit,
        )


# --- Runs: ordering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        pytest.param([], ["r3", "r2", "r1"], id="default-start-time-desc"),
        pytest.param(["start_time"], ["r1", "r2", "r3"], id="start-time-asc"),
        pytest.param(["metrics.acc DESC"], ["r1", "r3", "r2"], id="metric-desc"),
        pytest.param(["metrics.acc"], ["r2", "r3", "r1"], id="metric-asc"),
        pytest.param(["metrics.loss ASC"], ["r1", "r2", "r3"], id="metric-nan-then-missing-asc"),
        pytest.param(["metrics.loss DESC"], ["r1", "r2", "r3"], id="metric-nan-then-missing-desc"),
        pytest.param(["params.model"], ["r1", "r2", "r3"], id="param-asc-missing-last"),
        pytest.param(["params.model DESC"], ["r2", "r1", "r3"], id="param-desc-missing-last"),
        pytest.param(["params.n"], ["r1", "r2", "r3"], id="param-compares-strings"),
        pytest.param(["params.lr"], ["r2", "r1", "r3"], id="param-lr"),
        pytest.param(["tags.team DESC"], ["r2", "r1", "r3"], id="tag-desc"),
        pytest.param(["tags.team ASC"], ["r1", "r2", "r3"], id="tag-asc"),
        pytest.param(["run_name"], ["r2", "r1", "r3"], id="run-name-code-point"),
        pytest.param(["end_time"], ["r1", "r3", "r2"], id="end-time-asc-null-last"),
        pytest.param(["end_time DESC"], ["r3", "r1", "r2"], id="end-time-desc-null-last"),
        pytest.param(["metrics.tie"], ["r3", "r2", "r1"], id="ties-fall-back-to-start-time"),
        pytest.param(["metrics.tie", "user_id DESC"], ["r2", "r3", "r1"], id="second-key"),
        pytest.param(["metrics.`acc` DESC"], ["r1", "r3", "r2"], id="backtick-key"),
    ],
)
def test_order_by(runs: Engine, order_by: list[str], expected: list[str]) -> None:
    assert search(runs, order_by=order_by) == expected


@pytest.mark.postgres
def test_postgres_orders_by_code_point_whatever_the_collation(
    postgres_search_engine: Engine,
) -> None:
    engine = postgres_search_engine
    Base.metadata.create_all(engine, checkfirst=False)
    with engine.begin() as conn:
        # A natural-language collation, as a database created with en_US.UTF-8 would have.
        for table, column, size in (("params", "value", 6000), ("runs", "run_name", 250)):
            conn.execute(
                text(
                    f"ALTER TABLE {table} ALTER COLUMN {column} "
                    f'TYPE varchar({size}) COLLATE "en-US-x-icu"'
                )
            )
    _seed_runs(engine)
    with engine.connect() as conn:
        natural = conn.execute(text("SELECT run_name FROM runs WHERE run_id < 'r4' ORDER BY 1"))
        assert list(natural.scalars()) == ["alpha", "Beta", "gamma"]
    assert search(engine, order_by=["run_name"]) == ["r2", "r1", "r3"]  # Beta, alpha, gamma
    assert search(engine, order_by=["params.model"]) == ["r1", "r2", "r3"]  # CNN, cnn, -
    assert search(engine, "params.model LIKE 'c%'") == ["r2"]


def test_order_and_filter_together(runs: Engine) -> None:
    assert search(runs, "metrics.acc > 0.4", ["metrics.loss DESC", "params.lr"]) == [
        "r1",
        "r2",
        "r3",
    ]


def test_invalid_order_by(runs: Engine) -> None:
    with pytest.raises(InvalidArgumentError, match="duplicate"):
        search(runs, order_by=["metrics.a", "metrics.a DESC"])


# --- Runs: paging ----------------------------------------------------------------------------


@pytest.fixture
def many_runs(engine: Engine) -> Engine:
    """25 runs in experiment 7 with only 5 distinct start times, so run_id must break ties;
    every third run lacks metric m, so the missing ones must page last."""
    metrics = [r for i in range(25) if i % 3 for r in _metrics(f"p{i:02d}", {"m": float(i % 4)})]
    _insert(
        engine,
        (ExperimentRow, [_experiment(7, "paging")]),
        (RunRow, [_run(f"p{i:02d}", 7, i % 5) for i in range(25)]),
        (LatestMetricRow, metrics),
    )
    return engine


def _all_pages(engine: Engine, order_by: Sequence[str], page_size: int) -> list[list[str]]:
    """Page through as the store does: ask for one extra row to know a next page exists."""
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        offset = decode_page_token(token)
        ids = search(engine, None, order_by, experiment_ids=[7], offset=offset, limit=page_size + 1)
        pages.append(ids[:page_size])
        if len(ids) <= page_size:
            return pages
        token = encode_page_token(offset + page_size)


@pytest.mark.parametrize("order_by", [[], ["metrics.m DESC"], ["metrics.m"], ["start_time"]])
def test_paging_with_tokens_is_stable(many_runs: Engine, order_by: list[str]) -> None:
    pages = _all_pages(many_runs, order_by, page_size=10)
    flat = [run for page in pages for run in page]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert flat == search(many_runs, None, order_by, experiment_ids=[7])
    assert sorted(flat) == [f"p{i:02d}" for i in range(25)]


def test_paging_default_order_breaks_ties_by_run_id(many_runs: Engine) -> None:
    expected = sorted((f"p{i:02d}" for i in range(25)), key=lambda r: (-(int(r[1:]) % 5), r))
    assert [r for page in _all_pages(many_runs, [], 7) for r in page] == expected


def test_paging_metric_order_puts_missing_last(many_runs: Engine) -> None:
    flat = [r for page in _all_pages(many_runs, ["metrics.m DESC"], 4) for r in page]
    missing = [f"p{i:02d}" for i in range(25) if i % 3 == 0]
    assert flat[-len(missing) :] == sorted(missing, key=lambda r: (-(int(r[1:]) % 5), r))
    values = [int(r[1:]) % 4 for r in flat[: -len(missing)]]
    assert values == sorted(values, reverse=True)


# --- Experiments ------------------------------------------------------------------------------


@pytest.fixture
def experiments(engine: Engine) -> Engine:
    experiments = [
        _experiment(1, "Default", creation_time=10, last_update_time=50),
        _experiment(2, "alpha", creation_time=30, last_update_time=50),
        _experiment(3, "Alpha-2", creation_time=20, last_update_time=60),
        _experiment(4, "old", creation_time=5, lifecycle_stage="deleted"),
        _experiment(5, "same-time", creation_time=30, last_update_time=70),
    ]
    tags = [
        {"experiment_id": 2, "key": "team", "value": "core"},
        {"experiment_id": 3, "key": "team", "value": "Core"},
    ]
    _insert(engine, (ExperimentRow, experiments), (ExperimentTagRow, tags))
    return engine


def search_experiments(
    engine: Engine,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    view_type: ViewType = ViewType.ACTIVE_ONLY,
    offset: int = 0,
    limit: int = 100,
) -> list[int]:
    stmt = experiment_search_statement(
        view_type=view_type,
        filter_string=filter_string,
        order_by=order_by,
        offset=offset,
        limit=limit,
    )
    with Session(engine) as s:
        return list(s.scalars(stmt))


@pytest.mark.parametrize(
    ("filter_string", "order_by", "expected"),
    [
        pytest.param(None, [], [2, 5, 3, 1], id="default-creation-desc-then-id-asc"),
        pytest.param("name = 'alpha'", [], [2], id="name-eq"),
        pytest.param("name != 'alpha'", [], [5, 3, 1], id="name-ne"),
        pytest.param("name LIKE 'a%'", [], [2], id="name-like-case-sensitive"),
        pytest.param("name ILIKE 'a%'", [], [2, 3], id="name-ilike"),
        pytest.param("attributes.name IN ('alpha', 'Default')", [], [2, 1], id="name-in"),
        pytest.param("tags.team = 'core'", [], [2], id="tag-eq"),
        pytest.param("tags.team ILIKE 'core'", [], [2, 3], id="tag-ilike"),
        pytest.param("tags.team IS NULL", [], [5, 1], id="tag-is-null"),
        pytest.param("tags.team IS NOT NULL", [], [2, 3], id="tag-is-not-null"),
        pytest.param("creation_time >= 20", [], [2, 5, 3], id="creation-time"),
        pytest.param("last_update_time = 50", [], [2, 1], id="last-update-time"),
        pytest.param("experiment_id IN ('1', '3')", [], [3, 1], id="id-in"),
        pytest.param("experiment_id != 2", [], [5, 3, 1], id="id-ne"),
        pytest.param(None, ["name"], [3, 1, 2, 5], id="name-code-point"),
        pytest.param(None, ["name DESC"], [5, 2, 1, 3], id="name-desc"),
        pytest.param(None, ["experiment_id"], [1, 2, 3, 5], id="id-asc"),
        pytest.param(None, ["last_update_time"], [2, 1, 3, 5], id="ties-by-id-desc"),
        pytest.param(None, ["creation_time DESC"], [5, 2, 3, 1], id="creation-ties-by-id-desc"),
    ],
)
def test_experiment_search(
    experiments: Engine, filter_string: str | None, order_by: list[str], expected: list[int]
) -> None:
    assert search_experiments(experiments, filter_string, order_by) == expected


def test_experiment_view_types_and_window(experiments: Engine) -> None:
    assert search_experiments(experiments, view_type=ViewType.DELETED_ONLY) == [4]
    assert search_experiments(experiments, view_type=ViewType.ALL) == [2, 5, 3, 1, 4]
    assert search_experiments(experiments, offset=1, limit=2) == [5, 3]


# --- Page tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, 100, 10**12])
def test_page_token_round_trip(offset: int) -> None:
    token = encode_page_token(offset)
    assert decode_page_token(token) == offset
    assert token == base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


@pytest.mark.parametrize("token", [None, ""])
def test_no_page_token_is_the_first_page(token: str | None) -> None:
    assert decode_page_token(token) == 0


def test_page_token_accepts_standard_base64() -> None:
    assert decode_page_token(base64.b64encode(b'{"offset": 1000}').decode()) == 1000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not base64!", id="not-base64"),
        pytest.param("abc", id="bad-padding"),
        pytest.param(_b64(b"\xff\xfe"), id="not-utf8"),
        pytest.param(_b64(b"not json"), id="not-json"),
        pytest.param(_b64(b"[1]"), id="not-object"),
        pytest.param(_b64(b'{"page": 1}'), id="no-offset"),
        pytest.param(_b64(b'{"offset": "5"}'), id="string-offset"),
        pytest.param(_b64(b'{"offset": 1.5}'), id="float-offset"),
        pytest.param(_b64(b'{"offset": true}'), id="bool-offset"),
        pytest.param(_b64(b'{"offset": -1}'), id="negative-offset"),
    ],
)
def test_invalid_page_token(token: str) -> None:
    with pytest.raises(InvalidArgumentError, match="Invalid page token"):
        decode_page_token(token)
