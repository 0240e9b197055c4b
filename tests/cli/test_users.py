"""``plinth users``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from typer.testing import Result

from plinth.client import Client
from plinth.entities import Role

Cli = Callable[..., Result]


def last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def test_create_prints_a_token_alone_on_the_last_line_that_authenticates(
    cli: Cli, client: Client
) -> None:
    result = cli("users", "create", "alice", "--role", "approver")

    assert result.exit_code == 0, result.output
    token = last_line(result.stdout)
    assert token == token.strip() and " " not in token
    user = client.stores.auth.authenticate(token)
    assert user is not None
    assert (user.name, user.role) == ("alice", Role.APPROVER)


def test_create_defaults_to_editor(cli: Cli, client: Client) -> None:
    cli("users", "create", "bob")

    assert client.stores.auth.get_user("bob").role is Role.EDITOR


def test_create_with_an_unknown_role_exits_2(cli: Cli, client: Client) -> None:
    result = cli("users", "create", "alice", "--role", "boss")

    assert result.exit_code == 2
    assert "boss" in result.stderr
    assert client.list_users() == []


def test_create_an_existing_user_exits_4(cli: Cli, client: Client) -> None:
    client.create_user("alice", Role.VIEWER)

    result = cli("users", "create", "alice")

    assert result.exit_code == 4
    assert result.stderr.startswith("Error: User 'alice' already exists")


def test_create_with_an_invalid_name_exits_2(cli: Cli) -> None:
    result = cli("users", "create", "no spaces allowed")

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")


def test_list_shows_users_and_roles(cli: Cli, client: Client) -> None:
    client.create_user("alice", Role.VIEWER)
    client.create_user("root", Role.ADMIN)

    table = cli("users", "list")
    as_json = cli("users", "list", "-o", "json")

    assert "alice" in table.stdout and "viewer" in table.stdout
    assert {u["name"]: u["role"] for u in json.loads(as_json.stdout)} == {
        "alice": "viewer",
        "root": "admin",
    }


def test_set_role_changes_the_role(cli: Cli, client: Client) -> None:
    client.create_user("alice", Role.VIEWER)

    result = cli("users", "set-role", "alice", "admin")

    assert result.exit_code == 0, result.output
    assert client.stores.auth.get_user("alice").role is Role.ADMIN


def test_set_role_to_an_unknown_role_exits_2(cli: Cli, client: Client) -> None:
    client.create_user("alice", Role.VIEWER)

    result = cli("users", "set-role", "alice", "boss")

    assert result.exit_code == 2
    assert client.stores.auth.get_user("alice").role is Role.VIEWER


def test_set_role_of_an_unknown_user_exits_3(cli: Cli) -> None:
    result = cli("users", "set-role", "ghost", "viewer")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: User 'ghost' does not exist")


def test_disable_stops_the_users_tokens(cli: Cli, client: Client) -> None:
    token = last_line(cli("users", "create", "alice").stdout)

    result = cli("users", "disable", "alice")

    assert result.exit_code == 0, result.output
    assert client.stores.auth.authenticate(token) is None
    assert client.stores.auth.get_user("alice").is_active is False


def test_enable_gives_a_disabled_user_their_tokens_back(cli: Cli, client: Client) -> None:
    token = last_line(cli("users", "create", "alice").stdout)
    cli("users", "disable", "alice")

    result = cli("users", "enable", "alice")

    assert result.exit_code == 0, result.output
    assert client.stores.auth.authenticate(token) is not None


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(
    cli: Cli, client: Client
) -> None:
    cli("users", "create", "root", "--role", "admin")
    for args in (("disable", "root"), ("set-role", "root", "editor")):
        result = cli("users", *args)
        assert result.exit_code != 0
        assert "last active admin" in result.stderr
    cli("users", "create", "second", "--role", "admin")
    assert cli("users", "disable", "root").exit_code == 0  # another admin remains
    assert client.stores.auth.get_user("root").is_active is False


def test_disable_an_unknown_user_exits_3(cli: Cli) -> None:
    assert cli("users", "disable", "ghost").exit_code == 3


def test_create_through_a_server_issues_a_token_the_server_accepts(
    cli: Cli, live_server: Any
) -> None:
    env = {"PLINTH_URI": live_server.url, "PLINTH_TOKEN": live_server.admin_token}

    result = cli("users", "create", "carol", "--role", "viewer", env=env)

    assert result.exit_code == 0, result.output
    user = Client(live_server.settings).stores.auth.authenticate(last_line(result.stdout))
    assert user is not None and user.name == "carol"


def test_a_viewer_may_not_create_users_on_a_server(cli: Cli, live_server: Any) -> None:
    admin = {"PLINTH_URI": live_server.url, "PLINTH_TOKEN": live_server.admin_token}
    viewer_token = last_line(cli("users", "create", "dave", "--role", "viewer", env=admin).stdout)

    result = cli("users", "create", "eve", env={**admin, "PLINTH_TOKEN": viewer_token})

    assert result.exit_code == 5
    assert result.stderr.startswith("Error: ")
