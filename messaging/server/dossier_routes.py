"""The dossier routes of the API (DESIGN §4): part of ``routes.ROUTES``, apart so that each
table stays readable."""

from __future__ import annotations

from dossier_link import log_models
from dossier_link import models as dossier_models
from dossier_link.errors import DossierBusy, DossierExists, DossierNotFound, DossierRefused
from messaging import errors
from messaging.server import dossiers
from messaging.server.route import Route

_DOSSIER_REFUSALS = (DossierRefused, DossierNotFound, errors.NotFound, DossierBusy)
"""A dossier call refused by the rules (403, the rule's reason code), a dossier, document or
principal that does not exist (404), a dossier changed too often meanwhile (503)."""

DOSSIER_ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/dossiers",
        dossiers.create,
        "Create a dossier on recorded consent",
        body=dossier_models.CreateDossierRequest,
        response=dossier_models.DossierSummary,
        status=201,
        problems=(DossierExists, *_DOSSIER_REFUSALS),
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
        problems=(DossierExists, *_DOSSIER_REFUSALS),
    ),
    Route(
        "PUT",
        "/v1/dossiers/{ins}/objection",
        dossiers.set_objection,
        "Register or withdraw the holder's objection (opt-out regime)",
        body=dossier_models.ObjectionRequest,
        status=204,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}",
        dossiers.summary,
        "The dossier as the caller may see it",
        response=dossier_models.DossierSummary,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "PUT",
        "/v1/dossiers/{ins}/medecin-traitant",
        dossiers.set_medecin_traitant,
        "Declare the médecin traitant",
        body=dossier_models.MedecinTraitantRequest,
        response=dossier_models.DossierSummary,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/grants",
        dossiers.grant,
        "Grant a professional access",
        body=dossier_models.GrantRequest,
        response=dossier_models.DossierSummary,
        status=201,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "DELETE",
        "/v1/dossiers/{ins}/grants/{professional}",
        dossiers.withdraw_grant,
        "Withdraw a grant",
        status=204,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/bans",
        dossiers.ban,
        "Ban a professional",
        body=dossier_models.BanRequest,
        response=dossier_models.DossierSummary,
        status=201,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "DELETE",
        "/v1/dossiers/{ins}/bans/{professional}",
        dossiers.lift_ban,
        "Lift a ban",
        status=204,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "PUT",
        "/v1/dossiers/{ins}/emergency-opposition",
        dossiers.emergency_opposition,
        "Oppose (or stop opposing) emergency access",
        body=dossier_models.EmergencyOppositionRequest,
        response=dossier_models.DossierSummary,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/emergency-access",
        dossiers.emergency_access,
        "Open time-limited emergency access",
        body=dossier_models.EmergencyAccessRequest,
        response=dossier_models.EmergencyAccessResponse,
        status=201,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "DELETE",
        "/v1/dossiers/{ins}/emergency-access/{emergency}",
        dossiers.end_emergency,
        "End one open emergency access (EM-4)",
        response=dossier_models.DossierSummary,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}/documents",
        dossiers.list_documents,
        "Documents the caller may read",
        response=dossier_models.DocumentList,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}/documents/{document}",
        dossiers.read_document,
        "A document with its content key sealed to each of the caller's devices",
        response=dossier_models.DocumentContent,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "PATCH",
        "/v1/dossiers/{ins}/documents/{document}",
        dossiers.patch_document,
        "Mask or hide a document",
        body=dossier_models.DocumentPatch,
        status=204,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "GET",
        "/v1/dossiers/{ins}/access-log",
        dossiers.access_log,
        "The hash-chained access log",
        response=log_models.AccessLog,
        problems=_DOSSIER_REFUSALS,
    ),
    Route(
        "POST",
        "/v1/dossiers/{ins}/close",
        dossiers.close,
        "Close the dossier",
        body=dossier_models.CloseRequest,
        response=dossier_models.DossierSummary,
        problems=_DOSSIER_REFUSALS,
        body_optional=True,
    ),
)
