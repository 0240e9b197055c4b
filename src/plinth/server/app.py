"""``create_app``: the Plinth server (its own API, MLflow's REST API, health)."""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Any

from fastapi import FastAPI

from plinth import __version__
from plinth.artifacts import ArtifactStore, artifact_store_from_uri
from plinth.auth import bootstrap_admin
from plinth.config import Settings
from plinth.registry.package_inspector import ArtifactPackageInspector
from plinth.server import routers
from plinth.server.auth import Authenticator
from plinth.server.errors import install_error_handlers
from plinth.server.routers import inference
from plinth.server.serving import ServingOptions, serving_lifespan
from plinth.store.factory import Stores, open_sql_stores

log = logging.getLogger("plinth.server")

SWITCH_INTERVAL_S = 0.0005


def create_app(
    settings: Settings,
    *,
    stores: Stores | None = None,
    artifact_store: ArtifactStore | None = None,
    auth: bool = True,
    serving: ServingOptions | None = None,
) -> FastAPI:
    """Build the server app.

    Args:
        settings: Where metadata and artifacts live. The server always runs the SQL store;
            an ``http(s)://`` ``PLINTH_URI`` is refused (a server does not proxy a server).
        stores: Stores to serve (tests inject them); default: SQL stores on ``settings``.
        artifact_store: Artifact store behind the proxied artifact API.
        auth: Enforce tokens and roles; ``False`` serves everyone as user ``local`` (admin).
        serving: How endpoints are served (the data plane and the canary controller run for
            the app's lifetime); default ``ServingOptions()``.
    """
    if stores is None:
        stores = open_sql_stores(settings.store_uri, protected_aliases=settings.protected_aliases)
    if artifact_store is None:
        artifact_store = artifact_store_from_uri(settings.artifact_root)
    _inspect_packages_in(artifact_store, stores)
    if auth and bootstrap_admin(stores.auth, settings.admin_token_path):
        # Info, not a warning: `plinth server` says so in its banner (it was printed twice).
        log.info("Created user 'admin'; its token is in %s", settings.admin_token_path)
    app = FastAPI(
        title="Plinth",
        version=__version__,
        description=(
            "Plinth's API; MLflow's tracking REST API is served under /api/2.0/mlflow, "
            "inference under /v2 (Open Inference Protocol) and /endpoints/{name}/invocations."
        ),
        lifespan=serving_lifespan(
            settings=settings,
            stores=stores,
            artifact_store=artifact_store,
            options=serving or ServingOptions(),
        ),
    )
    app.state.settings = settings
    app.state.stores = stores
    app.state.artifact_store = artifact_store
    app.state.authenticator = Authenticator(stores.auth, enabled=auth)
    install_error_handlers(app)
    # First: MLflow's clients make most of the calls, and a miss costs one dict lookup.
    app.router.routes.append(routers.MLFLOW_API)
    for router in routers.ALL:
        app.include_router(router)
    app.include_router(inference.router)
    app.add_middleware(inference.InferenceFastPath)
    _document_mlflow_api(app)
    return app


def _document_mlflow_api(app: FastAPI) -> None:
    """Add MLflow's endpoints to the OpenAPI schema FastAPI builds from Plinth's routers
    (they are served by one table, which FastAPI does not see)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema["paths"].update(routers.MLFLOW_API.openapi_paths())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _inspect_packages_in(artifact_store: ArtifactStore, stores: Stores) -> None:
    """Let the registry's ``signature`` gate read packages through this server's artifact
    store. Attached after construction: the inspector resolves ``runs:/`` sources through the
    tracking store, which exists only once the stores do. An inspector already set is kept."""
    stores.registry.attach_package_inspector(
        ArtifactPackageInspector(artifact_store, stores.tracking, stores.registry)
    )


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` with several workers: settings from the environment,
    which ``plinth server`` sets before it starts them."""
    settings = Settings.from_env(os.environ)
    app = create_app(settings, auth=os.environ.get("PLINTH_SERVER_AUTH", "1") != "0")
    tune_gc_for_serving()
    return app


def tune_gc_for_serving() -> None:
    """Make the garbage collector cheap and the GIL hand-over quick for a long-running
    server process.

    Every request allocates thousands of short-lived objects (rows, dataclasses, JSON), and
    CPython's default threshold (700) then runs a collection every few requests: profiling
    the MLflow workload showed over 2 s of 10 in the collector. Objects alive after start-up
    (the app, routes, pools) are frozen out of collections; young-generation collections
    run 70x less often. Reference cycles are still collected, just in larger batches.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    # Background threads (the prediction log's flush, stats reports) hold the GIL for up
    # to the switch interval before the event loop gets it back: 5 ms by default, which
    # showed as p99 latency. 0.5 ms bounds that wait; the extra switches cost little.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
