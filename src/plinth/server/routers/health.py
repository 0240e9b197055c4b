"""Liveness: ``/health`` answers without authentication, for load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from plinth import __version__

router = APIRouter(tags=["health"])

_BODY = {"status": "ok", "version": __version__}


@router.get("/health")
async def health() -> JSONResponse:
    # Async and a ready response: polled every few seconds by load balancers, it should
    # cost no thread hand-over and no response-model validation.
    return JSONResponse(_BODY)
