"""Where messaging meets the dossier store, one small adapter per role, each complete when built:

- ``DossierActors``: principals of the directory become policy actors (the handlers' lookup);
- ``DeviceNotifier``: dossier notifications become server-signed events in device queues, held
  for a principal without a device when asked (``dossier_link.changes.Notifier``);
- ``DirectoryDeviceKeys``: a reader's device keys, to re-seal a document for
  (``dossier_link.changes.DeviceKeys``);
- ``DirectoryIdentities``: the verified identity the operator recorded, a patient's birth date
  (``dossier_link.creation.Identities``);
- ``MessageLinker``: a message's dossier header goes to the dossier's linker, on behalf of its
  sender (``messaging.delivery.DossierLinker``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from dossier_link.documents import DossierDocuments
from dossier_link.linker import Linker
from dossier_link.policy import Actor
from dossier_link.store import DossierStore
from messaging import crypto
from messaging.auth import Caller
from messaging.delivery import ServerEvents
from messaging.directory import Directory
from messaging.errors import Forbidden, NotFound
from messaging.held_notices import HeldNotices
from messaging.models import DossierHeader, DossierOutcome
from messaging.timeutil import now


class DossierActors:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def actor(self, principal: str) -> Actor:
        record = await self._directory.principal(principal)
        return Actor(principal=record.id, kind=record.kind, roles=frozenset(record.roles))

    async def actors(self, principals: Iterable[str]) -> list[Actor]:
        """The registered ones among ``principals``, with their roles (RD-11)."""
        found = await self._directory.principals(principals)
        return [
            Actor(principal=r.id, kind=r.kind, roles=frozenset(r.roles)) for r in found.values()
        ]

    async def known_actor(self, principal: str) -> Actor:
        """The actor a request names (grantee, MT): it must be registered."""
        try:
            return await self.actor(principal)
        except NotFound as exc:
            # The detail never repeats what the client sent (docs/security.md).
            raise NotFound(
                "the professional named is not registered", field="professional"
            ) from exc


class DeviceNotifier:
    def __init__(self, directory: Directory, events: ServerEvents, held: HeldNotices) -> None:
        self._directory = directory
        self._events = events
        self._held = held

    async def notify(
        self, principals: Iterable[str], body: Mapping[str, Any], item: str, *, hold: bool = False
    ) -> None:
        by_owner = await self._directory.devices(principals)
        devices = [device for found in by_owner.values() for device in found]
        await self._events.emit(devices, "notification", body, item)
        if hold:  # for whoever has no device yet, until their first one enrolls
            for principal in (p for p, found in by_owner.items() if not found):
                await self._held.hold(principal, body, item)


class DirectoryDeviceKeys:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def box_keys(self, principal: str) -> dict[str, bytes]:
        found = (await self._directory.devices([principal]))[principal]
        return {d: crypto.b64u_decode(device.box_key) for d, device in found.items()}


class DirectoryIdentities:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def recorded_birth_date(self, principal: str) -> str | None:
        record = (await self._directory.principals([principal])).get(principal)
        return None if record is None or record.kind != "patient" else record.birth_date

    async def registered_patient(self, principal: str) -> bool:
        record = (await self._directory.principals([principal])).get(principal)
        return record is not None and record.kind == "patient"


class MessageLinker:
    def __init__(
        self, actors: DossierActors, linker: Linker, clock: Callable[[], datetime] = now
    ) -> None:
        self._actors = actors
        self._linker = linker
        self._clock = clock

    async def check_exchange(
        self, sender: str, header: DossierHeader, people: Iterable[str]
    ) -> None:
        actor = await self._actors.actor(sender)
        found = await self._actors.actors(people)
        await self._linker.check_exchange(actor, header, found, self._clock())

    async def attach(
        self, sender: str, envelope: Mapping[str, Any], header: DossierHeader
    ) -> DossierOutcome:
        actor = await self._actors.actor(sender)
        return await self._linker.attach(actor, envelope, header, self._clock())


class DossierBlobAccess:
    """Blobs kept with a dossier document (``messaging.blobs.DossierReaders``): reading one is
    reading the document, so the document's rules decide (RD) and the access log records it
    (TR) like any read; a refusal is logged too, and answered as a blob that does not exist."""

    def __init__(self, actors: DossierActors, documents: DossierDocuments, store: DossierStore):
        self._actors = actors
        self._documents = documents
        self._store = store

    async def may_read(self, caller: Caller, ins: str, document: str) -> bool:
        actor = await self._actors.actor(caller.principal)
        try:
            await self._documents.read(actor, ins, document, now())
        except (Forbidden, NotFound):
            return False
        return True

    async def document_exists(self, ins: str, document: str) -> bool:
        return await self._store.document(ins, document) is not None
