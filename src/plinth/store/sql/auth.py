"""Users, API tokens and the audit log on SQL."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plinth.entities import ApiToken, AuditEvent, Role, User, now_ms
from plinth.entities.auth import RESERVED_USER_NAMES
from plinth.entities.validation import validate_text, validate_user_name
from plinth.errors import AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError
from plinth.store.base import AuthStore
from plinth.store.sql.models import ApiTokenRow, AuditEventRow, UserRow
from plinth.store.sql.session import SqlStoreBase

TOKEN_PREFIX = "plt_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlAuthStore(SqlStoreBase, AuthStore):
    def create_user(self, name: str, role: Role) -> User:
        validate_user_name(name)
        _check_not_reserved(name)
        role = _role(role)
        try:
            with self._write() as s:
                row = UserRow(name=name, role=role, created_at=now_ms(), is_active=True)
                s.add(row)
                s.flush()
                self._audit(s, "create_user", "user", name, {"role": role})
                return _user(row)
        except IntegrityError as exc:
            raise AlreadyExistsError(f"User '{name}' already exists.") from exc

    def get_user(self, name: str) -> User:
        with self._read() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise NotFoundError(f"User '{name}' does not exist.")
            return _user(row)

    def list_users(self) -> list[User]:
        with self._read() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def update_user(
        self, name: str, *, role: Role | None = None, active: bool | None = None
    ) -> User:
        with self._write() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise NotFoundError(f"User '{name}' does not exist.")
            new_role = row.role if role is None else _role(role)
            new_active = row.is_active if active is None else active
            if (
                row.role == Role.ADMIN
                and row.is_active
                and not (new_role == Role.ADMIN and new_active)
            ):
                # The active admins' rows are locked (PostgreSQL; SQLite writes one at a
                # time anyway): two admins disabling each other at once must not both pass.
                admins = s.scalars(
                    select(UserRow.name)
                    .where(UserRow.role == Role.ADMIN, UserRow.is_active)
                    .with_for_update()
                ).all()
                if not [admin for admin in admins if admin != name]:
                    raise ConflictError(
                        f"User '{name}' is the last active admin; make another user admin "
                        "first, or nobody could manage users and tokens any more."
                    )
            row.role, row.is_active = new_role, new_active
            self._audit(s, "update_user", "user", name, {"role": role, "active": active})
            return _user(row)

    def create_token(self, user_name: str, description: str | None = None) -> tuple[ApiToken, str]:
        if description:
            validate_text("Token description", description, 500)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as s:
            if s.get(UserRow, user_name) is None:
                raise NotFoundError(f"User '{user_name}' does not exist.")
            row = ApiTokenRow(
                token_id=uuid.uuid4().hex,
                user_name=user_name,
                token_hash=hash_token(secret),
                description=description,
                created_at=now_ms(),
                revoked=False,
            )
            s.add(row)
            self._audit(s, "create_token", "token", row.token_id, {"user": user_name})
            return _token(row), secret

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        stmt = select(ApiTokenRow).where(ApiTokenRow.revoked.is_(False))
        if user_name:
            stmt = stmt.where(ApiTokenRow.user_name == user_name)
        with self._read() as s:
            return [_token(r) for r in s.scalars(stmt.order_by(ApiTokenRow.created_at))]

    def revoke_token(self, token_id: str) -> None:
        with self._write() as s:
            row = s.get(ApiTokenRow, token_id)
            if row is None:
                raise NotFoundError(f"Token '{token_id}' does not exist.")
            row.revoked = True
            self._audit(s, "revoke_token", "token", token_id, {"user": row.user_name})

    def authenticate(self, secret: str) -> User | None:
        with self._read() as s:
            row = s.execute(
                select(UserRow)
                .join(ApiTokenRow, ApiTokenRow.user_name == UserRow.name)
                .where(ApiTokenRow.token_hash == hash_token(secret))
                .where(ApiTokenRow.revoked.is_(False))
                .where(UserRow.is_active.is_(True))
            ).scalar_one_or_none()
            return None if row is None else _user(row)

    def has_users(self) -> bool:
        with self._read() as s:
            return s.scalars(select(UserRow.name).limit(1)).first() is not None

    def record_audit_event(
        self,
        action: str,
        object_type: str,
        object_id: str,
        details: dict[str, object] | None = None,
    ) -> None:
        with self._write() as s:
            self._audit(s, action, object_type, object_id, details)

    def list_audit_events(
        self, *, since: int | None = None, user_name: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit < 2**31:
            raise InvalidArgumentError(
                f"limit must be an integer between 1 and {2**31 - 1}, got {limit!r}."
            )
        if since is not None and (
            isinstance(since, bool) or not isinstance(since, int) or not -(2**63) <= since < 2**63
        ):
            raise InvalidArgumentError(f"since must be epoch milliseconds, got {since!r}.")
        stmt = select(AuditEventRow).order_by(AuditEventRow.event_id.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(AuditEventRow.timestamp >= since)
        if user_name:
            stmt = stmt.where(AuditEventRow.user_name == user_name)
        with self._read() as s:
            return [_audit_event(r) for r in s.scalars(stmt)]


def _role(role: object) -> Role:
    try:
        return Role(str(role))
    except ValueError:
        raise InvalidArgumentError(
            f"Unknown role {role!r}; use one of: " + ", ".join(r.value for r in Role)
        ) from None


def _user(row: UserRow) -> User:
    return User(
        name=row.name, role=Role(row.role), created_at=row.created_at, is_active=row.is_active
    )


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        token_id=row.token_id,
        user_name=row.user_name,
        created_at=row.created_at,
        description=row.description,
    )


def _audit_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        event_id=row.event_id,
        timestamp=row.timestamp,
        user_name=row.user_name,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        details=row.details,
    )


def _check_not_reserved(name: str) -> None:
    """``local`` is who embedded mode and ``--no-auth`` run as (trusted with run owners and
    exempt from four eyes); ``plinth-canary`` is the serving controller. An account under
    either name would borrow that trust, or pass for the platform in the history."""
    if name.lower() in RESERVED_USER_NAMES:
        reserved = ", ".join(sorted(RESERVED_USER_NAMES))
        raise InvalidArgumentError(
            f"User name {name!r} is reserved ({reserved}: the platform acts under these "
            "names itself); choose another name."
        )
