"""``plinth audit``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from typer.testing import Result

from plinth.cli.audit import parse_since
from plinth.client import Client
from plinth.entities import Role
from plinth.errors import InvalidArgumentError

Cli = Callable[..., Result]
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_audit_shows_the_creation_of_a_user(cli: Cli) -> None:
    cli("users", "create", "alice", "--role", "viewer")

    result = cli("audit")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "create_user" in line)
    assert "alice" in row
    assert "local" in row


def test_audit_as_json_lists_newest_first(cli: Cli, client: Client) -> None:
    client.create_user("alice", Role.VIEWER)
    client.create_token("alice")

    events = json.loads(cli("audit", "-o", "json").stdout)

    assert [e["action"] for e in events[:2]] == ["create_token", "create_user"]
    assert events[1]["object_id"] == "alice"


def test_since_and_limit_narrow_the_events(cli: Cli, client: Client) -> None:
    client.create_user("alice", Role.VIEWER)
    client.create_user("bob", Role.VIEWER)

    recent = json.loads(cli("audit", "--since", "1h", "-o", "json").stdout)
    future = json.loads(cli("audit", "--since", "2999-01-01", "-o", "json").stdout)
    one = json.loads(cli("audit", "--limit", "1", "-o", "json").stdout)

    assert {e["object_id"] for e in recent} >= {"alice", "bob"}
    assert future == []
    assert [e["object_id"] for e in one] == ["bob"]


def test_user_filter_keeps_that_users_events(cli: Cli, client: Client) -> None:
    client.create_user("alice", Role.VIEWER)

    mine = json.loads(cli("audit", "--user", "local", "-o", "json").stdout)
    theirs = cli("audit", "--user", "alice")

    assert mine and all(e["user_name"] == "local" for e in mine)
    assert "No audit events match" in theirs.stdout


def test_a_bad_since_exits_2_naming_the_flag(cli: Cli) -> None:
    result = cli("audit", "--since", "yesterday")

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --since 'yesterday'")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("30m", NOW - timedelta(minutes=30), id="minutes"),
        pytest.param("1h", NOW - timedelta(hours=1), id="hours"),
        pytest.param("2d", NOW - timedelta(days=2), id="days"),
        pytest.param("1w", NOW - timedelta(weeks=1), id="weeks"),
        pytest.param("45s", NOW - timedelta(seconds=45), id="seconds"),
        pytest.param("2024-04-30T08:00:00+00:00", datetime(2024, 4, 30, 8, tzinfo=UTC), id="iso"),
        pytest.param(
            "2024-04-30T10:00:00+02:00",
            datetime(2024, 4, 30, 8, tzinfo=UTC),
            id="iso-with-offset",
        ),
        pytest.param("2024-04-30", datetime(2024, 4, 30, tzinfo=UTC), id="date-in-local-zone"),
    ],
)
def test_parse_since_accepts_durations_and_iso_times(value: str, expected: datetime) -> None:
    assert parse_since(value, now=NOW) == int(expected.timestamp() * 1000)


def test_naive_iso_times_are_in_the_local_zone() -> None:
    local_now = NOW.astimezone(timezone(timedelta(hours=5)))

    assert parse_since("2024-05-01T17:00", now=local_now) == int(NOW.timestamp() * 1000)


@pytest.mark.parametrize("value", ["yesterday", "5x", "-1h", "", "1.5h"])
def test_parse_since_rejects_other_text(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match="--since"):
        parse_since(value, now=NOW)


def test_parse_since_further_back_than_the_epoch_means_everything() -> None:
    assert parse_since("99999999d", now=NOW) == 0
    assert parse_since("60000w", now=NOW) == 0
