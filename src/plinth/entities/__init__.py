"""Frozen domain records shared by every layer."""

from plinth.entities.auth import LOCAL_USER, ApiToken, AuditEvent, Role, User
from plinth.entities.common import Page, now_ms
from plinth.entities.tracking import (
    DEFAULT_EXPERIMENT_ID,
    Comment,
    Dataset,
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "LOCAL_USER",
    "ApiToken",
    "AuditEvent",
    "Comment",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "Page",
    "Param",
    "Role",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunStatus",
    "RunTag",
    "User",
    "ViewType",
    "now_ms",
]
