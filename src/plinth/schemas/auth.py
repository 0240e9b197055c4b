"""Wire models of /api/v1/users, /api/v1/tokens and /api/v1/audit."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plinth.entities import ApiToken, Role
from plinth.schemas.common import Wire


class UserCreate(Wire):
    name: str
    role: Role


class UserUpdate(Wire):
    role: Role | None = None
    active: bool | None = None


class TokenCreate(Wire):
    user_name: str
    description: str | None = None


class TokenCreated(Wire):
    """The new token's record and its secret, which is never shown again."""

    token: ApiToken
    secret: str


class TokenVerify(Wire):
    secret: str


class AuditEventCreate(Wire):
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any] | None = None


class AuditQuery(Wire):
    """Query of ``GET /api/v1/audit``."""

    since: int | None = Field(default=None, description="Epoch ms; events at or after it.")
    user: str | None = Field(default=None, description="Only this user's events.")
    limit: int = 1000
