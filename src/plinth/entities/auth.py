"""Users, roles, API tokens and audit records."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Roles in increasing order of power: each role may do everything the ones below may."""

    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


LOCAL_USER = "local"
"""The single user of embedded mode and of ``plinth server --no-auth`` (an admin)."""
CANARY_USER = "plinth-canary"
"""The serving controller, which approves the registry moves of a canary's completion."""
RESERVED_USER_NAMES = frozenset({LOCAL_USER, CANARY_USER})
"""Names the platform acts under itself; no account may take one (compared ignoring case)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    role: Role
    created_at: int
    is_active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    token_id: str
    user_name: str
    created_at: int
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    event_id: int
    timestamp: int
    user_name: str
    action: str
    object_type: str
    object_id: str
    details: str | None = None
