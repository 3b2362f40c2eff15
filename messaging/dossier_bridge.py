"""Where messaging meets the dossier store: principals become policy actors, notifications
become server-signed events in device queues, a message's dossier header goes to the linker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dossier_link.linker import Linker
from dossier_link.policy import Actor
from messaging import crypto
from messaging.delivery import ServerEvents
from messaging.directory import Directory
from messaging.errors import NotFound
from messaging.models import DossierHeader, DossierOutcome


def now() -> datetime:
    return datetime.now(UTC)


class DossierBridge:
    def __init__(self, directory: Directory, events: ServerEvents) -> None:
        self._directory = directory
        self._events = events
        self.linker: Linker | None = None

    async def actor(self, principal: str) -> Actor:
        record = await self._directory.principal(principal)
        return Actor(principal=record.id, kind=record.kind, roles=frozenset(record.roles))

    async def known_actor(self, principal: str) -> Actor:
        """The actor a request names (grantee, MT): it must be registered."""
        try:
            return await self.actor(principal)
        except NotFound as exc:
            raise NotFound(
                f"{principal} is not a registered principal", field="professional"
            ) from exc

    # dossier_link.changes.Notifier
    async def notify(self, principals: Iterable[str], body: Mapping[str, Any], item: str) -> None:
        by_owner = await self._directory.devices(principals)
        devices = [device for found in by_owner.values() for device in found]
        await self._events.emit(devices, "notification", body, item)

    # dossier_link.changes.DeviceKeys
    async def box_keys(self, principal: str) -> dict[str, bytes]:
        found = (await self._directory.devices([principal]))[principal]
        return {d: crypto.b64u_decode(device.box_key) for d, device in found.items()}

    # messaging.delivery.DossierLinker
    async def check_exchange(
        self, sender: str, header: DossierHeader, people: Iterable[str]
    ) -> None:
        assert self.linker is not None
        await self.linker.check_exchange(await self.actor(sender), header, people, now())

    async def attach(
        self, sender: str, envelope: Mapping[str, Any], header: DossierHeader
    ) -> DossierOutcome:
        assert self.linker is not None
        return await self.linker.attach(await self.actor(sender), envelope, header, now())
