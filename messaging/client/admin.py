"""The operator's client (the registration authority) and device enrollment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import aiohttp
from pydantic import ValidationError

from dossier_link.models import DossierSummary, OperatorCreateDossierRequest
from dossier_link.policy import Protection
from messaging import crypto, models
from messaging.client.errors import SdkError, VerificationError, validation_detail
from messaging.client.http import HttpClient, parse, request_body, url_path
from messaging.client.identity import DeviceIdentity


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
    ) -> models.PrincipalSummary:
        try:
            request = models.CreatePrincipalRequest.model_validate(
                {
                    "id": principal,
                    "kind": kind,
                    "display_name": display_name,
                    "profession": profession,
                    "roles": list(roles),
                    "members": None if members is None else list(members),
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
        if not isinstance(answer, dict):
            raise SdkError("bad_response", "the created principal is not a JSON object")
        summary_fields = models.PrincipalSummary.model_fields
        return parse(
            models.PrincipalSummary, {k: v for k, v in answer.items() if k in summary_fields}
        )

    async def enrollment_code(self, principal: str) -> models.EnrollmentCodeResponse:
        answer = await self._request(
            "POST",
            url_path("v1", "admin", "principals", principal, "enrollment-codes"),
            token=self._admin_token,
        )
        return parse(models.EnrollmentCodeResponse, answer)

    async def create_dossier(
        self, ins: str, birth_date: date | str, protection: Protection | None = None
    ) -> DossierSummary:
        """Create a dossier without a consent record (CR-5, opt-out deployments only)."""
        body = request_body(
            OperatorCreateDossierRequest,
            {"ins": ins, "birth_date": birth_date, "protection": protection},
        )
        answer = await self._request(
            "POST", "/v1/admin/dossiers", token=self._admin_token, body=body
        )
        return parse(DossierSummary, answer)


async def enroll(
    base_url: str,
    principal: str,
    code: str,
    name: str,
    *,
    session: aiohttp.ClientSession | None = None,
) -> DeviceIdentity:
    """Generate this device's key pairs and enroll them with a one-time code."""
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
