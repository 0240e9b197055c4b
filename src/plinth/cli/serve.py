"""``plinth serve``: the inference data plane alone, a stateless replica.

It reads endpoints from the store that PLINTH_URI names (a database, or a ``plinth server``
over http) and applies route changes within seconds; run as many as you like behind any
load balancer. ``plinth server`` serves the same routes next to the control-plane API.
"""

from __future__ import annotations

import os

import typer

from plinth.cli import state_of
from plinth.cli.output import key_value_table, stdout

SERVE_FACTORY = "plinth.server.serving:serving_app_from_env"


def serve(
    ctx: typer.Context,
    endpoints: str | None = typer.Option(
        None, "--endpoints", help="Serve only these endpoints (comma-separated); default all."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; 0.0.0.0 for all."),
    port: int = typer.Option(8080, "--port", "-p", min=1, max=65_535),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Answer requests without a token."),
    no_control: bool = typer.Option(
        False, "--no-control", help="Do not run the canary controller and SLO checks here."
    ),
    max_batch_rows: int = typer.Option(256, "--max-batch-rows", min=1, help="Micro-batch size."),
    max_wait_ms: float = typer.Option(
        0.0, "--max-wait-ms", min=0.0, help="Hold a micro-batch open this long (0: adaptive)."
    ),
    no_prediction_log: bool = typer.Option(
        False, "--no-prediction-log", help="Do not log predictions."
    ),
) -> None:
    """Serve endpoints: Open Inference Protocol v2 (/v2), MLflow scoring
    (/endpoints/NAME/invocations), Prometheus /metrics."""
    from plinth.client import Client
    from plinth.server.serving import ServingOptions, create_serving_app, options_to_env
    from plinth.serving.batcher import BatchingConfig
    from plinth.serving.dataplane import DataPlaneConfig

    settings = state_of(ctx).settings
    names = tuple(n.strip() for n in endpoints.split(",") if n.strip()) if endpoints else None
    options = ServingOptions(
        dataplane=DataPlaneConfig(
            endpoints=names,
            batching=BatchingConfig(max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms),
        ),
        control=not no_control,
        log_predictions=not no_prediction_log,
    )
    url = f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"
    stdout().print(
        key_value_table(
            [
                ("Plinth data plane", url),
                ("Endpoints", ", ".join(names) if names else "all"),
                ("Store", settings.store_uri),
                ("Workers", workers),
                ("Auth", "off" if no_auth else "tokens required"),
            ]
        )
    )
    import uvicorn

    if workers == 1:
        from plinth.server.app import tune_gc_for_serving

        app = create_serving_app(Client(settings), options=options, auth=not no_auth)
        tune_gc_for_serving()
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    from plinth.cli.server import WORKER_STARTUP_S, worker_environment
    from plinth.serving.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    os.environ.update(worker_environment(settings, auth=not no_auth))
    os.environ.update(options_to_env(options, auth=not no_auth))
    os.environ[MULTIPROC_ENV] = str(prepare_multiprocess_dir())
    uvicorn.run(
        SERVE_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_worker_healthcheck=WORKER_STARTUP_S,
    )
