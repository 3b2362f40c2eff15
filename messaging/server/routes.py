"""The route table: registered by ``create_app`` and described by ``/openapi.json``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from dossier_link import log_models
from dossier_link import models as dossier_models
from messaging import models, representations
from messaging.server import admin, devices, directory, dossiers, messages, ops, stream

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
        models.CreatedPrincipal,
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
        "/v1/admin/representations",
        admin.add_representation,
        "Record a representation the registration authority verified",
        "operator",
        representations.CreateRepresentationRequest,
        None,
        representations.RepresentationCreated,
        201,
    ),
    Route(
        "GET",
        "/v1/admin/representations",
        admin.list_representations,
        "Representations of a holder, or held by a representative",
        "operator",
        None,
        representations.RepresentationQuery,
        representations.RepresentationList,
    ),
    Route(
        "DELETE",
        "/v1/admin/representations/{id}",
        admin.remove_representation,
        "Remove a representation: its rights end at once",
        "operator",
        status=204,
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
        "/v1/directory/{principal}/devices/{device}",
        directory.device,
        "One device of a principal, revoked ones included (to verify what they signed)",
        response=models.DeviceHistory,
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
    Route(
        "POST",
        "/v1/dossiers",
        dossiers.create,
        "Create a dossier on recorded consent",
        body=dossier_models.CreateDossierRequest,
        response=dossier_models.DossierSummary,
        status=201,
    ),
    Route(
        "POST",
        "/v1/admin/dossiers",
        dossiers.create_by_operator,
        "Create a dossier (opt-out regime)",
        "operator",
        dossier_models.OperatorCreateDossierRequest,
        None,
        dossier_models.DossierSummary,
        201,
    ),
    Route(
        "PUT",
        "/v1/dossiers/{ins}/objection",
        dossiers.set_objection,
        "Register or withdraw the holder's objection (opt-out regime)",
        body=dossier_models.ObjectionRequest,
        status=204,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}",
        dossiers.summary,
        "The dossier as the caller may see it",
        response=dossier_models.DossierSummary,
    ),
    Route(
        "PUT",
        "/v1/dossiers/{ins}/medecin-traitant",
        dossiers.set_medecin_traitant,
        "Declare the médecin traitant",
        body=dossier_models.MedecinTraitantRequest,
        response=dossier_models.DossierSummary,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/grants",
        dossiers.grant,
        "Grant a professional access",
        body=dossier_models.GrantRequest,
        response=dossier_models.DossierSummary,
        status=201,
    ),
    Route(
        "DELETE",
        "/v1/dossiers/{ins}/grants/{professional}",
        dossiers.withdraw_grant,
        "Withdraw a grant",
        status=204,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/bans",
        dossiers.ban,
        "Ban a professional",
        body=dossier_models.BanRequest,
        response=dossier_models.DossierSummary,
        status=201,
    ),
    Route(
        "DELETE",
        "/v1/dossiers/{ins}/bans/{professional}",
        dossiers.lift_ban,
        "Lift a ban",
        status=204,
    ),
    Route(
        "PUT",
        "/v1/dossiers/{ins}/emergency-opposition",
        dossiers.emergency_opposition,
        "Oppose (or stop opposing) emergency access",
        body=dossier_models.EmergencyOppositionRequest,
        response=dossier_models.DossierSummary,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/emergency-access",
        dossiers.emergency_access,
        "Open time-limited emergency access",
        body=dossier_models.EmergencyAccessRequest,
        response=dossier_models.EmergencyAccessResponse,
        status=201,
    ),
    Route(
        "DELETE",
        "/v1/dossiers/{ins}/emergency-access/{emergency}",
        dossiers.end_emergency,
        "End one open emergency access (EM-4)",
        response=dossier_models.DossierSummary,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}/documents",
        dossiers.list_documents,
        "Documents the caller may read",
        response=dossier_models.DocumentList,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}/documents/{document}",
        dossiers.read_document,
        "A document with its content key sealed to each of the caller's devices",
        response=dossier_models.DocumentContent,
    ),
    Route(
        "PATCH",
        "/v1/dossiers/{ins}/documents/{document}",
        dossiers.patch_document,
        "Mask or hide a document",
        body=dossier_models.DocumentPatch,
        status=204,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}/access-log",
        dossiers.access_log,
        "The hash-chained access log",
        response=log_models.AccessLog,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/close",
        dossiers.close,
        "Close the dossier",
        body=dossier_models.CloseRequest,
        response=dossier_models.DossierSummary,
    ),
    Route("GET", "/healthz", ops.healthz, "Process is up", "none"),
    Route("GET", "/readyz", ops.readyz, "Redis is reachable", "none"),
    Route("GET", "/metrics", ops.metrics, "Prometheus metrics", "none"),
)
