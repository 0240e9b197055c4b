"""``plinth tokens``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import Result

from plinth.client import Client
from plinth.entities import Role

Cli = Callable[..., Result]


@pytest.fixture
def alice(client: Client) -> str:
    return client.create_user("alice", Role.EDITOR).name


def test_create_prints_a_token_on_the_last_line_that_authenticates(
    cli: Cli, client: Client, alice: str
) -> None:
    result = cli("tokens", "create", alice, "--description", "ci")

    assert result.exit_code == 0, result.output
    token = result.stdout.rstrip("\n").splitlines()[-1]
    user = client.stores.auth.authenticate(token)
    assert user is not None and user.name == "alice"


def test_list_shows_tokens_without_secrets(cli: Cli, client: Client, alice: str) -> None:
    _token, secret = client.create_token(alice, "laptop")
    client.create_user("bob", Role.VIEWER)
    client.create_token("bob", "ci")

    table = cli("tokens", "list")
    mine = cli("tokens", "list", "--user", "alice", "-o", "json")

    assert "laptop" in table.stdout and "ci" in table.stdout
    assert secret not in table.stdout + mine.stdout
    assert [(t["user_name"], t["description"]) for t in json.loads(mine.stdout)] == [
        ("alice", "laptop")
    ]


def test_revoke_stops_the_token(cli: Cli, client: Client, alice: str) -> None:
    token, secret = client.create_token(alice)

    result = cli("tokens", "revoke", token.token_id)

    assert result.exit_code == 0, result.output
    assert client.stores.auth.authenticate(secret) is None
    assert cli("tokens", "list", "-o", "json").stdout.strip() == "[]"


def test_create_for_an_unknown_user_exits_3(cli: Cli) -> None:
    result = cli("tokens", "create", "ghost")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: User 'ghost' does not exist")


def test_revoke_an_unknown_token_exits_3(cli: Cli) -> None:
    result = cli("tokens", "revoke", "nope")

    assert result.exit_code == 3
    assert "nope" in result.stderr
