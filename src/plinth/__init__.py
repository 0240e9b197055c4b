"""Plinth: a self-hosted production ML platform.

The SDK surface. Tracking names follow MLflow's, so habits and code carry over::

    import plinth

    plinth.set_experiment("churn")
    with plinth.start_run(run_name="gbm"):
        plinth.log_params({"max_depth": 3})
        plinth.log_metric("auc", 0.91)
"""

from plinth.client import Client
from plinth.config import Settings
from plinth.entities import (
    Comment,
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Role,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    User,
    ViewType,
)
from plinth.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PlinthError,
    UnauthenticatedError,
)
from plinth.tracking.autolog import autolog
from plinth.tracking.fluent import (
    ActiveRun,
    active_run,
    add_comment,
    download_artifacts,
    end_run,
    get_client,
    get_metric_history,
    get_run,
    get_tracking_uri,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_config,
    log_dict,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "AlreadyExistsError",
    "BackendUnavailableError",
    "Client",
    "Comment",
    "ConflictError",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "InvalidArgumentError",
    "Metric",
    "NotFoundError",
    "Param",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlinthError",
    "Role",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "RunTag",
    "Settings",
    "UnauthenticatedError",
    "User",
    "ViewType",
    "__version__",
    "active_run",
    "add_comment",
    "autolog",
    "download_artifacts",
    "end_run",
    "get_client",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "list_artifacts",
    "log_artifact",
    "log_artifacts",
    "log_config",
    "log_dict",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
