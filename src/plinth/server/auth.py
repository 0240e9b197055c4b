"""Who is calling: bearer tokens or HTTP Basic (token as password), and role checks.

Tokens are looked up by hash in the auth store; a short cache keeps that lookup off the hot
path of logging calls (a revoked token stops working within ``TOKEN_CACHE_SECONDS``).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Depends, Request

from plinth.entities import LOCAL_USER, Role, User
from plinth.entities.auth import RESERVED_USER_NAMES
from plinth.errors import PermissionDeniedError, UnauthenticatedError
from plinth.store.base import AuthStore

TOKEN_CACHE_SECONDS = 5.0
_LOCAL = User(name=LOCAL_USER, role=Role.ADMIN, created_at=0)


@dataclass(slots=True)
class Authenticator:
    """Resolves request credentials to a user; with ``enabled=False`` everyone is ``local``."""

    auth_store: AuthStore
    enabled: bool = True
    _cache: dict[str, tuple[float, User | None]] = field(default_factory=dict)

    def user_for(self, authorization: str | None) -> User:
        if not self.enabled:
            return _LOCAL
        secret = _secret_from_header(authorization)
        if secret is None:
            raise UnauthenticatedError(
                "Authentication required: send 'Authorization: Bearer <token>' (PLINTH_TOKEN or "
                "MLFLOW_TRACKING_TOKEN), or HTTP Basic with the token as password."
            )
        user = self._lookup(secret)
        if user is None:
            raise UnauthenticatedError(
                "The API token is not valid (unknown, revoked or its user is disabled)."
            )
        if user.name.lower() in RESERVED_USER_NAMES:
            # An account created before these names were reserved: the registry exempts
            # 'local' from four eyes and attributes the canary's decisions to
            # 'plinth-canary', so its tokens must not act under that name.
            raise PermissionDeniedError(
                f"User {user.name!r} has a name reserved for the platform; an admin must "
                "create another account for whoever uses it (plinth users create NAME) and "
                f"disable this one (plinth users disable {user.name})."
            )
        return user

    def _lookup(self, secret: str) -> User | None:
        now = time.monotonic()
        hit = self._cache.get(secret)
        if hit is not None and now - hit[0] < TOKEN_CACHE_SECONDS:
            return hit[1]
        user = self.auth_store.authenticate(secret)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[secret] = (now, user)
        return user


def _secret_from_header(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise UnauthenticatedError("Malformed HTTP Basic credentials.") from None
        _user, colon, password = decoded.partition(":")
        if not colon:
            raise UnauthenticatedError(
                "Malformed HTTP Basic credentials: expected 'user:token' (any user name, the "
                "API token as the password)."
            )
        return password or None
    return None


async def current_user(request: Request) -> User:
    """FastAPI dependency: the authenticated user of this request (memoised per request).

    Async on purpose (no thread-pool hop per request): a token is looked up in the database
    at most once per ``TOKEN_CACHE_SECONDS``, an indexed read of well under a millisecond.
    """
    user: User | None = getattr(request.state, "user", None)
    if user is None:
        authenticator: Authenticator = request.app.state.authenticator
        user = authenticator.user_for(request.headers.get("authorization"))
        request.state.user = user
    return user


def require(role: Role) -> Callable[[User], Awaitable[User]]:
    """Dependency factory: the current user, who must hold at least ``role``."""

    async def check(user: User = Depends(current_user)) -> User:
        check_role(user, role)
        return user

    return check


def check_role(user: User, role: Role) -> None:
    """``PermissionDeniedError`` unless ``user`` holds at least ``role``."""
    if not user.role.allows(role):
        raise PermissionDeniedError(
            f"User '{user.name}' has role '{user.role}'; this action needs '{role}' or higher."
        )


def role_for_method(method: str) -> Role:
    """Reads need ``viewer``; anything that changes state needs ``editor``."""
    return Role.VIEWER if method in ("GET", "HEAD", "OPTIONS") else Role.EDITOR


async def require_for_method(request: Request, user: User = Depends(current_user)) -> User:
    """Dependency for routers whose verbs map to roles (GET reads, the rest writes).

    MLflow's search endpoints are POSTs that only read; they declare ``require(Role.VIEWER)``
    on their own route instead of using this.
    """
    needed = role_for_method(request.method)
    if not user.role.allows(needed):
        raise PermissionDeniedError(
            f"User '{user.name}' has role '{user.role}' and may only read; writing needs "
            f"'{needed}' or higher."
        )
    return user


def run_owner(user: User, claimed: str | None) -> str:
    """Runs belong to the authenticated caller. Clients claim the OS login as ``user_id``
    (MLflow's and Plinth's SDK), which proves nothing, so only the no-auth ``local`` user
    may pass a claim on (that very user: an account named ``local`` left from before the
    name was reserved is not it)."""
    if user == _LOCAL and claimed:
        return claimed
    return user.name
