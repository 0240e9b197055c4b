"""Every router the server mounts, in one list so ``create_app`` stays a loop."""

from fastapi import APIRouter

from plinth.server.mlflow import artifacts as mlflow_artifacts
from plinth.server.mlflow import logged_models as mlflow_logged_models
from plinth.server.mlflow import registry as mlflow_registry
from plinth.server.mlflow import tracking as mlflow_tracking
from plinth.server.mlflow.rpc import RpcRoute
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
    models.reads,
    promotions.router,
    endpoints.router,
    audit.router,
]

MLFLOW_API = RpcRoute(
    routes
    for module in (mlflow_tracking, mlflow_artifacts, mlflow_registry, mlflow_logged_models)
    for routes in module.routes
)
"""MLflow's tracking, artifact and registry REST API, as one route (see ``rpc``)."""
