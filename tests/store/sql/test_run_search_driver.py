"""Which filter a run search starts from, and that every start gives the same runs.

Experiment 8 holds 30 runs, experiment 9 two; ``params.p`` takes 10 values in experiment 8
(three runs each) and ``v1`` in experiment 9, so ``p = 'v1'`` matches 5 rows in all: fewer
than experiment 8's runs, more than experiment 9's. ``params.long`` holds values longer than
what PostgreSQL's index keeps of them (200 characters).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import Engine
from tests.store.sql.test_search import (
    _children,
    _experiment,
    _insert,
    _metrics,
    _run,
    indexed_clauses,
    search,
)

from plinth.entities.tracking import ViewType
from plinth.store.sql.models import ExperimentRow, LatestMetricRow, ParamRow, RunRow, TagRow
from plinth.store.sql.run_search import choose_driver, run_search_statement

LONG = "x" * 300
LONG_PARAMS = {"b00": LONG, "b01": LONG + "y", "b02": "x" * 199}


@pytest.fixture
def many(engine: Engine) -> Engine:
    runs = [_run(f"b{i:02d}", 8, i) for i in range(30)] + [
        _run(f"s{i}", 9, 100 + i) for i in (0, 1)
    ]
    params = [r for i in range(30) for r in _children(f"b{i:02d}", {"p": f"v{i % 10}"})]
    params += [r for run in ("s0", "s1") for r in _children(run, {"p": "v1"})]
    params += [r for run, long in LONG_PARAMS.items() for r in _children(run, {"long": long})]
    _insert(
        engine,
        (ExperimentRow, [_experiment(8, "big"), _experiment(9, "small")]),
        (RunRow, runs),
        (ParamRow, params),
        (TagRow, [r for i in range(30) for r in _children(f"b{i:02d}", {"t": "all"})]),
        (LatestMetricRow, [r for i in range(30) for r in _metrics(f"b{i:02d}", {"m": i})]),
    )
    return engine


def driver(engine: Engine, filter_string: str | None, experiment_ids: Sequence[int]) -> int | None:
    with engine.connect() as conn:
        return choose_driver(
            conn,
            experiment_ids=experiment_ids,
            filter_string=filter_string,
            view_type=ViewType.ACTIVE_ONLY,
        )


@pytest.mark.parametrize(
    ("filter_string", "experiment_ids", "expected"),
    [
        pytest.param("params.p = 'v1'", [8], 0, id="fewer-matches-than-runs"),
        pytest.param("params.p = 'v1'", [9], None, id="fewer-runs-than-matches"),
        pytest.param("params.p = 'v1'", [8, 9], 0, id="several-experiments"),
        pytest.param("tags.t = 'all' and params.p IN ('v1', 'v2')", [8], 1, id="fewest-wins"),
        pytest.param("metrics.m > 3 and params.p = 'v9'", [8], 1, id="after-a-metric"),
        pytest.param("params.p != 'v1'", [8], None, id="not-equal-is-not-indexed"),
        pytest.param("params.p LIKE 'v1'", [8], None, id="like-is-not-indexed"),
        pytest.param("metrics.m > 3", [8], None, id="no-param-or-tag"),
        pytest.param(None, [8], None, id="no-filter"),
    ],
)
def test_choose_driver(
    many: Engine, filter_string: str | None, experiment_ids: list[int], expected: int | None
) -> None:
    assert driver(many, filter_string, experiment_ids) == expected


def test_no_experiments_means_no_driver(many: Engine) -> None:
    assert driver(many, "params.p = 'v1'", []) is None


@pytest.mark.parametrize(
    ("filter_string", "experiment_ids", "expected"),
    [
        pytest.param("params.p = 'v1'", [8], ["b21", "b11", "b01"], id="eq"),
        pytest.param("params.p = 'v1'", [8, 9], ["s1", "s0", "b21", "b11", "b01"], id="two-exps"),
        pytest.param("params.p IN ('v1', 'v2')", [8], ["b22", "b21", "b12"], id="in"),
        pytest.param("tags.t = 'all' and params.p = 'v3'", [8], ["b23", "b13", "b03"], id="and"),
        pytest.param("params.p = 'v3' and metrics.m > 10", [8], ["b23", "b13"], id="metric"),
        pytest.param(f"params.long = '{LONG}'", [8], ["b00"], id="long-value"),
        pytest.param(f"params.long = '{LONG}y'", [8], ["b01"], id="long-value-same-prefix"),
        pytest.param(
            f"params.long IN ('{LONG}', '{'x' * 199}')", [8], ["b02", "b00"], id="in-long"
        ),
        pytest.param("params.long = 'x'", [8], [], id="prefix-of-a-value"),
    ],
)
def test_every_start_finds_the_same_runs(
    many: Engine, filter_string: str, experiment_ids: list[int], expected: list[str]
) -> None:
    found = search(many, filter_string, experiment_ids=experiment_ids, limit=3)
    assert found == expected[:3]
    for start in indexed_clauses(filter_string):
        assert (
            search(many, filter_string, experiment_ids=experiment_ids, limit=3, driver=start)
            == (expected[:3])
        )


def test_a_driver_pages_like_the_runs(many: Engine) -> None:
    pages = [
        search(many, "tags.t = 'all'", ["params.p DESC"], experiment_ids=[8], offset=o, limit=7)
        for o in range(0, 30, 7)
    ]
    driven = [
        search(
            many,
            "tags.t = 'all'",
            ["params.p DESC"],
            experiment_ids=[8],
            offset=o,
            limit=7,
            driver=0,
        )
        for o in range(0, 30, 7)
    ]
    assert driven == pages
    assert sorted(r for page in pages for r in page) == [f"b{i:02d}" for i in range(30)]


def test_a_driver_must_be_an_indexed_clause() -> None:
    with pytest.raises(ValueError, match="not an indexed filter"):
        run_search_statement(
            experiment_ids=[1],
            filter_string="params.p != 'x'",
            view_type=ViewType.ALL,
            order_by=(),
            offset=0,
            limit=1,
            driver=0,
        )


def explain(engine: Engine, filter_string: str, driver: int | None) -> str:
    """The plan of a search over experiment 8, as one string."""
    search_ = run_search_statement(
        experiment_ids=[8],
        filter_string=filter_string,
        view_type=ViewType.ACTIVE_ONLY,
        order_by=["metrics.m DESC"],
        offset=0,
        limit=10,
        driver=driver,
    )
    sql = search_.statement.params(**search_.parameters).compile(
        engine, compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "\n".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        # On a table this small a sequential scan is cheapest; the question is whether
        # the index can serve the filter at all.
        conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


@pytest.mark.parametrize(
    "filter_string",
    [
        pytest.param("params.p = 'v1'", id="eq"),
        pytest.param("params.p IN ('v1', 'v2')", id="in"),
        pytest.param(f"params.long = '{LONG}'", id="long"),
    ],
)
def test_the_search_uses_the_key_value_index(many: Engine, filter_string: str) -> None:
    # SQLite gets the driver choose_driver picks; PostgreSQL none (its planner decides).
    start = driver(many, filter_string, [8]) if many.dialect.name == "sqlite" else None
    assert "ix_params_key_value" in explain(many, filter_string, start)
