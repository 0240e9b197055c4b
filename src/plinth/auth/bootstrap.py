"""The first start of a server over an empty store creates user ``admin`` and its token."""

from __future__ import annotations

import os
from pathlib import Path

from plinth.entities import Role
from plinth.errors import AlreadyExistsError
from plinth.store.base import AuthStore

ADMIN_USER = "admin"


def write_secret_file(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` readable by its owner only (mode 0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # Create with 0600 from the start: a chmod after writing would leave a window.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.replace(tmp, path)


def bootstrap_admin(auth: AuthStore, token_path: Path) -> bool:
    """Create ``admin`` and write its token to ``token_path`` if the store has no users.

    Returns True when it created the admin. Safe when several workers start at once: only
    the one whose insert wins writes the token file.
    """
    if auth.list_users():
        return False
    try:
        auth.create_user(ADMIN_USER, Role.ADMIN)
    except AlreadyExistsError:
        return False
    _token, secret = auth.create_token(ADMIN_USER, description="created on first server start")
    write_secret_file(token_path, secret)
    return True
