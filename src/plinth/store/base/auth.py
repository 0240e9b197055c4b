"""The auth store contract: users, API tokens, the audit log (see ``store.base``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

from plinth.entities import (
    ApiToken,
    AuditEvent,
    Role,
    User,
)


class AuthStore(ABC):
    """Users, API tokens and the audit log."""

    def with_actor(self, actor: str) -> Self:
        """This store attributing mutations to ``actor``. Remote stores act as their token's
        user, so the default returns the store itself."""
        return self

    @abstractmethod
    def create_user(self, name: str, role: Role) -> User:
        """Raises ``InvalidArgumentError`` (bad name) or ``AlreadyExistsError``."""

    @abstractmethod
    def get_user(self, name: str) -> User:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def list_users(self) -> list[User]:
        """All users, by name."""

    @abstractmethod
    def update_user(
        self, name: str, *, role: Role | None = None, active: bool | None = None
    ) -> User:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def create_token(self, user_name: str, description: str | None = None) -> tuple[ApiToken, str]:
        """Issue a token; returns its record and the secret, which is shown only once.

        Raises ``NotFoundError`` for an unknown user."""

    @abstractmethod
    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        """Active tokens (of one user, or of all)."""

    @abstractmethod
    def revoke_token(self, token_id: str) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def authenticate(self, secret: str) -> User | None:
        """The active user owning an active token with that secret, or ``None``."""

    @abstractmethod
    def record_audit_event(
        self,
        action: str,
        object_type: str,
        object_id: str,
        details: dict[str, object] | None = None,
    ) -> None:
        """Record a mutation that happened outside the metadata store (an artifact upload)
        as the store's actor."""

    @abstractmethod
    def list_audit_events(
        self, *, since: int | None = None, user_name: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        """Audit events newest first, optionally since an epoch-ms time and for one user."""
