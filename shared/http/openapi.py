"""OpenAPI 3.1 from the route table and the pydantic models the handlers use.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits, so the component
schemas are pydantic's own output with references rewritten to ``#/components/schemas``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

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
    503: "Temporarily unavailable; retry after Retry-After",
}


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
    for r in routes:
        path = _PARAM.sub(r"{\1}", r.path)
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": f"{r.method.lower()}_{r.handler.__name__}",
            "responses": {},
        }
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in _PARAM.findall(r.path)
        ]
        if r.query is not None:
            qs = r.query.model_json_schema(by_alias=False)
            for name, schema in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": False, "schema": schema})
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keys[(r.body, "validation")]}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if r.response is not None:
            ok["content"] = {"application/json": {"schema": keys[(r.response, "serialization")]}}
        op["responses"][str(r.status)] = ok
        errors = set(r.errors) | ({401, 403} if r.scope else set())
        if r.body is not None:
            errors |= {400, 413, 422}
        for code in sorted(errors):
            op["responses"][str(code)] = {
                "description": _STATUS_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
            }
        if r.scope:
            op["security"] = [{"bearerAuth": []}]
            op["description"] = f"Requires `{r.scope}`."
        paths.setdefault(path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {**defs.get("$defs", {}), "Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API token"}
            },
        },
    }
