"""The operator's client (the registration authority) and device enrollment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from urllib.parse import urlencode

import aiohttp
from pydantic import ValidationError

from dossier_link.models import DossierSummary, OperatorCreateDossierRequest
from dossier_link.policy import Protection
from messaging import crypto, models
from messaging.client.errors import SdkError, VerificationError, validation_detail
from messaging.client.http import HttpClient, parse, request_body, url_path
from messaging.client.identity import DeviceIdentity
from messaging.representations import (
    CreateRepresentationRequest,
    RepresentationCreated,
    RepresentationKind,
    RepresentationList,
    RepresentationQuery,
    RepresentationView,
)


class AdminClient(HttpClient):
    """The registration authority's calls, with the operator token."""

    def __init__(
        self, base_url: str, admin_token: str, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        super().__init__(base_url, session)
        self._admin_token = admin_token

    async def create_principal(
        self,
        principal: str,
        kind: str,
        display_name: str,
        *,
        profession: str | None = None,
        roles: Sequence[str] = (),
        members: Sequence[str] | None = None,
        birth_date: date | str | None = None,
        allow_similar_name: bool = False,
    ) -> models.CreatedPrincipal:
        """Register a principal; its ``warnings`` are for the operator to check (ID-3: an RPPS
        number failing the Luhn check is accepted with one), never reasons it was refused.
        ``birth_date`` (patients only) is the verified identity's (ID-4): ``YYYY-MM-DD``, or
        ``YYYY-MM`` / ``YYYY`` when the rest is unknown."""
        try:
            request = models.CreatePrincipalRequest.model_validate(
                {
                    "id": principal,
                    "kind": kind,
                    "display_name": display_name,
                    "profession": profession,
                    "roles": list(roles),
                    "members": None if members is None else list(members),
                    "birth_date": _date_text(birth_date),
                    "allow_similar_name": allow_similar_name,
                }
            )
        except ValidationError as exc:
            raise SdkError("invalid_request", validation_detail(exc)) from exc
        answer = await self._request(
            "POST",
            "/v1/admin/principals",
            token=self._admin_token,
            body=request.model_dump(exclude_none=True),
        )
        return parse(models.CreatedPrincipal, answer)

    async def list_principals(
        self, *, kind: str | None = None, after: str | None = None, limit: int = 100
    ) -> models.PrincipalList:
        """One page of the registered principals (of ``kind``) in id order; pass the page's
        ``next`` as ``after`` for the following one (None: that was the last)."""
        params = {"limit": str(limit)}
        if kind is not None:
            params["kind"] = kind
        if after is not None:
            params["after"] = after
        answer = await self._request(
            "GET", "/v1/admin/principals", token=self._admin_token, params=params
        )
        return parse(models.PrincipalList, answer)

    async def enrollment_code(self, principal: str) -> models.EnrollmentCodeResponse:
        """A single-use code with which a device of ``principal`` enrolls (``enroll``)."""
        answer = await self._request(
            "POST",
            url_path("v1", "admin", "principals", principal, "enrollment-codes"),
            token=self._admin_token,
        )
        return parse(models.EnrollmentCodeResponse, answer)

    async def create_dossier(
        self, ins: str, birth_date: date | str | None = None, protection: Protection | None = None
    ) -> DossierSummary:
        """Create a dossier without a consent record (CR-5, CR-9, opt-out deployments only);
        the birth date defaults to the one recorded with the patient."""
        body = request_body(
            OperatorCreateDossierRequest,
            {"ins": ins, "birth_date": _date_text(birth_date), "protection": protection},
        )
        answer = await self._request(
            "POST", "/v1/admin/dossiers", token=self._admin_token, body=body
        )
        return parse(DossierSummary, answer)

    # representations (DESIGN §4): facts the registration authority verified

    async def add_representation(
        self,
        holder: str,
        representative: str,
        kind: RepresentationKind,
        evidence: str,
        *,
        valid_until: str | None = None,
    ) -> str:
        """Record that ``representative`` (a ``patient:`` principal) represents the holder of
        INS ``holder``; returns the representation's id."""
        body = request_body(
            CreateRepresentationRequest,
            {
                "holder": holder,
                "representative": representative,
                "kind": kind,
                "evidence": evidence,
                "valid_until": valid_until,
            },
        )
        answer = await self._request(
            "POST", "/v1/admin/representations", token=self._admin_token, body=body
        )
        return parse(RepresentationCreated, answer).id

    async def representations(
        self, *, holder: str | None = None, representative: str | None = None
    ) -> list[RepresentationView]:
        """The representations of a holder (INS) or held by a representative: give one."""
        query = request_body(
            RepresentationQuery, {"holder": holder, "representative": representative}
        )
        answer = await self._request(
            "GET",
            "/v1/admin/representations?" + urlencode(query),
            token=self._admin_token,
        )
        return parse(RepresentationList, answer).representations

    async def remove_representation(self, representation_id: str) -> None:
        """End the representation at once: its rights stop in every server process."""
        await self._request(
            "DELETE",
            url_path("v1", "admin", "representations", representation_id),
            token=self._admin_token,
        )


def _date_text(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


async def enroll(
    base_url: str,
    principal: str,
    code: str,
    name: str,
    *,
    session: aiohttp.ClientSession | None = None,
) -> DeviceIdentity:
    """Generate this device's key pairs and enroll them with a one-time code. Nothing is
    written to disk: ``save`` the returned identity, or its secret keys are lost with it."""
    keys = crypto.DeviceKeys.generate()
    body = {
        "principal": principal,
        "enrollment_code": code,
        "name": name,
        "sign_key": crypto.b64u_encode(keys.sign.public),
        "box_key": crypto.b64u_encode(keys.box.public),
        "box_key_signature": crypto.b64u_encode(keys.box_key_signature()),
        "proof": crypto.b64u_encode(keys.enrollment_proof(code)),
    }
    async with HttpClient(base_url, session) as http:
        answer = parse(
            models.EnrolledDeviceResponse, await http._request("POST", "/v1/devices", body=body)
        )
    if answer.principal != principal:
        raise VerificationError("principal_mismatch", f"enrolled for {answer.principal}")
    return DeviceIdentity(base_url.rstrip("/"), principal, answer.device, keys)
