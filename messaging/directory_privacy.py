"""Who may read a patient's directory record (DESIGN §4): patients are not browsable.

``patient:<ins>`` and its devices' keys answer the patient itself, its live recorded
representatives (``representation_store``, read from Redis at every call so a removal or an end
applies at once), and professionals, organisations and applications, who must already know the
INS. Any other caller gets the 404 of an unknown principal, in the same words. A refused read
sends Redis exactly what an allowed one for an unknown INS does before it (the holder's
representations, never the patient's record), so neither the answer nor its time tells whether
the INS is registered. Search leaves patients out in ``Directory.search`` itself. A message
follows the same rule (``require_addressable``): its refusal must not be the oracle the
directory is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from messaging.directory import Directory, unknown_device, unknown_principal, unknown_recipients
from messaging.errors import NotFound
from messaging.models import KIND_PREFIX, DeviceHistory, DirectoryEntry
from messaging.representation_store import RepresentationStore

PATIENT_PREFIX = KIND_PREFIX["patient"]


class PatientPrivacy:
    """The directory's reads of one principal's record, as ``caller`` may see them, and the
    recipients a sender may address."""

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
        await self._require_visible(caller, principal, unknown_principal())
        return await self._directory.entry(principal)

    async def device(self, caller: str, principal: str, device: str) -> DeviceHistory:
        await self._require_visible(caller, principal, unknown_device())
        return await self._directory.device_history(principal, device)

    async def require_addressable(self, sender: str, recipients: Sequence[str]) -> None:
        """A message to a patient the sender may not look up is refused as one to an unknown
        principal, before anything else is read: else its ``stale_devices`` answer would list
        the patient's devices, and the refusal would tell a registered INS from another."""
        hidden = [p for p in dict.fromkeys(recipients) if not await self._visible(sender, p)]
        if hidden:
            raise unknown_recipients(hidden)

    async def _require_visible(self, caller: str, principal: str, hidden: NotFound) -> None:
        if not await self._visible(caller, principal):
            raise hidden

    async def _visible(self, caller: str, principal: str) -> bool:
        if not principal.startswith(PATIENT_PREFIX) or caller == principal:
            return True
        if not caller.startswith(PATIENT_PREFIX):
            return True  # a professional, an organisation or an application
        holder = principal.removeprefix(PATIENT_PREFIX)
        return await self._representations.is_live_representative(holder, caller, self._clock())
