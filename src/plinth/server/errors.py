"""The one table from error families to HTTP status, and the handlers that use it.

Bodies are ``{"error_code": ..., "message": ..., "details"?: ...}``: MLflow's error JSON,
which the official client turns back into ``MlflowException`` with the same code. Under
``/v2`` they are the Open Inference Protocol's ``{"error": message}``.
"""

from __future__ import annotations

import json
import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from plinth.errors import ERROR_SUBCLASSES, ErrorCode, PlinthError

log = logging.getLogger("plinth.server")

HTTP_STATUS_FOR_CODE: dict[ErrorCode, int] = {
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.INVALID_PARAMETER_VALUE: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: 404,
    ErrorCode.RESOURCE_ALREADY_EXISTS: 400,
    ErrorCode.INVALID_STATE: 400,
    ErrorCode.REQUEST_LIMIT_EXCEEDED: 413,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.NOT_IMPLEMENTED: 501,
}
"""MLflow answers RESOURCE_ALREADY_EXISTS and INVALID_STATE with 400, so we do too: its
client decides retries and error types from the status as well as the code."""

_STATUS_TO_CODE = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.RESOURCE_DOES_NOT_EXIST,
    405: ErrorCode.BAD_REQUEST,
    413: ErrorCode.REQUEST_LIMIT_EXCEEDED,
    415: ErrorCode.BAD_REQUEST,
}


def status_for(exc: PlinthError) -> int:
    """The HTTP status of an error's family."""
    return HTTP_STATUS_FOR_CODE.get(exc.code, 500)


def error_response(
    code: ErrorCode, message: str, status: int | None = None, *, error_type: str | None = None
) -> JSONResponse:
    headers = (
        {"WWW-Authenticate": 'Bearer realm="plinth"'} if code is ErrorCode.UNAUTHENTICATED else None
    )
    body = {"error_code": code.value, "message": _encodable(message)}
    if error_type:
        body["error_type"] = error_type  # MLflow's clients read only the two fields above
    return JSONResponse(body, status_code=status or HTTP_STATUS_FOR_CODE[code], headers=headers)


async def _plinth_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlinthError)
    # The finer class (RunNotFoundError within RESOURCE_DOES_NOT_EXIST), so that the REST
    # store raises what the embedded store raises.
    name = type(exc).__name__
    finer = name if ERROR_SUBCLASSES.get(name) is type(exc) else None
    return error_response(exc.code, exc.message, error_type=finer)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        if err.get("type") == "json_invalid":
            problems.append(f"request body is not valid JSON ({err.get('msg', '')})")
        else:
            problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return error_response(
        ErrorCode.INVALID_PARAMETER_VALUE, "Invalid request: " + "; ".join(problems)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_TO_CODE.get(exc.status_code, ErrorCode.INTERNAL_ERROR)
    if _is_oip(request):
        response = oip_error_response(str(exc.detail), exc.status_code)
    else:
        response = error_response(code, str(exc.detail), exc.status_code)
    response.headers.update(exc.headers or {})  # e.g. a 405's Allow
    return response


def _is_oip(request: Request) -> bool:
    """An Open Inference Protocol path: its clients (KServe's, Triton's) read errors as
    ``{"error": message}``, also on a path or method no route matches."""
    path = request.url.path
    return path == "/v2" or path.startswith("/v2/")


def oip_error_response(
    message: str,
    status: int,
    *,
    details: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The Open Inference Protocol's error body, ``{"error": message}`` (plus details)."""
    body = {"error": _encodable(message), **(details or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def _encodable(message: str) -> str:
    """A message quoting the caller's input may hold an unpaired surrogate, which no JSON
    encoder writes as UTF-8: escape it rather than fail while reporting the error."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


async def _json_error(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        ErrorCode.INVALID_PARAMETER_VALUE, f"Request body is not valid JSON: {exc}"
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    log.exception("Unhandled error %s on %s %s", error_id, request.method, request.url.path)
    message = f"Internal server error (error id {error_id}); the server log has the details."
    if _is_oip(request):
        return oip_error_response(message, 500)
    return error_response(ErrorCode.INTERNAL_ERROR, message)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PlinthError, _plinth_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(json.JSONDecodeError, _json_error)
    app.add_exception_handler(Exception, _unexpected)
