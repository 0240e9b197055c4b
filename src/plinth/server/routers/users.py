"""/api/v1/users and /api/v1/tokens: accounts and API tokens.

Managing them needs ``admin``. Any authenticated user may read ``/users/me`` and list their
own tokens (``GET /tokens?user=<me>``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from plinth.entities import ApiToken, Role, User
from plinth.errors import PermissionDeniedError
from plinth.schemas.auth import TokenCreate, TokenCreated, TokenVerify, UserCreate, UserUpdate
from plinth.server.auth import current_user, require
from plinth.server.deps import get_auth_store
from plinth.store.base import AuthStore

router = APIRouter(prefix="/api/v1", tags=["users"])

Store = Annotated[AuthStore, Depends(get_auth_store)]
ADMIN = [Depends(require(Role.ADMIN))]


def own_or_admin(user: str | None = None, caller: User = Depends(current_user)) -> str | None:
    """The ``user`` query parameter, allowed for admins or when it names the caller."""
    if user != caller.name and not caller.role.allows(Role.ADMIN):
        raise PermissionDeniedError(
            f"User '{caller.name}' may only list their own tokens (?user={caller.name}); "
            "other users' tokens need 'admin'."
        )
    return user


@router.post("/users", status_code=status.HTTP_201_CREATED, dependencies=ADMIN)
def create_user(body: UserCreate, store: Store) -> User:
    return store.create_user(body.name, body.role)


@router.get("/users", dependencies=ADMIN)
def list_users(store: Store) -> list[User]:
    return store.list_users()


@router.get("/users/me")
def get_me(user: Annotated[User, Depends(current_user)]) -> User:
    """The caller, as their token identifies them."""
    return user


@router.get("/users/{name:path}", dependencies=ADMIN)
def get_user(name: str, store: Store) -> User:
    return store.get_user(name)


@router.patch("/users/{name:path}", dependencies=ADMIN)
def update_user(name: str, body: UserUpdate, store: Store) -> User:
    """Change the role, or disable (``active: false``) or re-enable the user."""
    return store.update_user(name, role=body.role, active=body.active)


@router.post("/tokens", status_code=status.HTTP_201_CREATED, dependencies=ADMIN)
def create_token(body: TokenCreate, store: Store) -> TokenCreated:
    """Issue a token; the secret is in this response only (it is stored hashed)."""
    token, secret = store.create_token(body.user_name, body.description)
    return TokenCreated(token=token, secret=secret)


@router.get("/tokens")
def list_tokens(store: Store, user: Annotated[str | None, Depends(own_or_admin)]) -> list[ApiToken]:
    """Active tokens of ``user``, or of everyone (admin only)."""
    return store.list_tokens(user)


@router.delete(
    "/tokens/{token_id:path}", status_code=status.HTTP_204_NO_CONTENT, dependencies=ADMIN
)
def revoke_token(token_id: str, store: Store) -> None:
    store.revoke_token(token_id)


@router.post("/tokens/verify", dependencies=[Depends(require(Role.VIEWER))])
def verify_token(body: TokenVerify, store: Store) -> User | None:
    """The active user owning the token with that secret, or ``null``. Any user may ask:
    data-plane replicas check their callers' tokens here under a service user's token, and
    the answer tells nothing to someone who does not already hold the secret."""
    return store.authenticate(body.secret)
