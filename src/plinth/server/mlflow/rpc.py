"""MLflow's REST API as a table of ``(method, path) -> handler``, served as one route.

MLflow's API is RPC over HTTP: fixed paths (a handful with an id in them), a JSON body or a
query string, a JSON answer. FastAPI's router tries each route of the app in turn (twice for
included routers) and resolves each handler's dependencies per request; profiled under the
mlflow client, that was half the server time of a ``search_runs`` and a fifth of a
``log_param``. Here a fixed path is one dict lookup, and a handler's arguments come from a
plan made once, at import, from its annotations:

- ``Fields``: the request message (query string for GETs, else the JSON body);
- ``TrackingStore``, ``RegistryStore``, ``AuthStore``: the store acting as the caller;
- ``ArtifactStore``: the server's artifact store; ``Request``; ``User``: the caller;
- a ``str`` named like a ``{placeholder}`` of the path: that part of the URL.

Sync handlers run in the thread pool, async ones on the loop; errors propagate to the app's
exception handlers like any route's. ``openapi_paths`` lists them for /docs (path, method,
role needed), pointing to MLflow's REST API reference for their messages.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, compile_path
from starlette.types import Receive, Scope, Send

from plinth.artifacts import ArtifactStore
from plinth.entities import Role, User
from plinth.server.auth import check_role, current_user
from plinth.server.mlflow.wire import Fields, request_fields
from plinth.store.base import AuthStore, RegistryStore, TrackingStore

Handler = Callable[..., Any]
_H = TypeVar("_H", bound=Handler)


@dataclass(frozen=True)
class _Endpoint:
    handler: Handler
    role: Role
    arguments: tuple[tuple[str, str], ...]  # (parameter, source) pairs; see _SOURCES
    is_async: bool


_SOURCES: dict[Any, str] = {
    Fields: "fields",
    TrackingStore: "tracking",
    RegistryStore: "registry",
    AuthStore: "auth",
    ArtifactStore: "artifacts",
    Request: "request",
    User: "user",
}


class RpcRoutes:
    """Handlers registered under one or more path prefixes (``/api/2.0/mlflow`` and the
    web UI's ``/ajax-api/2.0/mlflow``)."""

    def __init__(self, *prefixes: str) -> None:
        self.prefixes = prefixes
        self.endpoints: list[tuple[str, str, _Endpoint]] = []  # (method, path, endpoint)

    def get(self, path: str, *, role: Role) -> Callable[[_H], _H]:
        return self._register("GET", path, role)

    def post(self, path: str, *, role: Role) -> Callable[[_H], _H]:
        return self._register("POST", path, role)

    def put(self, path: str, *, role: Role) -> Callable[[_H], _H]:
        return self._register("PUT", path, role)

    def patch(self, path: str, *, role: Role) -> Callable[[_H], _H]:
        return self._register("PATCH", path, role)

    def delete(self, path: str, *, role: Role) -> Callable[[_H], _H]:
        return self._register("DELETE", path, role)

    def _register(self, method: str, path: str, role: Role) -> Callable[[_H], _H]:
        def decorate(handler: _H) -> _H:
            placeholders = set(re.findall(r"{(\w+)(?::\w+)?}", path))
            endpoint = _Endpoint(
                handler=handler,
                role=role,
                arguments=_plan(handler, placeholders),
                is_async=inspect.iscoroutinefunction(handler),
            )
            self.endpoints.append((method, path, endpoint))
            return handler

        return decorate


def _plan(handler: Handler, placeholders: set[str]) -> tuple[tuple[str, str], ...]:
    hints = typing.get_type_hints(handler)
    plan = []
    for name in inspect.signature(handler).parameters:
        if name in placeholders:
            plan.append((name, "path:" + name))
        elif hints.get(name) in _SOURCES:
            plan.append((name, _SOURCES[hints[name]]))
        else:
            raise TypeError(f"{handler.__qualname__}: no source for parameter {name!r}")
    return tuple(plan)


class RpcRoute(BaseRoute):
    """One Starlette route serving every endpoint of some ``RpcRoutes``."""

    def __init__(self, route_sets: Iterable[RpcRoutes]) -> None:
        self.route_sets = list(route_sets)
        self._fixed: dict[str, dict[str, _Endpoint]] = {}
        self._templated: list[tuple[re.Pattern[str], dict[str, Any], dict[str, _Endpoint]]] = []
        templates: dict[str, dict[str, _Endpoint]] = {}
        for routes in self.route_sets:
            for method, path, endpoint in routes.endpoints:
                for prefix in routes.prefixes:
                    full = prefix + path
                    table = templates if "{" in full else self._fixed
                    methods = table.setdefault(full, {})
                    if method in methods:
                        raise ValueError(f"{method} {full} is registered twice")
                    methods[method] = endpoint
        for template, methods in templates.items():
            regex, _format, convertors = compile_path(template)
            self._templated.append((regex, convertors, methods))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        methods = self._fixed.get(path)
        params: dict[str, Any] = {}
        if methods is None:
            for regex, convertors, candidate in self._templated:
                found = regex.match(path)
                if found is not None:
                    methods = candidate
                    params = {k: convertors[k].convert(v) for k, v in found.groupdict().items()}
                    break
            else:
                return Match.NONE, {}
        endpoint = methods.get(scope["method"])
        if endpoint is None and scope["method"] == "HEAD":
            endpoint = methods.get("GET")
        child = {"endpoint": endpoint, "path_params": params, "rpc_methods": methods}
        return (Match.FULL if endpoint is not None else Match.PARTIAL), child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint: _Endpoint | None = scope["endpoint"]
        if endpoint is None:
            allowed = ", ".join(sorted(scope["rpc_methods"]))
            raise HTTPException(405, headers={"Allow": allowed})
        request = Request(scope, receive)
        user = await current_user(request)
        check_role(user, endpoint.role)
        arguments = {}
        for name, source in endpoint.arguments:
            arguments[name] = await _argument(source, request, user)
        if endpoint.is_async:
            response = await endpoint.handler(**arguments)
        else:
            response = await anyio.to_thread.run_sync(lambda: endpoint.handler(**arguments))
        assert isinstance(response, Response), endpoint.handler
        await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the table's handlers are not named routes

    def openapi_paths(self) -> dict[str, dict[str, Any]]:
        """OpenAPI path items for every endpoint under its first (public) prefix; the web
        UI's ``/ajax-api`` aliases are left out. Messages are MLflow's, so each operation
        links to MLflow's reference instead of repeating its schemas."""
        paths: dict[str, dict[str, Any]] = {}
        for routes in self.route_sets:
            prefix = routes.prefixes[0]
            if prefix.startswith("/ajax-api"):
                continue  # the web UI's own calls
            for method, path, endpoint in routes.endpoints:
                documented = re.sub(r"{(\w+):\w+}", r"{\1}", prefix + path)  # OpenAPI's form
                paths.setdefault(documented, {})[method.lower()] = _operation(
                    method, documented, endpoint
                )
        return paths


OPENAPI_TAG = "MLflow REST API"
_MLFLOW_REFERENCE = "https://mlflow.org/docs/latest/api_reference/rest-api.html"


def _operation(method: str, path: str, endpoint: _Endpoint) -> dict[str, Any]:
    handler = endpoint.handler
    doc = inspect.getdoc(handler)
    summary = handler.__name__.replace("_", " ").capitalize()
    intro = doc.split("\n\n")[0].replace("\n", " ") + "\n\n" if doc else ""
    operation: dict[str, Any] = {
        "tags": [OPENAPI_TAG],
        "summary": summary,
        # By path, not handler: one handler may serve several paths (multipart uploads).
        "operationId": re.sub(r"\W+", "_", f"mlflow_{method.lower()}{path}").strip("_"),
        "description": (
            f"{intro}MLflow-compatible: the request and answer are MLflow's messages "
            f"([MLflow's REST API reference]({_MLFLOW_REFERENCE})). Needs the "
            f"`{endpoint.role.value}` role when auth is on."
        ),
        "responses": {
            "200": {"description": "MLflow's response message (JSON)."},
            "default": {"description": 'An MLflow error: {"error_code": ..., "message": ...}'},
        },
    }
    placeholders = re.findall(r"{(\w+)}", path)
    if placeholders:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in placeholders
        ]
    if method == "GET":
        operation["description"] += " Fields go in the query string."
    elif any(source == "fields" for _, source in endpoint.arguments):
        body = {"type": "object", "description": "MLflow's request message"}
        operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return operation


async def _argument(source: str, request: Request, user: User) -> Any:
    if source == "fields":
        return await request_fields(request)
    if source.startswith("path:"):
        return request.path_params[source[5:]]
    if source == "request":
        return request
    if source == "user":
        return user
    if source == "artifacts":
        return request.app.state.artifact_store
    # One of the stores, attributing what it changes to the caller.
    return getattr(request.app.state.stores, source).with_actor(user.name)
