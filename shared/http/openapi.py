"""OpenAPI 3.1 from the route table and the pydantic models the handlers use.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits, so the component
schemas are pydantic's own output with references rewritten to ``#/components/schemas``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.domain.storable import MAX_ID_BYTES
from shared.http.api import Route

_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "What is wrong, for a person to read"},
        "errors": {
            "type": "array",
            "description": "On 422: each broken rule, with the field's path",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "entitlement": {"type": "string", "description": "On 402: the plan feature required"},
        "limit": {"type": "string", "description": "On 429: the limit that is spent"},
    },
}

_STATUS_TEXT = {
    400: "Malformed request body",
    401: "Missing or invalid token",
    402: "The workspace's plan does not include this",
    403: "The token lacks the required scope",
    404: "Not found (or another workspace's)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "A field breaks a rule",
    429: "A usage limit is spent; retry after Retry-After (the next window)",
    503: "Temporarily unavailable; retry after Retry-After",
}


# Operation groups, in the order a reader meets them; ``_tag`` files each path under one.
TAGS: list[dict[str, str]] = [
    {"name": "leaderboards", "description": "A task, its data and how answers are scored"},
    {"name": "candidate models", "description": "The models a leaderboard ranks"},
    {"name": "runs", "description": "Evaluation runs and their per-sample results"},
    {"name": "datasets", "description": "PUSH events in, versioned datasets out"},
    {"name": "registered models", "description": "Model endpoints configured once per workspace"},
    {
        "name": "public leaderboard",
        "description": "Benchmark categories, agent profiles, published results and history",
    },
    {"name": "service", "description": "Health and this document"},
]

# A path id: what the store can hold (shared/domain/storable.py); any other id is a 404.
ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_BYTES,
    "pattern": r"^(?!\.\.?$)(?!__.*__$)[^/\u0000-\u001f\u007f-\u009f]+$",
    "description": f"At most {MAX_ID_BYTES} bytes of UTF-8",
}

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the request once-only: a retry with the same key and body answers "
    "the resource the first request made; the same key with another body is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "Present on a replay of an Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying, when known",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _tag(path: str) -> str:
    if path.startswith("/api/leaderboards/") and any(
        p in path for p in ("/events", "/dataset", "/improve-dataset")
    ):
        return "datasets"
    if path.startswith("/api/public/leaderboard"):
        return "public leaderboard"
    if path.startswith("/api/leaderboards/") and ("/run" in path):
        return "runs"
    if path.startswith("/api/leaderboards/") and "/models" in path:
        return "candidate models"
    if path.startswith("/api/leaderboards"):
        return "leaderboards"
    if path.startswith("/api/models"):
        return "registered models"
    return "service"


def _links(route: Route, routes: list[Route]) -> dict[str, Any]:
    """OpenAPI links from a create to what it created, so clients (and Schemathesis' stateful
    phase) can follow an id. The created id fills the one path parameter that the routes under
    the create's collection add (``/api/leaderboards`` -> ``{leaderboard_id}``; ``.../run`` ->
    ``.../runs/{run_id}``)."""
    if route.method != "POST" or route.response is None:
        return {}
    if "id" not in route.response.model_fields:
        return {}
    own = _PARAM.findall(route.path)
    links: dict[str, Any] = {}
    for target in routes:
        if not target.path.startswith((route.path + "/<", route.path + "s/<")):
            continue
        params = _PARAM.findall(target.path)
        if params[: len(own)] != own or len(params) != len(own) + 1:
            continue
        if not params[-1].endswith("id"):  # a slug is not the created resource's id
            continue
        values = {f"path.{p}": f"$request.path.{p}" for p in own}
        values[f"path.{params[-1]}"] = "$response.body#/id"
        if target.query is not None and "model_id" in target.query.model_fields:
            # A run's samples are read per model: the run's first model.
            values["query.model_id"] = "$response.body#/model_ids/0"
        name = "".join(w.capitalize() for w in target.handler.__name__.split("_"))
        links[name] = {"operationId": target.handler.__name__, "parameters": values}
    return links


# werkzeug's ``<int:x>``: the public API's integer ids (no sign; a 64-bit document id).
INT_ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def _path_schema(path: str, name: str) -> dict[str, Any]:
    return INT_ID_SCHEMA if f"<int:{name}>" in path else ID_SCHEMA


def openapi_document(*, title: str, version: str, routes: list[Route]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = []
    for r in routes:
        if r.body is not None:
            models.append((r.body, "validation"))
        if r.response is not None:
            models.append((r.response, "serialization"))
    # Document the spec's snake_case names; camelCase aliases are accepted but not advertised.
    keys, defs = (
        models_json_schema(models, ref_template=_REF, by_alias=False) if models else ({}, {})
    )
    paths: dict[str, dict[str, Any]] = {}
    operation_ids = [r.handler.__name__ for r in routes]
    assert len(set(operation_ids)) == len(operation_ids), "handler names are operation ids"
    for r in routes:
        path = _PARAM.sub(r"{\1}", r.path)
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": r.handler.__name__,
            "tags": [_tag(r.path)],
            "responses": {},
        }
        params = [
            {"name": p, "in": "path", "required": True, "schema": _path_schema(r.path, p)}
            for p in _PARAM.findall(r.path)
        ]
        if r.query is not None:
            qs = r.query.model_json_schema(by_alias=False)
            required = set(qs.get("required", []))
            for name, schema in qs.get("properties", {}).items():
                params.append(
                    {"name": name, "in": "query", "required": name in required, "schema": schema}
                )
        if r.idempotent:
            params.append(IDEMPOTENCY_KEY)
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": r.body_required,
                "content": {"application/json": {"schema": keys[(r.body, "validation")]}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if r.response is not None:
            ok["content"] = {"application/json": {"schema": keys[(r.response, "serialization")]}}
        links = _links(r, routes)
        if links:
            ok["links"] = links
        if r.idempotent and r.status == 201:
            # A replay answers 200 with the resource the first request created.
            replay = {**ok, "description": "An Idempotency-Key replay: the resource as created"}
            op["responses"]["200"] = {**replay, "headers": _REPLAYED_HEADER}
        elif r.idempotent:
            ok["headers"] = _REPLAYED_HEADER
        op["responses"][str(r.status)] = ok
        for code, meaning in r.also:
            op["responses"][str(code)] = {**ok, "description": meaning}
        errors = set(r.errors) | ({401, 403, 503} if r.scope else set())
        if r.body is not None:
            errors |= {400, 413, 422}
        if r.idempotent:
            errors |= {422}
        for code in sorted(errors):
            response: dict[str, Any] = {
                "description": _STATUS_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
            }
            if code in (429, 503):
                response["headers"] = _RETRY_AFTER_HEADER
            op["responses"][str(code)] = response
        if r.scope:
            op["security"] = [{"bearerAuth": []}]
            scopes = r.scope if isinstance(r.scope, tuple) else (r.scope,)
            op["description"] = "Requires " + " or ".join(f"`{x}`" for x in scopes) + "."
        paths.setdefault(path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": {**defs.get("$defs", {}), "Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (podium_...), or a signed-in person's Firebase "
                    "ID token",
                }
            },
        },
    }
