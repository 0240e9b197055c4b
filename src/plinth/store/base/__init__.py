"""Store contracts, one ABC per area. The SQL store and the REST store implement them.

Docstrings state the error contract; implementations do not repeat it. Conveniences
(``log_metric``, ``log_param``, ``set_tag``) derive from the minimal abstract surface
(``log_batch``), as MLflow's AbstractStore does.
"""

from plinth.store.base.auth import AuthStore
from plinth.store.base.registry import RegistryStore
from plinth.store.base.tracking import (
    SEARCH_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_LIMIT,
    MetricPoint,
    TrackingStore,
)

__all__ = [
    "SEARCH_MAX_RESULTS_DEFAULT",
    "SEARCH_MAX_RESULTS_LIMIT",
    "AuthStore",
    "MetricPoint",
    "RegistryStore",
    "TrackingStore",
]
