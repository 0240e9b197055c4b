"""The one exception hierarchy of Plinth.

Every error the platform raises on purpose is a ``PlinthError``. Each family carries an
``ErrorCode`` that the server maps to an HTTP status (``server/errors.py``) and the REST
store maps back to the same class, so callers see the same types embedded and remote::

    PlinthError
    ├── InvalidArgumentError          INVALID_PARAMETER_VALUE   400
    │   └── UnsupportedMediaTypeError UNSUPPORTED_MEDIA_TYPE    415
    ├── UnauthenticatedError          UNAUTHENTICATED           401
    ├── PermissionDeniedError         PERMISSION_DENIED         403
    ├── NotFoundError                 RESOURCE_DOES_NOT_EXIST   404
    ├── AlreadyExistsError            RESOURCE_ALREADY_EXISTS   400 (as MLflow)
    ├── ConflictError                 INVALID_STATE             400 (as MLflow)
    ├── PayloadTooLargeError          REQUEST_LIMIT_EXCEEDED    413
    └── BackendUnavailableError       TEMPORARILY_UNAVAILABLE   503

The codes are MLflow's (``databricks.ErrorCode`` in mlflow's protos) so the official
``mlflow`` client understands them unchanged; the one exception is UNSUPPORTED_MEDIA_TYPE,
which only the scoring endpoints raise (MLflow's scoring server answers 415 without a code).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
    RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
    INVALID_STATE = "INVALID_STATE"
    REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"


class PlinthError(Exception):
    """Root of every error Plinth raises on purpose."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(PlinthError):
    """A caller passed a value that can never be valid; the message names the field."""

    code = ErrorCode.INVALID_PARAMETER_VALUE


class UnsupportedMediaTypeError(InvalidArgumentError):
    """A request body in a content type the endpoint does not read; the message lists the
    accepted ones."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class UnauthenticatedError(PlinthError):
    """No credentials, or credentials that match no active token."""

    code = ErrorCode.UNAUTHENTICATED


class PermissionDeniedError(PlinthError):
    """The caller is known but their role does not allow the action."""

    code = ErrorCode.PERMISSION_DENIED


class NotFoundError(PlinthError):
    """The named object does not exist (or is not visible to the caller)."""

    code = ErrorCode.RESOURCE_DOES_NOT_EXIST


class AlreadyExistsError(PlinthError):
    """An object with that name or key exists already."""

    code = ErrorCode.RESOURCE_ALREADY_EXISTS


class ConflictError(PlinthError):
    """The object is in a state that forbids the action (finished run, deleted experiment)."""

    code = ErrorCode.INVALID_STATE


class PayloadTooLargeError(PlinthError):
    """A request body or batch exceeds a documented limit."""

    code = ErrorCode.REQUEST_LIMIT_EXCEEDED


class BackendUnavailableError(PlinthError):
    """A backing service (database, object store, server) did not answer."""

    code = ErrorCode.TEMPORARILY_UNAVAILABLE


class NotSupportedError(PlinthError):
    """An optional feature of a protocol this server does not offer; clients that know the
    protocol fall back to its required form (MLflow's multipart uploads -> one PUT)."""

    code = ErrorCode.NOT_IMPLEMENTED


class ExperimentNotFoundError(NotFoundError):
    pass


class RunNotFoundError(NotFoundError):
    pass


class ModelIntegrityError(ConflictError):
    """A model package no longer matches the sha256 digests recorded when it was saved
    (tampering or bit rot); the message and ``details["path"]`` name the file."""


ERROR_CLASS_FOR_CODE: dict[str, type[PlinthError]] = {
    ErrorCode.INTERNAL_ERROR: PlinthError,
    ErrorCode.INVALID_PARAMETER_VALUE: InvalidArgumentError,
    ErrorCode.BAD_REQUEST: InvalidArgumentError,
    ErrorCode.UNAUTHENTICATED: UnauthenticatedError,
    ErrorCode.PERMISSION_DENIED: PermissionDeniedError,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: NotFoundError,
    ErrorCode.RESOURCE_ALREADY_EXISTS: AlreadyExistsError,
    ErrorCode.INVALID_STATE: ConflictError,
    ErrorCode.REQUEST_LIMIT_EXCEEDED: PayloadTooLargeError,
    ErrorCode.TEMPORARILY_UNAVAILABLE: BackendUnavailableError,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: UnsupportedMediaTypeError,
    ErrorCode.NOT_IMPLEMENTED: NotSupportedError,
}
"""Closed table used by the REST store to rebuild errors from a server's ``error_code``."""


ERROR_SUBCLASSES: dict[str, type[PlinthError]] = {
    cls.__name__: cls
    for cls in (
        ExperimentNotFoundError,
        RunNotFoundError,
        ModelIntegrityError,
        UnsupportedMediaTypeError,
    )
}
"""Closed table of the finer classes a server names (``error_type``) within a code's family."""


def error_from_code(code: str, message: str, error_type: str | None = None) -> PlinthError:
    """Rebuild the error for ``code``: the class ``error_type`` names when it is a known
    class of that family, else the family; unknown codes become a plain ``PlinthError``."""
    family = ERROR_CLASS_FOR_CODE.get(code, PlinthError)
    finer = ERROR_SUBCLASSES.get(error_type or "")
    if finer is not None and issubclass(finer, family):
        return finer(message)
    return family(message)
