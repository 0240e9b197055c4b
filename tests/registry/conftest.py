"""Registry SDK tests run on the ``tracking`` fixture (tests/conftest.py): embedded and
against a live server, where the four-eyes rule needs a second user to approve."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import pytest

import plinth
from plinth.client import Client
from plinth.config import Settings
from plinth.entities import Role

Switch = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def as_approver(tracking: Settings) -> Switch:
    """A context manager in which the fluent API acts as another user, role approver.

    Embedded there is only the user ``local``, who may approve their own requests, so it
    changes nothing there."""
    if not tracking.is_remote:
        return nullcontext
    admin = Client(tracking)
    admin.create_user("carol", Role.APPROVER)
    _token, secret = admin.create_token("carol")
    approver = tracking.model_copy(update={"token": secret})

    @contextmanager
    def switch() -> Iterator[None]:
        plinth.set_tracking_uri(settings=approver)
        try:
            yield
        finally:
            plinth.set_tracking_uri(settings=tracking)

    return switch


@pytest.fixture
def model_run(tracking: Settings) -> Callable[..., str]:
    """Builds a finished run with metrics and a ``model/`` artifact; returns its id."""

    def make(*, val_auc: float = 0.8, name: str = "train") -> str:
        with plinth.start_run(run_name=name, log_environment=False) as run:
            plinth.log_params({"max_depth": 3})
            plinth.log_metric("val_auc", val_auc)
            plinth.log_text("flavors: {}\n", "model/MLmodel")
        return run.run_id

    return make
