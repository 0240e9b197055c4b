"""``AuthStore`` over a Plinth server's /api/v1 (users, tokens, audit; admin token needed)."""

from __future__ import annotations

import httpx

from plinth.entities import ApiToken, AuditEvent, Role, User
from plinth.schemas.auth import (
    AuditEventCreate,
    AuditQuery,
    TokenCreate,
    TokenCreated,
    TokenVerify,
    UserCreate,
    UserUpdate,
)
from plinth.schemas.common import decode
from plinth.store.base import AuthStore
from plinth.store.rest.client import RestClient, RetryPolicy, build, path_segment

_V1 = "/api/v1"


def _user(name: str) -> str:
    return f"{_V1}/users/{path_segment(name)}"


class RestAuthStore(AuthStore):
    """Users, tokens and the audit log of a remote server, acting as the token's user."""

    def __init__(self, http: httpx.Client, *, retry: RetryPolicy | None = None) -> None:
        self._api = RestClient(http, retry=retry)

    def create_user(self, name: str, role: Role) -> User:
        body = build(UserCreate, name=name, role=role)
        return decode(User, self._api.call("POST", f"{_V1}/users", body=body))

    def get_user(self, name: str) -> User:
        return decode(User, self._api.call("GET", _user(name)))

    def list_users(self) -> list[User]:
        return decode(list[User], self._api.call("GET", f"{_V1}/users"))

    def update_user(
        self, name: str, *, role: Role | None = None, active: bool | None = None
    ) -> User:
        body = build(UserUpdate, role=role, active=active)
        return decode(User, self._api.call("PATCH", _user(name), body=body))

    def create_token(self, user_name: str, description: str | None = None) -> tuple[ApiToken, str]:
        body = build(TokenCreate, user_name=user_name, description=description)
        created = decode(TokenCreated, self._api.call("POST", f"{_V1}/tokens", body=body))
        return created.token, created.secret

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        tokens = self._api.call("GET", f"{_V1}/tokens", params={"user": user_name})
        return decode(list[ApiToken], tokens)

    def revoke_token(self, token_id: str) -> None:
        self._api.call("DELETE", f"{_V1}/tokens/{path_segment(token_id)}")

    def authenticate(self, secret: str) -> User | None:
        body = build(TokenVerify, secret=secret)
        user = self._api.call("POST", f"{_V1}/tokens/verify", body=body)
        return None if user is None else decode(User, user)

    def record_audit_event(
        self,
        action: str,
        object_type: str,
        object_id: str,
        details: dict[str, object] | None = None,
    ) -> None:
        body = build(
            AuditEventCreate,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details,
        )
        self._api.call("POST", f"{_V1}/audit", body=body)

    def list_audit_events(
        self, *, since: int | None = None, user_name: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        query = build(AuditQuery, since=since, user=user_name, limit=limit)
        return decode(list[AuditEvent], self._api.call("GET", f"{_V1}/audit", params=query))
