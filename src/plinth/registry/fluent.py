"""The fluent registry API (``plinth.register_model``, ``plinth.request_promotion`` ...).

Like :mod:`plinth.tracking.fluent`, each function is one call on the process-wide client
(``plinth.get_client()``), so it works the same embedded and against a server. Names and
arguments follow MLflow's fluent registry functions where MLflow has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from plinth.entities import Page
from plinth.entities.registry import (
    ModelEvent,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    Stage,
)
from plinth.errors import InvalidArgumentError
from plinth.registry.uris import resolve_source
from plinth.tracking.fluent import get_client

T = TypeVar("T")
SEARCH_PAGE = 1000


def register_model(
    model_uri: str,
    name: str,
    *,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> ModelVersion:
    """Register a model as the next version of ``name`` (creating the model if needed).

    Args:
        model_uri: ``runs:/RUN_ID/path`` (the version keeps the run as its source run),
            ``models:/NAME/VERSION`` (or ``@ALIAS``, ``/STAGE``) to copy a version, or a
            plain artifact location.
        name: The registered model's name.
        tags: Tags of the new version.
        description: Description of the new version.

    Returns:
        The new version (1, 2, 3 ... per name), in stage ``None``.

    Raises:
        NotFoundError: the run or model version named by ``model_uri`` does not exist.
        InvalidArgumentError: a malformed URI or name.
    """
    client = get_client()
    source, run_id = resolve_source(client, model_uri)
    return client.create_model_version(
        name, source, run_id=run_id, tags=tags, description=description
    )


def get_registered_model(name: str) -> RegisteredModel:
    """Raises ``NotFoundError``."""
    return get_client().get_registered_model(name)


def get_model_version(name: str, version: str | int) -> ModelVersion:
    """Raises ``NotFoundError``."""
    return get_client().get_model_version(name, version)


def get_model_version_by_alias(name: str, alias: str) -> ModelVersion:
    """Raises ``NotFoundError``."""
    return get_client().get_model_version_by_alias(name, alias)


def search_registered_models(
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: Sequence[str] | None = None,
) -> list[RegisteredModel]:
    """Registered models matching MLflow's filter grammar (``name LIKE 'churn%'``), all
    pages up to ``max_results``."""

    def fetch(limit: int, token: str | None) -> Page[RegisteredModel]:
        return get_client().search_registered_models(filter_string, limit, order_by or (), token)

    return list(_all_pages(fetch, max_results))


def search_model_versions(
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: Sequence[str] | None = None,
) -> list[ModelVersion]:
    """Model versions matching MLflow's filter grammar (``name = 'churn'``,
    ``run_id = '...'``, ``tags.k = 'v'``), all pages up to ``max_results``."""

    def fetch(limit: int, token: str | None) -> Page[ModelVersion]:
        return get_client().search_model_versions(filter_string, limit, order_by or (), token)

    return list(_all_pages(fetch, max_results))


def _all_pages(fetch: Callable[[int, str | None], Page[T]], max_results: int | None) -> Iterator[T]:
    if max_results is not None and (
        isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0
    ):
        raise InvalidArgumentError(
            f"max_results must be a non-negative int or None, got {max_results!r}."
        )
    remaining = max_results if max_results is not None else float("inf")
    token: str | None = None
    while remaining > 0:
        page = fetch(int(min(SEARCH_PAGE, remaining)), token)
        yield from page.items
        remaining -= len(page.items)
        token = page.next_page_token
        if not token or not page.items:
            return


def set_registered_model_alias(name: str, alias: str, version: str | int) -> None:
    """Point ``alias`` at ``version``.

    Raises:
        PermissionDeniedError: ``alias`` is protected (``production``, ``champion`` by
            default); move it with :func:`request_promotion` and :func:`approve`.
        NotFoundError: unknown model or version.
    """
    get_client().set_registered_model_alias(name, alias, version)


def delete_registered_model_alias(name: str, alias: str) -> None:
    """Raises ``NotFoundError``, or ``PermissionDeniedError`` for a protected alias."""
    get_client().delete_registered_model_alias(name, alias)


def transition_model_version_stage(
    name: str,
    version: str | int,
    stage: Stage | str,
    *,
    archive_existing_versions: bool = True,
) -> ModelVersion:
    """Move a version to ``Staging``, ``Archived`` or back to ``None``.

    Raises:
        PermissionDeniedError: ``stage`` is Production, which only an approved
            :func:`request_promotion` reaches.
        NotFoundError: unknown model or version.
    """
    return get_client().transition_model_version_stage(
        name, version, stage, archive_existing_versions=archive_existing_versions
    )


def request_promotion(
    name: str,
    version: str | int,
    *,
    stage: Stage | str | None = None,
    alias: str | None = None,
    comment: str | None = None,
    checks: Sequence[str] = (),
) -> PromotionRequest:
    """Ask for ``version`` to move to ``stage`` (e.g. ``"Production"``) or ``alias``.

    Args:
        name: The registered model.
        version: The version to promote.
        stage: The target stage; give this or ``alias``.
        alias: The target alias (``champion``).
        comment: Why; shown to the approver and kept in the history.
        checks: Gates evaluated now and shown to the approver: ``"metrics.auc >= 0.8"`` (on
            the source run), ``"beats_production:metrics.auc"``, ``"signature"``,
            ``"tag:KEY"``.

    Returns:
        The pending request, with its check results.

    Raises:
        InvalidArgumentError: neither or both of ``stage`` and ``alias``, or a bad check.
        NotFoundError: unknown model or version.
    """
    return get_client().request_promotion(
        name, version, stage=stage, alias=alias, comment=comment, checks=checks
    )


def approve(
    request_id: str, *, comment: str | None = None, override: bool = False
) -> PromotionRequest:
    """Approve a pending promotion request, which performs its stage or alias move.

    Raises:
        PermissionDeniedError: the caller requested it (four eyes; embedded user ``local``
            is exempt) or may not approve, or checks failed and ``override`` with a
            ``comment`` was not given.
        ConflictError: the request was already decided.
        NotFoundError: unknown request.
    """
    return get_client().approve_promotion(request_id, comment=comment, override=override)


def reject(request_id: str, *, comment: str | None = None) -> PromotionRequest:
    """Reject a pending promotion request. Raises ``ConflictError`` or ``NotFoundError``."""
    return get_client().reject_promotion(request_id, comment=comment)


def model_history(name: str) -> list[ModelEvent]:
    """Every event of a registered model, oldest first: registration, edits, requests,
    decisions with their comments, stage and alias moves, archival, deployments.

    Raises ``NotFoundError``."""
    return get_client().model_history(name)
