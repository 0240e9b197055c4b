"""Serving: endpoints with canary / A-B / shadow routes, the inference data plane, the
prediction log, SLA metrics, batch and stream inference.

The SDK (``plinth.serving.create_endpoint``, ``start_canary``, ``log_feedback``,
``predictions``, ``batch_predict`` ...) works embedded and against a server, like the rest
of ``plinth``. Names load lazily (PEP 562): importing a serving module (a batch worker, the
data plane) does not pay for scipy and the SDK's other imports until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plinth.serving.batch import BatchResult, batch_predict
    from plinth.serving.deployments import (
        advance_canary,
        create_endpoint,
        delete_endpoint,
        endpoint_events,
        get_endpoint,
        health,
        list_endpoints,
        promote,
        remove_shadow,
        rollback,
        set_shadow,
        set_slo,
        set_traffic,
        start_ab,
        start_canary,
    )
    from plinth.serving.outcomes import ab_report, feedback, log_feedback, predictions

_EXPORTS = {
    "BatchResult": "plinth.serving.batch",
    "ab_report": "plinth.serving.outcomes",
    "advance_canary": "plinth.serving.deployments",
    "batch_predict": "plinth.serving.batch",
    "create_endpoint": "plinth.serving.deployments",
    "delete_endpoint": "plinth.serving.deployments",
    "endpoint_events": "plinth.serving.deployments",
    "feedback": "plinth.serving.outcomes",
    "get_endpoint": "plinth.serving.deployments",
    "health": "plinth.serving.deployments",
    "list_endpoints": "plinth.serving.deployments",
    "log_feedback": "plinth.serving.outcomes",
    "predictions": "plinth.serving.outcomes",
    "promote": "plinth.serving.deployments",
    "remove_shadow": "plinth.serving.deployments",
    "rollback": "plinth.serving.deployments",
    "set_shadow": "plinth.serving.deployments",
    "set_slo": "plinth.serving.deployments",
    "set_traffic": "plinth.serving.deployments",
    "start_ab": "plinth.serving.deployments",
    "start_canary": "plinth.serving.deployments",
}

__all__ = [
    "BatchResult",
    "ab_report",
    "advance_canary",
    "batch_predict",
    "create_endpoint",
    "delete_endpoint",
    "endpoint_events",
    "feedback",
    "get_endpoint",
    "health",
    "list_endpoints",
    "log_feedback",
    "predictions",
    "promote",
    "remove_shadow",
    "rollback",
    "set_shadow",
    "set_slo",
    "set_traffic",
    "start_ab",
    "start_canary",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plinth.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
