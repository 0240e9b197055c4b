"""The ``AuthStore`` contract (users, tokens, audit), run against every backend.

Backends may hold users of their own (a server bootstraps ``admin``), so listings are checked
for what the tests created, not for equality.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import pytest
from tests.store.contract import at_once

from plinth.entities import AuditEvent, Param, Role, RunTag, now_ms
from plinth.errors import AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError
from plinth.store.base import AuthStore
from plinth.store.factory import Stores


def events_for(store: AuthStore, object_id: str) -> list[AuditEvent]:
    return [e for e in store.list_audit_events() if e.object_id == object_id]


class AuthStoreContract:
    __test__ = False
    impersonates: ClassVar[bool] = True
    """Whether ``with_actor`` changes who mutations are attributed to."""

    @pytest.fixture
    def store(self, stores: Stores) -> AuthStore:
        return stores.auth

    # -- users -----------------------------------------------------------------------------
    def test_create_and_get_user(self, store: AuthStore) -> None:
        user = store.create_user("alice", Role.EDITOR)
        assert (user.name, user.role, user.is_active) == ("alice", Role.EDITOR, True)
        assert user.created_at > 0
        assert store.get_user("alice") == user

    def test_create_user_refuses_duplicates_and_bad_names(self, store: AuthStore) -> None:
        store.create_user("alice", Role.VIEWER)
        with pytest.raises(AlreadyExistsError):
            store.create_user("alice", Role.ADMIN)
        with pytest.raises(InvalidArgumentError, match="user name"):
            store.create_user("no spaces", Role.VIEWER)

    @pytest.mark.parametrize("name", ["nobody", ""])
    def test_get_unknown_user_raises_not_found(self, store: AuthStore, name: str) -> None:
        with pytest.raises(NotFoundError):
            store.get_user(name)

    def test_list_users_by_name(self, store: AuthStore) -> None:
        for name in ("carol", "alice", "bob"):
            store.create_user(name, Role.VIEWER)
        names = [u.name for u in store.list_users()]
        assert {"alice", "bob", "carol"} <= set(names)
        assert names == sorted(names)

    def test_update_user_role_and_activity(self, store: AuthStore) -> None:
        store.create_user("alice", Role.VIEWER)
        assert store.update_user("alice", role=Role.APPROVER).role is Role.APPROVER
        disabled = store.update_user("alice", active=False)
        assert (disabled.role, disabled.is_active) == (Role.APPROVER, False)
        assert store.get_user("alice") == disabled
        with pytest.raises(NotFoundError):
            store.update_user("nobody", role=Role.ADMIN)

    # -- tokens ----------------------------------------------------------------------------
    def test_token_secret_authenticates_its_user(self, store: AuthStore) -> None:
        store.create_user("alice", Role.EDITOR)
        token, secret = store.create_token("alice", "laptop")
        assert (token.user_name, token.description) == ("alice", "laptop")
        user = store.authenticate(secret)
        assert user is not None and user.name == "alice"
        assert store.authenticate(secret + "x") is None
        assert store.authenticate("") is None

    def test_tokens_are_listed_without_their_secret(self, store: AuthStore) -> None:
        store.create_user("alice", Role.EDITOR)
        first, secret = store.create_token("alice")
        second, other_secret = store.create_token("alice", "ci")
        assert secret != other_secret and first.token_id != second.token_id
        tokens = store.list_tokens("alice")
        assert tokens == [first, second]
        assert first in store.list_tokens()
        assert secret not in repr(tokens)

    def test_revoked_token_no_longer_authenticates(self, store: AuthStore) -> None:
        store.create_user("alice", Role.EDITOR)
        token, secret = store.create_token("alice")
        store.revoke_token(token.token_id)
        assert store.authenticate(secret) is None
        assert store.list_tokens("alice") == []
        for unknown in ("no-such-token", ""):
            with pytest.raises(NotFoundError):
                store.revoke_token(unknown)

    def test_disabled_user_does_not_authenticate(self, store: AuthStore) -> None:
        store.create_user("alice", Role.EDITOR)
        _token, secret = store.create_token("alice")
        store.update_user("alice", active=False)
        assert store.authenticate(secret) is None
        store.update_user("alice", active=True)
        assert store.authenticate(secret) is not None

    def test_create_token_for_unknown_user_raises_not_found(self, store: AuthStore) -> None:
        with pytest.raises(NotFoundError):
            store.create_token("nobody")

    # -- audit -----------------------------------------------------------------------------
    def test_mutations_leave_audit_events_by_the_actor(
        self, store: AuthStore, stores: Stores, actor: str
    ) -> None:
        tracking = stores.tracking
        experiment_id = tracking.create_experiment("exp-audited")
        tracking.set_experiment_tag(experiment_id, RunTag("k", "v"))
        run = tracking.create_run(experiment_id, user_id="bob", start_time=now_ms())
        run_id = run.info.run_id
        tracking.log_batch(run_id, params=[Param("lr", "0.1")])
        tracking.delete_run(run_id)
        store.create_user("alice", Role.VIEWER)
        assert [(e.action, e.user_name) for e in events_for(store, experiment_id)] == [
            ("set_experiment_tag", actor),
            ("create_experiment", actor),
        ]
        assert [e.action for e in events_for(store, run_id)] == [
            "delete_run",
            "log_batch",
            "create_run",
        ]
        assert [(e.action, e.user_name) for e in events_for(store, "alice")] == [
            ("create_user", actor)
        ]

    def test_record_audit_event(self, store: AuthStore, actor: str) -> None:
        store.record_audit_event("upload_artifact", "run", "r1", {"path": "model.pkl"})
        (event,) = events_for(store, "r1")
        assert (event.action, event.object_type, event.user_name) == (
            "upload_artifact",
            "run",
            actor,
        )
        assert event.details is not None and json.loads(event.details) == {"path": "model.pkl"}

    def test_list_audit_events_newest_first_with_filters(
        self, store: AuthStore, actor: str
    ) -> None:
        for i in range(3):
            store.record_audit_event("act", "thing", f"t{i}")
        events = [e for e in store.list_audit_events() if e.object_type == "thing"]
        assert [e.object_id for e in events] == ["t2", "t1", "t0"]
        assert [e.event_id for e in store.list_audit_events(limit=2)] == [
            e.event_id for e in store.list_audit_events()[:2]
        ]
        assert store.list_audit_events(since=events[0].timestamp + 1) == []
        assert events[0] in store.list_audit_events(since=events[0].timestamp)
        assert store.list_audit_events(user_name="nobody") == []
        assert events[0] in store.list_audit_events(user_name=actor)

    def test_with_actor_attributes_mutations(self, store: AuthStore, actor: str) -> None:
        store.with_actor("alice").record_audit_event("act", "thing", "by-alice")
        (event,) = events_for(store, "by-alice")
        assert event.user_name == ("alice" if self.impersonates else actor)

    # -- bad values ------------------------------------------------------------------------
    def test_overlong_token_description_raises_invalid_argument(self, store: AuthStore) -> None:
        store.create_user("alice", Role.EDITOR)
        with pytest.raises(InvalidArgumentError):
            store.create_token("alice", "x" * 501)

    def test_negative_audit_limit_raises_invalid_argument(self, store: AuthStore) -> None:
        with pytest.raises(InvalidArgumentError):
            store.list_audit_events(limit=-1)

    @pytest.mark.parametrize(
        "query", [{"since": 2**70}, {"since": -(2**70)}, {"limit": 2**70}], ids=str
    )
    def test_audit_query_beyond_64_bits_raises_invalid_argument(
        self, store: AuthStore, query: dict[str, int]
    ) -> None:
        with pytest.raises(InvalidArgumentError):
            store.list_audit_events(**query)  # type: ignore[arg-type]

    def test_two_admins_disabling_each_other_at_once_leave_one_active(
        self, store: AuthStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Each update waits after its check, so the two overlap (PostgreSQL's READ COMMITTED
        # let both see the other as active until the admin rows were locked).
        from plinth.store.sql.auth import SqlAuthStore

        audit = SqlAuthStore._audit

        def slow_audit(self: SqlAuthStore, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.3)
            audit(self, *args, **kwargs)

        store.create_user("ann", Role.ADMIN)
        store.create_user("ben", Role.ADMIN)
        for user in store.list_users():
            if user.role is Role.ADMIN and user.name not in ("ann", "ben"):
                store.update_user(user.name, role=Role.EDITOR)
        monkeypatch.setattr(SqlAuthStore, "_audit", slow_audit)
        errors = at_once(*[lambda n=n: store.update_user(n, active=False) for n in ("ann", "ben")])
        assert [type(e) for e in errors] == [ConflictError]  # one disabled, one refused
        assert sum(u.is_active for u in store.list_users() if u.role is Role.ADMIN) == 1
