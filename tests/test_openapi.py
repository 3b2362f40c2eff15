"""``/openapi.json`` (issue 9 item 1): a valid OpenAPI 3.1 document that describes every route
of the app, each operation's problem answers, the constraints the server checks, and the
WebSocket stream's frames; the server's real answers fit what it says."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from messaging import canonical, crypto
from messaging.identifiers import validate_ins
from messaging.server.openapi import path_template
from tests.support import World, compose

METHODS = ("get", "put", "post", "delete", "patch")


async def _document(world: World) -> dict[str, Any]:
    response = await world.client.get("/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


def _errors(document: dict[str, Any]) -> list[str]:
    return [str(error).splitlines()[0] for error in OpenAPIV31SpecValidator(document).iter_errors()]


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _fits(document: dict[str, Any], schema: dict[str, Any], instance: object) -> list[str]:
    root = {**schema, "components": document["components"]}
    return [error.message for error in OAS31Validator(root).iter_errors(instance)]


async def test_the_document_validates_as_openapi_3_1(world: World) -> None:
    document = await _document(world)
    assert document["openapi"] == "3.1.0"
    assert _errors(document) == []
    # The validator does catch what the issue found: an undeclared path parameter.
    broken = copy.deepcopy(document)
    del broken["paths"]["/v1/dossiers/{ins}"]["get"]["parameters"]
    assert any("Path parameter 'ins'" in error for error in _errors(broken))


async def test_every_route_of_the_app_is_described_with_its_method(world: World) -> None:
    document = await _document(world)
    registered = {
        (route.method.lower(), path_template(route.resource.canonical))
        for route in world.client.app.router.routes()
        if route.resource is not None
    }
    described = {(method, path) for method, path, _ in _operations(document)}
    assert registered == described
    assert ("get", "/v1/stream") in described
    assert ("get", "/app/{path}") in described


async def test_each_operation_has_an_id_a_tag_security_and_problem_responses(
    world: World,
) -> None:
    document = await _document(world)
    tags = {tag["name"] for tag in document["tags"]}
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        assert set(operation["tags"]) <= tags, where
        assert "security" in operation, where
        problems = {
            status: response
            for status, response in operation["responses"].items()
            if status == "default" or int(status) >= 400
        }
        assert "default" in problems, where
        for response in problems.values():
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, where
        schemes = {name for option in operation["security"] for name in option}
        if "operator" in schemes:
            assert "403" in problems, where
        if "device" in schemes:
            assert "401" in problems, where
        if path.startswith("/v1/") and path != "/v1/server":  # it alone reads no Redis
            assert "503" in problems, where


def _url(path: str) -> str:
    """The path with a value the server must refuse for each parameter."""
    return re.sub(r"\{\w+\}", "x", path)


async def test_real_refusals_are_the_declared_ones(world: World) -> None:
    """Every operation, called without credentials, then with each kind of token, with
    unusable path parameters and an empty JSON object as body: each answer's status is one
    the operation declares (not just ``default``), and refusals are problem documents."""
    document = await _document(world)
    device = await world.professional()
    answers: dict[tuple[str, str], int] = {}
    callers = {"nobody": {}, "device": device.headers, "operator": world.operator}
    for method, path, operation in _operations(document):
        for who, headers in callers.items():
            body: dict[str, Any] | None = {} if "requestBody" in operation else None
            response = await world.client.request(
                method, _url(path), json=body, headers=headers, allow_redirects=False
            )
            status = str(response.status)
            where = f"{method} {path} -> {status} {await response.text()}"
            assert status in operation["responses"], where
            if response.status >= 400:
                assert response.content_type == "application/problem+json", where
            answers[who, f"{method} {path}"] = response.status
    assert answers["device", "get /v1/stream"] == 400  # not an upgrade
    assert answers["device", "get /v1/dossiers/{ins}"] == 400  # "x" is no INS
    assert answers["nobody", "get /v1/dossiers/{ins}"] == 401
    assert answers["device", "post /v1/messages"] == 400
    assert answers["operator", "delete /v1/admin/representations/{id}"] == 404


async def test_schemas_carry_the_constraints_the_server_checks(world: World) -> None:
    document = await _document(world)
    schemas = document["components"]["schemas"]
    enroll = schemas["EnrollDeviceRequest"]["properties"]
    length = crypto.b64u_encoded_length(crypto.KEY_BYTES)
    assert (enroll["sign_key"]["minLength"], enroll["sign_key"]["maxLength"]) == (length, length)
    assert enroll["sign_key"]["pattern"] == canonical.b64u_pattern(crypto.KEY_BYTES)
    assert schemas["TokenRequest"]["required"] == ["device", "challenge", "signature"]
    ins = document["paths"]["/v1/dossiers/{ins}"]["get"]["parameters"][0]["schema"]["pattern"]
    assert ins == "^[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{6}[0-9]{2}$"
    patch = {"$ref": "#/components/schemas/DocumentPatch"}  # one mark at least, not null
    assert [bool(_fits(document, patch, b)) for b in ({}, {"masked": None}, {"masked": False})] == [
        True,
        True,
        False,
    ]
    for body in ("CreateDossierRequest", "OperatorCreateDossierRequest"):
        assert schemas[body]["properties"]["ins"]["pattern"] == ins  # the body's, like the path's
    examples = document["paths"]["/v1/dossiers/{ins}"]["get"]["parameters"][0]["schema"]
    assert [validate_ins(example) for example in examples["examples"]] == examples["examples"]
    grant = schemas["GrantRequest"]["properties"]["professional"]["pattern"]
    assert grant == "^rpps:[0-9]{11}$"
    after = document["paths"]["/v1/messages"]["get"]["parameters"][0]
    assert (after["name"], after["required"]) == ("after", False)
    # A real cursor and a real envelope fit their schemas.
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    sent = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
    assert sent.status == 202
    assert _fits(document, {"$ref": "#/components/schemas/Envelope"}, envelope) == []
    accepted = document["paths"]["/v1/messages"]["post"]["responses"]["202"]
    assert (
        _fits(document, accepted["content"]["application/json"]["schema"], await sent.json()) == []
    )
    fetched = await (await world.client.get("/v1/messages", headers=bob.headers)).json()
    events = document["paths"]["/v1/messages"]["get"]["responses"]["200"]
    assert _fits(document, events["content"]["application/json"]["schema"], fetched) == []
    assert _fits(document, after["schema"], fetched["next"]) == []
    assert _fits(document, after["schema"], fetched["next"] + "x") != []


def test_base64url_patterns_take_exactly_what_the_server_takes() -> None:
    for size in (1, 2, 3, 9, 32, 64):
        text = crypto.b64u_encode(bytes(range(100, 100 + size)))
        exact, any_size = (
            re.compile(canonical.b64u_pattern(size)),
            re.compile(canonical.b64u_pattern()),
        )
        # Every last character: the canonical ones pass the check and the patterns alike.
        for last in canonical.B64U_ALPHABET:
            candidate = text[:-1] + last
            try:
                canonical.check_b64u(candidate)
                taken = True
            except canonical.EncodingError:
                taken = False
            assert bool(exact.fullmatch(candidate)) == taken, candidate
            assert bool(any_size.fullmatch(candidate)) == taken, candidate
        assert not exact.fullmatch(text + "A")
    assert not re.fullmatch(canonical.b64u_pattern(), "A")  # no length is 1 modulo 4


async def test_the_stream_frames_fit_their_documented_schemas(world: World) -> None:
    document = await _document(world)
    stream = document["paths"]["/v1/stream"]["get"]
    assert "101" in stream["responses"]
    frames = stream["x-websocket"]
    assert {"4401", "4409", "1001"} <= set(frames["closeCodes"])
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    sent = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
    assert sent.status == 202
    async with world.client.ws_connect("/v1/stream") as ws:
        auth = {"type": "auth", "token": bob.token}
        assert _fits(document, frames["clientFrames"], auth) == []
        await ws.send_json(auth)
        received = [json.loads((await ws.receive(timeout=5)).data) for _ in range(2)]
        ack = {"type": "ack", "cursors": ["1-0.AAAAAAAAAAAA"]}
        assert _fits(document, frames["clientFrames"], ack) == []
        await ws.send_json(ack)
        received.append(json.loads((await ws.receive(timeout=5)).data))
    assert [frame["type"] for frame in received] == ["message", "queue_empty", "error"]
    for frame in received:
        assert _fits(document, frames["serverFrames"], frame) == [], frame
    assert _fits(document, frames["serverFrames"], {"type": "queue_empty", "more": 1}) != []


async def test_a_method_a_path_lacks_is_405_naming_the_ones_it_has(world: World) -> None:
    document = await _document(world)
    response = await world.client.put("/v1/messages")
    assert response.status == 405
    assert response.content_type == "application/problem+json"
    allowed = set(response.headers["Allow"].split(","))
    assert allowed == {method.upper() for method in document["paths"]["/v1/messages"]}


async def test_the_stream_declares_its_opening_handshake(world: World) -> None:
    document = await _document(world)
    stream = document["paths"]["/v1/stream"]["get"]
    headers = {p["name"] for p in stream["parameters"] if p["in"] == "header" and p["required"]}
    assert headers == {"Upgrade", "Connection", "Sec-WebSocket-Version", "Sec-WebSocket-Key"}
    key = next(p["schema"] for p in stream["parameters"] if p["name"] == "Sec-WebSocket-Key")
    assert _fits(document, key, "dGhlIHNhbXBsZSBub25jZQ==") == []  # RFC 6455's example
    async with world.client.ws_connect("/v1/stream") as ws:  # and the handshake is what opens it
        await ws.send_json({"type": "auth", "token": "not-a-token"})
        assert (await ws.receive(timeout=5)).type.name == "CLOSE"
