"""Dossier refusals as domain errors, each with the policy's stable reason code."""

from __future__ import annotations

from typing import Any

from messaging.errors import Conflict, Forbidden, LiaisonError, NotFound


class DossierNotFound(NotFound):
    code = "dossier_not_found"
    title = "No dossier exists for this INS"


class DossierExists(Conflict):
    code = "dossier_exists"
    title = "A dossier already exists for this INS"


class DossierBusy(LiaisonError):
    status = 503
    code = "dossier_busy"
    title = "The dossier changed too often while this request was decided"
    retry_after = 1


class DossierRefused(Forbidden):
    """The rules of RULES.md refuse the action; ``reason`` is the policy's reason code."""

    code = "dossier_refused"
    title = "The dossier rules refuse this action"

    def __init__(self, reason: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.reason = reason

    def problem(self) -> dict[str, Any]:
        body = super().problem()
        body["code"] = self.reason
        body["type"] = f"https://liaison.invalid/problems/{self.reason}"
        return body


NO_SUCH_DOCUMENT = "no such document in this dossier"


def refusal(reason: str, detail: str) -> LiaisonError:
    if reason == "dossier_not_found":
        return DossierNotFound(detail)
    if reason == "document_not_found":
        # RD-10: exactly the answer for a document that does not exist.
        return NotFound(NO_SUCH_DOCUMENT)
    return DossierRefused(reason, detail)
