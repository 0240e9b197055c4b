"""The ``plinth`` command line: ``cli/main.py`` plus one module per command group.

Commands share one :class:`CliState` per invocation: the resolved ``Settings`` and the
``Client`` built from them on first use, so ``--help``, ``--version`` and ``plinth server``
never open a store they do not need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from plinth.client import Client
from plinth.config import Settings


@dataclass(slots=True)
class CliState:
    """What ``main`` resolved for this invocation; commands read it from ``ctx.obj``."""

    settings: Settings
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.settings)
        return self._client


def state_of(ctx: typer.Context) -> CliState:
    """The invocation's state, set by the root callback in ``cli/main.py``."""
    state = ctx.find_root().obj
    if not isinstance(state, CliState):
        raise RuntimeError("plinth commands must run under the root 'plinth' command")
    return state


def client_of(ctx: typer.Context) -> Client:
    """The invocation's ``Client`` (built once, on first use)."""
    return state_of(ctx).client
