from __future__ import annotations

import re

import pytest

from plinth.errors import InvalidArgumentError
from plinth.tracking.search_filter import (
    Comparison,
    Entity,
    Operator,
    OrderKey,
    Value,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_order_by,
    parse_run_filter,
)


def cmp(entity: Entity, key: str, op: Operator, value: Value) -> Comparison:
    return Comparison(entity=entity, key=key, op=op, value=value)


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        pytest.param(None, [], id="none"),
        pytest.param("   ", [], id="blank"),
        pytest.param("metrics.acc > 0.5", [cmp("metric", "acc", ">", 0.5)], id="metric-gt"),
        pytest.param("metric.acc>=1", [cmp("metric", "acc", ">=", 1.0)], id="no-spaces"),
        pytest.param("metrics.acc < -1e-3", [cmp("metric", "acc", "<", -0.001)], id="exponent"),
        pytest.param("metrics.acc <= .5", [cmp("metric", "acc", "<=", 0.5)], id="leading-dot"),
        pytest.param("metrics.acc = 1", [cmp("metric", "acc", "=", 1.0)], id="metric-eq"),
        pytest.param("metrics.acc != 1", [cmp("metric", "acc", "!=", 1.0)], id="metric-ne"),
        pytest.param("metrics.`my metric` > 0", [cmp("metric", "my metric", ">", 0.0)], id="bt"),
        pytest.param("`metrics`.a > 0", [cmp("metric", "a", ">", 0.0)], id="quoted-entity"),
        pytest.param("metrics.1st > 0", [cmp("metric", "1st", ">", 0.0)], id="digit-key"),
        pytest.param("params.lr = '0.1'", [cmp("param", "lr", "=", "0.1")], id="param-eq"),
        pytest.param('params.lr = "0.1"', [cmp("param", "lr", "=", "0.1")], id="dq-value"),
        pytest.param("params.x = ''", [cmp("param", "x", "=", "")], id="empty-value"),
        pytest.param("param.x = 'it''s'", [cmp("param", "x", "=", "it's")], id="doubled-quote"),
        pytest.param('parameter.x = "it\'s"', [cmp("param", "x", "=", "it's")], id="mixed-q"),
        pytest.param("parameters.\"a b\" != 'x'", [cmp("param", "a b", "!=", "x")], id="dq-key"),
        pytest.param("params.'a b' = 'x'", [cmp("param", "a b", "=", "x")], id="sq-key"),
        pytest.param("params.x like 'A%'", [cmp("param", "x", "LIKE", "A%")], id="like-lower"),
        pytest.param("params.x ILIKE 'a%'", [cmp("param", "x", "ILIKE", "a%")], id="ilike"),
        pytest.param("params.x IN ('a', 'b')", [cmp("param", "x", "IN", ("a", "b"))], id="in"),
        pytest.param("params.x not in ('a',)", [cmp("param", "x", "NOT IN", ("a",))], id="not-in"),
        pytest.param("params.x IS NULL", [cmp("param", "x", "IS NULL", None)], id="is-null"),
        pytest.param("tags.t is not null", [cmp("tag", "t", "IS NOT NULL", None)], id="not-null"),
        pytest.param(
            "tags.mlflow.runName = 'x'", [cmp("tag", "mlflow.runName", "=", "x")], id="dotted-key"
        ),
        pytest.param("tags.`a.b-c` = 'x'", [cmp("tag", "a.b-c", "=", "x")], id="bt-dots"),
        pytest.param(
            "status = 'FINISHED'", [cmp("attribute", "status", "=", "FINISHED")], id="bare"
        ),
        pytest.param(
            "attributes.run_id IN ('a','b')",
            [cmp("attribute", "run_id", "IN", ("a", "b"))],
            id="run-id-in",
        ),
        pytest.param(
            "attr.run_name LIKE 'x%'", [cmp("attribute", "run_name", "LIKE", "x%")], id="attr"
        ),
        pytest.param(
            "run.user_id != 'u'", [cmp("attribute", "user_id", "!=", "u")], id="run-prefix"
        ),
        pytest.param(
            "attribute.artifact_uri = 'x'",
            [cmp("attribute", "artifact_uri", "=", "x")],
            id="artifact-uri",
        ),
        pytest.param(
            "lifecycle_stage = 'deleted'",
            [cmp("attribute", "lifecycle_stage", "=", "deleted")],
            id="lifecycle-stage",
        ),
        pytest.param(
            "attributes.`Run name` = 'a'", [cmp("attribute", "run_name", "=", "a")], id="ui-alias"
        ),
        pytest.param(
            "attributes.created >= 5", [cmp("attribute", "start_time", ">=", 5)], id="created"
        ),
        pytest.param("end_time < 1.5", [cmp("attribute", "end_time", "<", 1.5)], id="float-time"),
        pytest.param("datasets.name = 'd'", [cmp("dataset", "name", "=", "d")], id="dataset"),
        pytest.param(
            "dataset.digest IN ('a')", [cmp("dataset", "digest", "IN", ("a",))], id="dataset-in"
        ),
        pytest.param(
            "datasets.context LIKE 'tr%'", [cmp("dataset", "context", "LIKE", "tr%")], id="ctx"
        ),
        pytest.param(
            "metrics.a > 1 AND params.b = 'x' and tags.c = 'y'",
            [cmp("metric", "a", ">", 1.0), cmp("param", "b", "=", "x"), cmp("tag", "c", "=", "y")],
            id="and-mixed-case",
        ),
        pytest.param(
            "params.and = 'x'", [cmp("param", "and", "=", "x")], id="keyword-as-key-segment"
        ),
    ],
)
def test_parse_run_filter(filter_string: str | None, expected: list[Comparison]) -> None:
    assert parse_run_filter(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        pytest.param("metrics.a > 1 OR metrics.b > 1", "OR is not supported", id="or"),
        pytest.param("metrics.a = 'x'", "Expected numeric value type for metric 'a'", id="m-str"),
        pytest.param("metrics.a > nan", "Found nan", id="metric-nan-word"),
        pytest.param("metrics.a LIKE '1'", "Invalid comparator 'LIKE' for metric", id="m-like"),
        pytest.param("metrics.a IS NULL", "Invalid comparator 'IS NULL'", id="metric-null"),
        pytest.param("metrics.a <> 1", "Invalid comparator '<>'", id="sql-ne"),
        pytest.param("metrics.a == 1", "Invalid comparator '=='", id="double-eq"),
        pytest.param("params.x > '1'", "Invalid comparator '>' for param 'x'", id="param-gt"),
        pytest.param("params.x = 1", "Expected a quoted string value for param 'x'", id="p-num"),
        pytest.param("params.x = abc", "Got value abc", id="param-unquoted"),
        pytest.param("params.x IN ('a', 1)", "Got value 1", id="list-number"),
        pytest.param("params.x IN ()", "non-empty list", id="empty-list"),
        pytest.param("params.x IN 'a'", "parenthesised list", id="in-without-parens"),
        pytest.param("params.x NOT 'a'", "IN after NOT", id="not-without-in"),
        pytest.param("params.x IS 'a'", "expected NULL", id="is-without-null"),
        pytest.param("params.x = 'a", "Unterminated quote '", id="unterminated"),
        pytest.param("metrics.`a > 1", "Unterminated quote `", id="unterminated-bt"),
        pytest.param("METRICS.a > 1", "Invalid entity type 'METRICS'", id="entity-case"),
        pytest.param("foo.a = 'x'", "Invalid entity type 'foo'", id="bad-entity"),
        pytest.param("nope = 'x'", "Invalid attribute key 'nope'", id="bad-attribute"),
        pytest.param("experiment_id = '1'", "Invalid attribute key 'experiment_id'", id="exp"),
        pytest.param("datasets.foo = 'x'", "Invalid dataset key 'foo'", id="bad-dataset-key"),
        pytest.param("datasets.name IS NULL", "Invalid comparator 'IS NULL'", id="ds-null"),
        pytest.param("start_time > '5'", "Expected numeric value type for attribute", id="t-s"),
        pytest.param("status > 'A'", "Invalid comparator '>' for attribute 'status'", id="s-gt"),
        pytest.param("end_time IS NULL", "Invalid comparator 'IS NULL'", id="time-null"),
        pytest.param("metrics.val-loss > 1", "'metrics.val-loss'", id="unquoted-dash"),
        pytest.param("metrics.a/b > 1", "backticks", id="unquoted-slash"),
        pytest.param("metrics.a > +5", "Invalid token '+5'", id="plus-sign"),
        pytest.param("metrics.a > 1;", "Invalid token '1;'", id="semicolon"),
        pytest.param("(metrics.a > 1)", "found '('", id="parentheses"),
        pytest.param("metrics.a > 1 and", "found 'end of input'", id="dangling-and"),
        pytest.param("metrics.a > 1 and and metrics.b > 1", "found 'and'", id="double-and"),
        pytest.param("metrics.a > 1 metrics.b > 1", "expected AND", id="missing-and"),
        pytest.param("metrics.a", "comparison operator after 'metrics.a'", id="no-op"),
        pytest.param("> 1", "expected an identifier", id="no-identifier"),
        pytest.param("metrics.a >", "expected a value", id="no-value"),
    ],
)
def test_parse_run_filter_rejects(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)) as info:
        parse_run_filter(filter_string)
    assert info.value.message


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param(["metrics.auc DESC"], [OrderKey(entity="metric", key="auc", ascending=False)]),
        pytest.param(["params.lr"], [OrderKey(entity="param", key="lr", ascending=True)]),
        pytest.param(
            ["attributes.start_time ASC"],
            [OrderKey(entity="attribute", key="start_time", ascending=True)],
        ),
        pytest.param(
            ["start_time"], [OrderKey(entity="attribute", key="start_time", ascending=True)]
        ),
        pytest.param(["run_name"], [OrderKey(entity="attribute", key="run_name", ascending=True)]),
        pytest.param(["tags.team desc"], [OrderKey(entity="tag", key="team", ascending=False)]),
        pytest.param(
            ["metrics.`my metric`  desc"],
            [OrderKey(entity="metric", key="my metric", ascending=False)],
        ),
        pytest.param(['params."a b" DESC'], [OrderKey(entity="param", key="a b", ascending=False)]),
        pytest.param(["created"], [OrderKey(entity="attribute", key="start_time", ascending=True)]),
        pytest.param(
            ["metrics.a", "params.a"],
            [
                OrderKey(entity="metric", key="a", ascending=True),
                OrderKey(entity="param", key="a", ascending=True),
            ],
            id="same-key-different-entities",
        ),
    ],
)
def test_parse_order_by(order_by: list[str], expected: list[OrderKey]) -> None:
    assert parse_order_by(order_by) == expected


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        pytest.param(["metrics.a foo"], "expected ASC or DESC, found 'foo'", id="bad-direction"),
        pytest.param(["metrics.a DESC ASC"], "Could not be parsed", id="two-directions"),
        pytest.param([""], "Could not be parsed", id="empty-item"),
        pytest.param(["metrics.a > 1"], "Could not be parsed", id="a-filter"),
        pytest.param(["datasets.name"], "Invalid order_by entity type 'dataset'", id="dataset"),
        pytest.param(["nope"], "Invalid attribute key 'nope'", id="bad-attribute"),
        pytest.param(["foo.a"], "Invalid entity type 'foo'", id="bad-entity"),
        pytest.param(["start_time", "created DESC"], "duplicate fields", id="duplicate-alias"),
    ],
)
def test_parse_order_by_rejects(order_by: list[str], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        parse_order_by(order_by)


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        pytest.param("name = 'a'", [cmp("attribute", "name", "=", "a")], id="name"),
        pytest.param(
            "attributes.name ILIKE 'A%'", [cmp("attribute", "name", "ILIKE", "A%")], id="prefixed"
        ),
        pytest.param("tags.x != 'y'", [cmp("tag", "x", "!=", "y")], id="tag"),
        pytest.param("tag.x IS NULL", [cmp("tag", "x", "IS NULL", None)], id="tag-null"),
        pytest.param(
            "creation_time > 5", [cmp("attribute", "creation_time", ">", 5)], id="creation-time"
        ),
        pytest.param(
            "last_update_time <= 5",
            [cmp("attribute", "last_update_time", "<=", 5)],
            id="last-update-time",
        ),
        pytest.param(
            "experiment_id IN ('1', 02)",
            [cmp("attribute", "experiment_id", "IN", ("1", "2"))],
            id="experiment-id-list",
        ),
        pytest.param(
            "experiment_id = 3", [cmp("attribute", "experiment_id", "=", "3")], id="bare-id"
        ),
    ],
)
def test_parse_experiment_filter(filter_string: str, expected: list[Comparison]) -> None:
    assert parse_experiment_filter(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        pytest.param("params.a = 'x'", "Invalid entity type 'params'", id="params"),
        pytest.param("metrics.a > 1", "Invalid entity type 'metrics'", id="metrics"),
        pytest.param("status = 'x'", "Invalid attribute key 'status'", id="run-attribute"),
        pytest.param("creation_time > 5.5", "is not an integer", id="float-time"),
        pytest.param("creation_time > '5'", "Expected numeric value type", id="string-time"),
        pytest.param("experiment_id = 'abc'", "Invalid experiment ID 'abc'", id="bad-id"),
        pytest.param("experiment_id > '1'", "Invalid comparator '>'", id="id-gt"),
        pytest.param("name IS NULL", "Invalid comparator 'IS NULL'", id="name-null"),
        pytest.param("name = 'a' OR name = 'b'", "OR is not supported", id="or"),
    ],
)
def test_parse_experiment_filter_rejects(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        parse_experiment_filter(filter_string)


def test_parse_experiment_order_by() -> None:
    assert parse_experiment_order_by(["name", "experiment_id DESC", "last_update_time asc"]) == [
        OrderKey(entity="attribute", key="name", ascending=True),
        OrderKey(entity="attribute", key="experiment_id", ascending=False),
        OrderKey(entity="attribute", key="last_update_time", ascending=True),
    ]


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        pytest.param(["tags.x"], "Invalid order_by entity: tags", id="tag"),
        pytest.param(["foo"], "Invalid attribute key 'foo'", id="unknown"),
        pytest.param(["name", "name DESC"], "duplicate fields", id="duplicate"),
    ],
)
def test_parse_experiment_order_by_rejects(order_by: list[str], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        parse_experiment_order_by(order_by)
