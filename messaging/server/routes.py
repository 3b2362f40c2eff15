"""The route table: registered by ``create_app`` and described by ``/openapi.json``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from messaging import models
from messaging.server import admin, devices, directory, messages, ops, stream

Auth = Literal["none", "device", "operator"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    auth: Auth = "device"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/admin/principals",
        admin.create_principal,
        "Register a principal",
        "operator",
        models.CreatePrincipalRequest,
        None,
        models.DirectoryEntry,
        201,
    ),
    Route(
        "POST",
        "/v1/admin/principals/{principal}/enrollment-codes",
        admin.issue_enrollment_code,
        "Issue a single-use enrollment code",
        "operator",
        None,
        None,
        models.EnrollmentCodeResponse,
        201,
    ),
    Route(
        "POST",
        "/v1/devices",
        devices.enroll,
        "Enroll a device with a code and its keys",
        "none",
        models.EnrollDeviceRequest,
        None,
        models.EnrolledDeviceResponse,
        201,
    ),
    Route(
        "POST",
        "/v1/devices/enrollment-codes",
        devices.link_code,
        "Issue a code to link another device of the caller's principal",
        "device",
        None,
        None,
        models.EnrollmentCodeResponse,
        201,
    ),
    Route(
        "GET",
        "/v1/devices",
        devices.list_own,
        "List the caller's devices",
        response=models.OwnDevicesResponse,
    ),
    Route(
        "DELETE",
        "/v1/devices/{device}",
        devices.revoke,
        "Revoke one of the caller's devices",
        status=204,
    ),
    Route(
        "POST",
        "/v1/auth/challenge",
        devices.challenge,
        "Get a single-use challenge",
        "none",
        models.ChallengeRequest,
        None,
        models.ChallengeResponse,
    ),
    Route(
        "POST",
        "/v1/auth/token",
        devices.token,
        "Trade a signed challenge for a token",
        "none",
        models.TokenRequest,
        None,
        models.TokenResponse,
    ),
    Route(
        "GET",
        "/v1/directory",
        directory.search,
        "Search the directory",
        query=directory.SearchQuery,
        response=models.DirectorySearchResponse,
    ),
    Route(
        "GET",
        "/v1/directory/{principal}",
        directory.lookup,
        "A principal with its active devices' public keys",
        response=models.DirectoryEntry,
    ),
    Route(
        "GET",
        "/v1/server",
        directory.server_info,
        "The server's public keys",
        "none",
        response=models.ServerInfo,
    ),
    Route(
        "POST",
        "/v1/messages",
        messages.send,
        "Send an envelope",
        "device",
        models.Envelope,
        None,
        models.AcceptedResponse,
        202,
    ),
    Route(
        "GET",
        "/v1/messages",
        messages.fetch,
        "Fetch events after a cursor (long poll)",
        query=messages.FetchQuery,
        response=models.EventsResponse,
    ),
    Route(
        "POST",
        "/v1/messages/ack",
        messages.ack,
        "Acknowledge (delete) events",
        body=models.AckRequest,
        status=204,
    ),
    Route("GET", "/v1/stream", stream.stream, "WebSocket stream of events"),
    Route("GET", "/healthz", ops.healthz, "Process is up", "none"),
    Route("GET", "/readyz", ops.readyz, "Redis is reachable", "none"),
    Route("GET", "/metrics", ops.metrics, "Prometheus metrics", "none"),
)
