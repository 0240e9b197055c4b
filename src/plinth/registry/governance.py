"""The governance rule: no version reaches Production, and no protected alias moves, without
an approved promotion request; and the rules for deciding a request (four eyes, overrides).

The messages are part of the rule: they reach users verbatim (SDK, CLI, REST, the MLflow API)
and say exactly how to get the change made.
"""

from __future__ import annotations

from plinth.entities import LOCAL_USER
from plinth.entities.registry import PromotionRequest, PromotionStatus
from plinth.errors import ConflictError, PermissionDeniedError


def _how_to_promote(name: str, version: int | str, flag: str, sdk_arg: str) -> str:
    return (
        f"Request it with `plinth models request-promotion {name} {version} {flag}` "
        f"(SDK: plinth.request_promotion({name!r}, {str(version)!r}, {sdk_arg})); an approver "
        "then runs `plinth models approve REQUEST_ID` (SDK: plinth.approve(request_id))."
    )


def production_denied(name: str, version: int | str) -> PermissionDeniedError:
    """Moving a version into Production directly."""
    how = _how_to_promote(name, version, "--stage Production", "stage='Production'")
    return PermissionDeniedError(
        f"Moving {name} version {version} to Production needs an approved promotion request. " + how
    )


def alias_denied(name: str, alias: str, version: int | str | None) -> PermissionDeniedError:
    """Setting (``version`` given) or deleting a protected alias directly."""
    target = version if version is not None else "VERSION"
    how = _how_to_promote(name, target, f"--alias {alias}", f"alias={alias!r}")
    if version is None:
        return PermissionDeniedError(
            f"Alias @{alias} of {name} is protected and cannot be deleted directly; it only "
            f"moves to another version through an approved promotion request. {how}"
        )
    return PermissionDeniedError(
        f"Pointing the protected alias @{alias} of {name} at version {version} needs an "
        f"approved promotion request. {how}"
    )


def leaving_production_denied(name: str, version: int | str, stage: str) -> PermissionDeniedError:
    """Moving a version out of Production directly (Production changes only by approval,
    in both directions, as protected aliases do)."""
    how = _how_to_promote(name, version, f"--stage {stage}", f"stage={stage!r}")
    return PermissionDeniedError(
        f"{name} version {version} is in Production; moving it to {stage} needs an approved "
        f"promotion request, like any change of Production. {how} Promoting another version "
        "to Production through an approved request also archives this one."
    )


def deletion_denied(name: str, version: int, reason: str) -> PermissionDeniedError:
    """Deleting a version (or its model) while it is governed: in Production or aliased."""
    return PermissionDeniedError(
        f"{name} version {version} {reason}, so it cannot be deleted. Move it out of "
        "Production (e.g. to Archived) and move protected aliases to another version through "
        "approved promotion requests first."
    )


def served_denied(name: str, version: int, reason: str, *, action: str) -> PermissionDeniedError:
    """Deleting or renaming while an endpoint routes to the version: its replicas would
    fail to load it and its canary could neither be judged nor rolled back."""
    return PermissionDeniedError(
        f"{name} version {version} {reason}, so it cannot be {action}. Take it off the "
        "endpoint first (`plinth endpoints rollback` for a canary, `plinth endpoints "
        "traffic` or `delete` otherwise)."
    )


def rename_denied(name: str, version: int, reason: str) -> PermissionDeniedError:
    """Renaming a model while one of its versions is governed: in Production or aliased."""
    return PermissionDeniedError(
        f"{name} version {version} {reason}, so {name} cannot be renamed: endpoints and "
        f"models:/{name}/Production or models:/{name}@ALIAS URIs resolve it by name and would "
        "break. Register the versions under the new name and promote them there instead."
    )


def check_pending(request: PromotionRequest) -> None:
    """Raises ``ConflictError`` unless the request still awaits a decision."""
    if request.status is not PromotionStatus.PENDING:
        raise ConflictError(
            f"Promotion request {request.request_id} is {request.status.value.lower()}; "
            "only pending requests can be approved or rejected."
        )


def check_can_approve(
    request: PromotionRequest, *, actor: str, comment: str | None, override: bool
) -> None:
    """Four eyes, and failed checks only with an explicit, explained override.

    Raises:
        ConflictError: The request is not pending.
        PermissionDeniedError: The actor requested it (the embedded user ``local`` is exempt),
            or checks failed and ``override`` or a comment is missing.
    """
    check_pending(request)
    if actor == request.requested_by and actor != LOCAL_USER:
        raise PermissionDeniedError(
            f"{actor} requested promotion {request.request_id} and cannot also approve it "
            "(four eyes): another user with the approver or admin role must approve it."
        )
    failed = [c for c in request.checks if not c.passed]
    if failed and not (override and comment and comment.strip()):
        listed = "; ".join(f"{c.check} ({c.detail})" for c in failed)
        raise PermissionDeniedError(
            f"Promotion request {request.request_id} has failed checks: {listed}. Approving "
            "it anyway needs override=True and a comment explaining why (CLI: plinth models "
            "approve REQUEST_ID --override --comment '...'); both are recorded."
        )
