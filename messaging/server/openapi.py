"""OpenAPI 3.1 document generated from the route table and the pydantic models."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from messaging.server.appkeys import SERVER_INFO
from messaging.server.routes import ROUTES

_REF = "#/components/schemas/{model}"


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status", "title", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "integer"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
        },
    }


def build(version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = []
    for route in ROUTES:
        models += [m for m in (route.body, route.response) if m is not None]
    unique = list(dict.fromkeys(models))
    _, schema = models_json_schema([(m, "validation") for m in unique], ref_template=_REF)
    components: dict[str, Any] = dict(schema.get("$defs", {}))
    components["Problem"] = _problem_schema()
    paths: dict[str, Any] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {"summary": route.summary, "responses": {}}
        if route.auth != "none":
            operation["security"] = [{"operator" if route.auth == "operator" else "device": []}]
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": _REF.format(model=route.body.__name__)}}
                },
            }
        if route.query is not None:
            props = route.query.model_json_schema()["properties"]
            operation["parameters"] = [
                {"name": name, "in": "query", "required": False, "schema": prop}
                for name, prop in props.items()
            ]
        success: dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            success["content"] = {
                "application/json": {"schema": {"$ref": _REF.format(model=route.response.__name__)}}
            }
        operation["responses"][str(route.status)] = success
        operation["responses"]["default"] = {
            "description": "Problem (RFC 9457)",
            "content": {
                "application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}
            },
        }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Liaison", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "device": {"type": "http", "scheme": "bearer"},
                "operator": {"type": "http", "scheme": "bearer"},
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build(request.app[SERVER_INFO].version))
