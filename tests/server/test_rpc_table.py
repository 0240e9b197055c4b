"""RpcRoutes: a handler's arguments are planned from its annotations when it is registered,
so a parameter the table cannot fill fails at import, not on the first request."""

from __future__ import annotations

import pytest
from starlette.responses import Response

from plinth.entities import Role
from plinth.server.mlflow.rpc import RpcRoute, RpcRoutes
from plinth.server.mlflow.wire import Fields
from plinth.store.base import TrackingStore


def test_a_parameter_without_a_source_is_refused_at_registration() -> None:
    routes = RpcRoutes("/x")

    def handler(fields: Fields, limit: int) -> Response:
        return Response()

    with pytest.raises(TypeError, match="'limit'"):
        routes.get("/things", role=Role.VIEWER)(handler)


def test_path_placeholders_and_typed_sources_are_planned() -> None:
    routes = RpcRoutes("/x")

    @routes.delete("/things/{thing_id}/tags/{key:path}", role=Role.EDITOR)
    def handler(thing_id: str, key: str, store: TrackingStore) -> Response:
        return Response()

    [(method, path, endpoint)] = routes.endpoints
    assert (method, path) == ("DELETE", "/things/{thing_id}/tags/{key:path}")
    assert endpoint.role is Role.EDITOR
    assert endpoint.arguments == (
        ("thing_id", "path:thing_id"),
        ("key", "path:key"),
        ("store", "tracking"),
    )


def test_one_method_and_path_registered_twice_is_refused() -> None:
    first, second = RpcRoutes("/api"), RpcRoutes("/api")

    for routes in (first, second):

        @routes.post("/same", role=Role.VIEWER)
        def handler() -> Response:
            return Response()

    with pytest.raises(ValueError, match="POST /api/same"):
        RpcRoute([first, second])
