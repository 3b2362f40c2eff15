"""``/openapi.json``: an OpenAPI 3.1 document generated from the route tables and wire models.

Operations come from ``routes.ROUTES``, ``webapp.ROUTES`` and this module's ``ROUTE``: the
operationId and tag from the handler's module and name, the schemas from the pydantic models
(their patterns, lengths and bounds are the ones the server checks), the path parameters from
the annotated types the models use, and the problem responses from what each route checks
(``problems``). The WebSocket route answers 101; its frames are component schemas, listed with
the close codes under the operation's ``x-websocket`` (``messaging.frames``).
"""

from __future__ import annotations

import functools
import json
import re
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from messaging import errors, frames, models, wire_types
from messaging.server import webapp
from messaging.server.appkeys import SERVER_INFO
from messaging.server.route import Route
from messaging.server.routes import ROUTES

_REF = "#/components/schemas/{model}"
_PROBLEM_JSON = "application/problem+json"
_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
"""A path parameter in an aiohttp template, with its optional regular expression."""

TAGS: Final = {
    "admin": "The operator (registration authority): principals, codes, representations",
    "devices": "Device enrollment, linking, revocation, and challenge-response tokens",
    "directory": "The annuaire: principals, their devices' public keys, the server's keys",
    "messages": "Sending envelopes, fetching and acknowledging events",
    "stream": "The WebSocket stream of events",
    "dossiers": "The patient's shared record: consent, rights, documents, access log",
    "blobs": "Large attachments: resumable uploads of ciphertext, downloads with Range",
    "ops": "Liveness, readiness, Prometheus metrics",
    "openapi": "This document",
    "webapp": "The browser client's files",
}

_FREE_ID = {"type": "string", "minLength": 1}
_PATH_PARAMETERS: Final[dict[str, tuple[dict[str, Any], str]]] = {
    "principal": (
        TypeAdapter(wire_types.PrincipalId).json_schema(),
        "rpps:<11-digit RPPS>, org:<slug>, app:<slug> or patient:<INS>",
    ),
    "device": (TypeAdapter(wire_types.DeviceId).json_schema(), "A device id"),
    "ins": (
        TypeAdapter(wire_types.Ins).json_schema(),
        "The patient's INS; a key that does not match the 13 first characters (ID-1) is "
        "refused with 400",
    ),
    "professional": (TypeAdapter(wire_types.ProfessionalId).json_schema(), "rpps:<11-digit RPPS>"),
    "id": (_FREE_ID, "A representation id as issued (rep_...); unknown ids get 404"),
    "emergency": (_FREE_ID, "An emergency access id as issued (em_...); unknown ids get 404"),
    "document": (_FREE_ID, "A document id as listed (doc_...); unknown ids get 404"),
    "blob": (TypeAdapter(wire_types.BlobId).json_schema(), "A blob id as issued (blb_...)"),
    "path": (
        {"type": "string"},
        "index.html, app.css, icon.svg, src/<module>.js or vendor/<libsodium file>",
    ),
}

_HANDSHAKE: Final = (
    ("Upgrade", {"type": "string", "enum": ["websocket"]}),
    ("Connection", {"type": "string", "enum": ["Upgrade"]}),
    ("Sec-WebSocket-Version", {"type": "string", "enum": ["13"]}),
    # 16 random bytes in base64 (RFC 6455 §4.1).
    ("Sec-WebSocket-Key", {"type": "string", "pattern": "^[A-Za-z0-9+/]{21}[AQgw]==$"}),
)
"""The opening handshake's headers: without them the route answers 400 invalid_request."""

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def path_template(path: str) -> str:
    """The OpenAPI form of an aiohttp path: ``{name:regex}`` becomes ``{name}``."""
    return _PARAMETER.sub(r"{\1}", path)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def problems(route: Route) -> dict[int, list[type[errors.LiaisonError]]]:
    """Every refusal ``route`` may answer with, by status."""
    found: list[type[errors.LiaisonError]] = []
    if route.auth == "device":
        found += [errors.InvalidToken, errors.RateLimited]
    elif route.auth == "operator":
        found += [errors.InvalidToken, errors.OperatorOnly]
    if route.query is not None or _PARAMETER.search(route.path):
        found.append(errors.InvalidRequest)
    if route.body is not None:
        found += [errors.InvalidRequest, *errors.EncodingRefused.__subclasses__()]
        found += [errors.UnsupportedMediaType, errors.RequestTimeout]
        if not any(issubclass(p, errors.PayloadTooLarge) for p in route.problems):
            found.append(errors.BodyTooLarge)
    if route.store:
        found.append(errors.StoreUnavailable)
    found += route.problems
    by_status: dict[int, list[type[errors.LiaisonError]]] = {}
    for error in dict.fromkeys(found):
        by_status.setdefault(error.status, []).append(error)
    return dict(sorted(by_status.items()))


def _problem_response(status: int, refusals: list[type[errors.LiaisonError]]) -> dict[str, Any]:
    codes = "; ".join(f"`{error.code}`: {error.title}" for error in refusals)
    response: dict[str, Any] = {
        "description": f"{HTTPStatus(status).phrase}. {codes}",
        "content": {_PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}},
    }
    if any(error.retry_after is not None for error in refusals):
        response["headers"] = _RETRY_AFTER
    return response


def _success(route: Route) -> dict[str, Any]:
    description = HTTPStatus(route.status).phrase
    if route.status == 101:
        return {
            "description": "The connection is now a WebSocket: frames in x-websocket",
            "headers": {
                name: {"schema": {"type": "string"}}
                for name in ("Upgrade", "Connection", "Sec-WebSocket-Accept")
            },
        }
    if route.status == 308:
        return {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}
    if route.status == 204:
        return {"description": description}
    schema = _ref(route.response) if route.response is not None else {}
    return {
        "description": description,
        "content": {media: {"schema": schema} for media in route.produces},
    }


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters = []
    for name in _PARAMETER.findall(route.path):
        schema, description = _PATH_PARAMETERS[name]
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": schema,
            }
        )
    if route.status == 101:
        parameters += [
            {"name": name, "in": "header", "required": True, "schema": schema}
            for name, schema in _HANDSHAKE
        ]
    if route.query is not None:
        query = route.query.model_json_schema()
        required = set(query.get("required", ()))
        for name, prop in query["properties"].items():
            # A query parameter is absent or a string: "null" cannot be sent.
            options = [o for o in prop.pop("anyOf", [prop]) if o.get("type") != "null"]
            schema = {
                **options[0],
                **{k: v for k, v in prop.items() if k not in ("title", "default")},
            }
            if prop.get("default") is not None:
                schema["default"] = prop["default"]
            schema.pop("title", None)
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": schema}
            )
    return parameters


def _websocket() -> dict[str, Any]:
    server: list[type[BaseModel]] = [models.MessageEvent, models.ReceiptEvent]
    server += [models.NotificationEvent, frames.QueueEmpty, frames.StreamError]
    return {
        "clientFrames": {
            "oneOf": [_ref(frames.StreamAuth), _ref(frames.StreamAck)],
            "discriminator": {"propertyName": "type"},
        },
        "serverFrames": {
            "oneOf": [_ref(m) for m in server],
            "discriminator": {"propertyName": "type"},
        },
        "closeCodes": {str(code): reason for code, reason in frames.CLOSE_CODES.items()},
    }


_STREAM_DESCRIPTION = (
    "Upgrade to a WebSocket (RFC 6455). Authenticate with the Authorization header, or with a "
    'first frame `{"type": "auth", "token": ...}` within 5 s. The server sends the '
    "unacknowledged events, then one `queue_empty` frame, then live events; the client sends "
    '`{"type": "ack", "cursors": [...]}`. A newer socket of the same device displaces '
    "this one. The server pings every 30 s."
)


def _operation(route: Route) -> dict[str, Any]:
    module = route.handler.__module__.rsplit(".", 1)[-1]
    operation: dict[str, Any] = {
        "operationId": f"{module}_{route.handler.__name__}",
        "tags": [module],
        "summary": route.summary,
    }
    if route.query is not None and route.query.__doc__:
        operation["description"] = route.query.__doc__
    if route.auth == "none":
        operation["security"] = []
    elif route.status == 101:  # the token may come in the first frame instead
        operation["security"] = [{"device": []}, {}]
    else:
        operation["security"] = [{route.auth: []}]
    parameters = _parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": not route.body_optional,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    responses = {str(route.status): _success(route)}
    for status, refusals in problems(route).items():
        responses[str(status)] = _problem_response(status, refusals)
    responses["default"] = {
        "description": "Any other refusal, as a problem document (RFC 9457)",
        "content": {_PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}},
    }
    operation["responses"] = responses
    if route.status == 101:
        operation["description"] = _STREAM_DESCRIPTION
        operation["x-websocket"] = _websocket()
    return operation


def _problem_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "RFC 9457; some problems add members (field, errors, similar, ...)",
        "required": ["type", "status", "title", "detail", "code"],
        "properties": {
            "type": text,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "title": text,
            "detail": text,
            "code": {**text, "description": "Stable, for programs; the rule's reason code"},
            "field": {**text, "description": "A JSON Pointer or a parameter's name"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"loc": {"type": "array", "items": text}, "msg": text},
                },
            },
        },
    }


def documented() -> tuple[Route, ...]:
    """Every route of the application, as ``create_app`` registers them."""
    return (*ROUTES, ROUTE, *webapp.ROUTES)


def build(version: str) -> dict[str, Any]:
    routes = documented()
    wire: list[type[BaseModel]] = [frames.StreamAuth, frames.StreamAck]
    wire += [models.MessageEvent, models.ReceiptEvent, models.NotificationEvent]
    wire += [frames.QueueEmpty, frames.StreamError]
    for route in routes:
        wire += [m for m in (route.body, route.response) if m is not None]
    unique = list(dict.fromkeys(wire))
    _, schema = models_json_schema([(m, "validation") for m in unique], ref_template=_REF)
    components: dict[str, Any] = dict(schema.get("$defs", {}))
    components["Problem"] = _problem_schema()
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(path_template(route.path), {})[route.method.lower()] = _operation(route)
    used = dict.fromkeys(route.handler.__module__.rsplit(".", 1)[-1] for route in routes)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Liaison",
            "version": version,
            "description": "End-to-end encrypted messaging for health professionals, with "
            "consent-gated links to the patient's shared medical record.",
        },
        "tags": [{"name": tag, "description": TAGS[tag]} for tag in used],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "device": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A device token from POST /v1/auth/token",
                },
                "operator": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator token (admin_token in the data directory)",
                },
            },
        },
    }


@functools.cache
def _serialized(version: str) -> bytes:
    return json.dumps(build(version), ensure_ascii=False).encode()


async def document(request: web.Request) -> web.Response:
    body = _serialized(request.app[SERVER_INFO].version)
    return web.Response(body=body, content_type="application/json")


ROUTE: Final = Route("GET", "/openapi.json", document, "This document", "none", store=False)
