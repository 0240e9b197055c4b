"""Every router the server mounts, in one list so ``create_app`` stays a loop."""

from fastapi import APIRouter

from plinth.server.mlflow import artifacts as mlflow_artifacts
from plinth.server.mlflow import logged_models as mlflow_logged_models
from plinth.server.mlflow import registry as mlflow_registry
from plinth.server.mlflow import tracking as mlflow_tracking
from plinth.server.routers import (
    audit,
    endpoints,
    experiments,
    health,
    models,
    promotions,
    runs,
    users,
)

ALL: list[APIRouter] = [
    health.router,
    experiments.router,
    runs.router,
    users.router,
    models.router,
    promotions.router,
    endpoints.router,
    audit.router,
    mlflow_tracking.router,
    mlflow_artifacts.router,
    mlflow_registry.router,
    mlflow_logged_models.router,
]
