"""Who may read a patient's directory record (DESIGN §4): patients are not browsable.

``patient:<ins>`` and its devices' keys answer the patient itself, its live recorded
representatives (``representation_store``, read from Redis at every call so a removal or an end
applies at once), and professionals, organisations and applications, who must already know the
INS. Any other caller gets the 404 of an unknown principal, in the same words. A refused read
sends Redis exactly what an allowed one for an unknown INS does before it (the holder's
representations, never the patient's record), so neither the answer nor its time tells whether
the INS is registered. Search leaves patients out in ``Directory.search`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from messaging.directory import Directory, unknown_device, unknown_principal
from messaging.errors import NotFound
from messaging.models import KIND_PREFIX, DeviceHistory, DirectoryEntry
from messaging.representation_store import RepresentationStore

PATIENT_PREFIX = KIND_PREFIX["patient"]


class PatientPrivacy:
    """The directory's reads of one principal's record, as ``caller`` may see them."""

    def __init__(
        self,
        directory: Directory,
        representations: RepresentationStore,
        clock: Callable[[], datetime],
    ) -> None:
        self._directory = directory
        self._representations = representations
        self._clock = clock

    async def entry(self, caller: str, principal: str) -> DirectoryEntry:
        await self._require_visible(caller, principal, unknown_principal(principal))
        return await self._directory.entry(principal)

    async def device(self, caller: str, principal: str, device: str) -> DeviceHistory:
        await self._require_visible(caller, principal, unknown_device(principal, device))
        return await self._directory.device_history(principal, device)

    async def _require_visible(self, caller: str, principal: str, hidden: NotFound) -> None:
        if not principal.startswith(PATIENT_PREFIX) or caller == principal:
            return
        if not caller.startswith(PATIENT_PREFIX):
            return  # a professional, an organisation or an application
        holder = principal.removeprefix(PATIENT_PREFIX)
        if not await self._representations.is_live_representative(holder, caller, self._clock()):
            raise hidden
