"""Plinth: a self-hosted production ML platform.

The SDK surface. Tracking and registry names follow MLflow's, so habits and code carry over::

    import plinth

    plinth.set_experiment("churn")
    with plinth.start_run(run_name="gbm"):
        plinth.log_params({"max_depth": 3})
        plinth.log_metric("auc", 0.91)
        info = plinth.log_model(model, input_example=x_train.head())
    version = plinth.register_model(info.model_uri, "churn")
    request = plinth.request_promotion("churn", version.version, stage="Production")
    plinth.approve(request.request_id, comment="beats v1")   # another user, with auth on
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
from plinth.entities.registry import (
    CheckResult,
    ModelEvent,
    ModelVersion,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    Stage,
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
from plinth.lineage import Lineage, lineage
from plinth.models import ModelInfo, load_model, log_model
from plinth.registry.fluent import (
    approve,
    delete_registered_model_alias,
    get_model_version,
    get_model_version_by_alias,
    get_registered_model,
    model_history,
    register_model,
    reject,
    request_promotion,
    search_model_versions,
    search_registered_models,
    set_registered_model_alias,
    transition_model_version_stage,
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
    "CheckResult",
    "Client",
    "Comment",
    "ConflictError",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "InvalidArgumentError",
    "Lineage",
    "Metric",
    "ModelEvent",
    "ModelInfo",
    "ModelVersion",
    "NotFoundError",
    "Param",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlinthError",
    "PromotionRequest",
    "PromotionStatus",
    "RegisteredModel",
    "Role",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "RunTag",
    "Settings",
    "Stage",
    "UnauthenticatedError",
    "User",
    "ViewType",
    "__version__",
    "active_run",
    "add_comment",
    "approve",
    "autolog",
    "delete_registered_model_alias",
    "download_artifacts",
    "end_run",
    "get_client",
    "get_metric_history",
    "get_model_version",
    "get_model_version_by_alias",
    "get_registered_model",
    "get_run",
    "get_tracking_uri",
    "lineage",
    "list_artifacts",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_config",
    "log_dict",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "model_history",
    "register_model",
    "reject",
    "request_promotion",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "set_experiment",
    "set_registered_model_alias",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "transition_model_version_stage",
]
