"""A function's router: a table of routes over werkzeug's ``Map``.

functions-framework sends every path to one target function (see its ``__init__.py``), so a
function that serves a group of endpoints routes internally. Each route declares its scope, its
request and response models; dispatch enforces the scope before the handler runs, and the
OpenAPI document is generated from the same table (``shared/http/openapi.py``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import flask
from pydantic import BaseModel
from werkzeug.exceptions import NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.errors import InvalidInput, MalformedBody
from shared.domain.errors import NotFound as NotFoundError
from shared.domain.storable import MAX_DEPTH, document_id_problem, value_problems
from shared.http.access_log import log_request
from shared.http.errors import error_body

log = logging.getLogger("podium.http")

# Given the request's headers that say who is calling, the principal.
Authenticate = Callable[[Mapping[str, str]], Principal]
AUTH_HEADERS = ("Authorization", "X-Workspace-Id")
Q = TypeVar("Q", bound=BaseModel)


@dataclass
class Reply:
    body: BaseModel | Mapping[str, Any] | str | None = None  # str: sent as is (a page)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    mimetype: str = "application/json"


@dataclass
class Call:
    """What a handler gets: the request, who is calling, the path parameters."""

    request: flask.Request
    params: dict[str, str]
    principal_or_none: Principal | None
    max_body_bytes: int

    @property
    def principal(self) -> Principal:
        assert self.principal_or_none is not None, "route declared no scope"
        return self.principal_or_none

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def json(self, *, empty: Any = None) -> Any:
        """The JSON body. No body reads as ``empty``; anything unparsable is a 400."""
        length = self.request.content_length
        if length is not None and length > self.max_body_bytes:
            raise RequestEntityTooLarge(f"Request body is larger than {self.max_body_bytes} bytes")
        raw = self.request.get_data(cache=True)
        if len(raw) > self.max_body_bytes:
            raise RequestEntityTooLarge(f"Request body is larger than {self.max_body_bytes} bytes")
        if not raw.strip():
            return {} if empty is None else empty
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedBody(f"Request body is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise MalformedBody(
                f"Request body is nested too deeply to read (at most {MAX_DEPTH} levels)"
            ) from exc
        # Every body, whatever the route: values the store would refuse are a 422 naming the
        # place, before any handler sees them (see shared/domain/storable.py).
        problems = value_problems(data)
        if problems:
            raise InvalidInput(errors=problems)
        return data

    def query(self, model: type[Q]) -> Q:
        args = {k: v for k, v in self.request.args.items()}
        return parse(model, args)


Handler = Callable[[Call], Reply | BaseModel]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # werkzeug syntax: /api/leaderboards/<leaderboard_id>
    handler: Handler
    summary: str
    # None: no authentication (health, OpenAPI); a tuple: any one of these scopes.
    scope: str | tuple[str, ...] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    body_required: bool = True  # False: no body reads as {} (every field has a default)
    idempotent: bool = False  # takes an Idempotency-Key header; a replay answers the first
    # Other success statuses answering the same body, with what each means.
    also: tuple[tuple[int, str], ...] = ()


class Api:
    def __init__(
        self,
        *,
        title: str,
        routes: list[Route],
        authenticate: Callable[[], Authenticate],
        max_body_bytes: Callable[[], int] = lambda: 1_048_576,
    ) -> None:
        self.title = title
        self.routes = routes
        self._authenticate = authenticate
        self._max_body_bytes = max_body_bytes
        self._map = Map(
            [Rule(r.path, endpoint=i, methods=[r.method]) for i, r in enumerate(routes)],
            strict_slashes=False,
        )

    def __call__(self, request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        response = self._dispatch(request)
        log_request(request, response, time.perf_counter() - started)
        return response

    def _dispatch(self, request: flask.Request) -> flask.Response:
        try:
            adapter = self._map.bind_to_environ(request.environ)
            index, params = adapter.match(request.path, method=request.method)
            route = self.routes[index]
            principal = None
            if route.scope is not None:
                principal = self._authenticate()(
                    {k: request.headers[k] for k in AUTH_HEADERS if k in request.headers}
                )
                if isinstance(route.scope, tuple):
                    principal.require_any(route.scope)
                else:
                    principal.require(route.scope)
            _check_ids(params)
            call = Call(request, dict(params), principal, self._max_body_bytes())
            result = route.handler(call)
            reply = result if isinstance(result, Reply) else Reply(result, route.status)
            if isinstance(reply.body, str):
                return flask.Response(
                    reply.body, reply.status, reply.headers, mimetype=reply.mimetype
                )
            return _json(reply.body, reply.status, reply.headers)
        except NotFound:
            return _json({"detail": f"No route for {request.method} {request.path}"}, 404, {})
        except Exception as exc:  # werkzeug's HTTP errors and ours alike: one status table
            status, body, headers = error_body(exc)
            return _json(body, status, headers)


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have.
    raise ValueError(f"{name} is not a JSON value")


def _check_ids(params: Mapping[str, Any]) -> None:
    """A path id the store could not hold names nothing that exists: the same 404 as any
    missing resource, before a handler or repository sees it."""
    for name, value in params.items():
        problem = document_id_problem(str(value))
        if problem is not None:
            shown = str(value) if len(str(value)) <= 100 else str(value)[:100] + "..."
            raise NotFoundError(f"Not found: {name} {shown!r} {problem}")


def _json(
    body: BaseModel | Mapping[str, Any] | None, status: int, headers: dict[str, str]
) -> flask.Response:
    if status == 204 or body is None:
        return flask.Response(status=status, headers=headers)
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return flask.Response(
        # An error may echo a client's lone surrogate ("\\ud800"), which UTF-8 cannot carry;
        # backslashreplace writes it back as the JSON escape it came in as.
        json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8", "backslashreplace"),
        status=status,
        headers=headers,
        mimetype="application/json",
    )
