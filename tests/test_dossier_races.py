"""Two writers on one dossier through two independent Redis connections, as two server processes
would be: the one whose version check is lost decides again on a fresh snapshot, and after
``MAX_ATTEMPTS`` lost checks it gives up with ``dossier_busy`` (503, Retry-After).

The rival's write is made to land exactly between the loser's read and its commit (inside
``RacedStore.commit``, before the script runs), so each lost check is certain, not a matter of
timing; the version check itself is the real ``commit.lua`` on the real Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dossier_link.access_log import GENESIS, verify_chain
from dossier_link.changes import MAX_ATTEMPTS, Change, Changes
from dossier_link.checkpoints import CheckpointSigner
from dossier_link.errors import DossierBusy
from dossier_link.log_models import LogEntry
from dossier_link.models import ConsentRecord, DocumentRecord, DossierRecord
from dossier_link.policy import Actor, Decision
from dossier_link.store import DossierStore, Snapshot
from messaging import crypto
from messaging.client import AdminClient, LiaisonClient, enroll
from messaging.models import DossierHeader
from messaging.redis_link import RedisLink, connect
from messaging.server.problems import from_error
from messaging.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.dossiers import ADULT_BIRTH, new_ins, stored_log
from tests.processes import ServerProcess
from tests.support import new_rpps

INS = "146026322000196"
HOLDER = Actor(principal=f"patient:{INS}", kind="patient")
RIVAL = Actor(principal="rpps:10000000001", kind="professional")


class Notices:
    """Records what a writer notifies, with the item that makes a notification idempotent."""

    def __init__(self) -> None:
        self.sent: list[tuple[frozenset[str], str]] = []

    async def notify(
        self, principals: Iterable[str], body: Mapping[str, Any], item: str, *, hold: bool = False
    ) -> None:
        self.sent.append((frozenset(principals), item))


class RacedStore(DossierStore):
    """The real store, except that before each of its first ``races`` commits another writer
    (on its own connection) commits a change of its own to the same dossier."""

    def __init__(self, link: RedisLink, rival: Callable[[], Awaitable[object]], races: int) -> None:
        super().__init__(link)
        self._rival = rival
        self.races = races

    async def commit(
        self,
        version: int,
        record: DossierRecord,
        entries: Sequence[LogEntry],
        documents: Sequence[DocumentRecord] = (),
        drop_representation: str | None = None,
    ) -> bool:
        if self.races > 0:
            self.races -= 1
            await self._rival()
        return await super().commit(version, record, entries, documents, drop_representation)


def _changes(store: DossierStore, notices: Notices) -> Changes:
    signer = CheckpointSigner(crypto.SigningKey.generate(), lambda: datetime.now(UTC))
    return Changes(store, notices, signer)


@pytest.fixture
async def connections(settings: Settings) -> AsyncIterator[tuple[RedisLink, RedisLink]]:
    first, second = await connect(settings), await connect(settings)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def _create(changes: Changes) -> None:
    at = "2024-01-01T00:00:00.000Z"
    record = DossierRecord(
        ins=INS,
        holder=HOLDER.principal,
        birth_date="1946-02-01",
        consent=ConsentRecord(given_by="holder", name="Jeanne Martin", regime="express", at=at),
        created_at=at,
        log_head=GENESIS,
    )
    change = Change(record)
    change.log(HOLDER, "create", Decision.allow("holder"), datetime.now(UTC))
    assert await changes.commit(0, change)


def _viewed_by(actor: Actor, decided_on: list[int]) -> Callable[[Snapshot], Change]:
    def decide(snapshot: Snapshot) -> Change:
        decided_on.append(snapshot.version)
        change = Change(snapshot.record)
        change.log(actor, "view", Decision.allow("holder"), datetime.now(UTC))
        change.notify([HOLDER.principal], "dossier.accessed", actor=actor.principal)
        return change

    return decide


@dataclass
class Race:
    """The holder's writer, whose first ``races`` commits each lose to the rival's."""

    changes: Changes
    notices: Notices
    decided_on: list[int] = field(default_factory=list)
    """The version of each snapshot the holder's writer decided on."""
    rival_decided: list[int] = field(default_factory=list)

    async def view(self) -> None:
        await self.changes.apply(INS, _viewed_by(HOLDER, self.decided_on))


async def _race(connections: tuple[RedisLink, RedisLink], races: int) -> Race:
    mine, theirs = connections
    rival = _changes(DossierStore(theirs), Notices())
    await _create(rival)
    rival_decided: list[int] = []
    store = RacedStore(mine, lambda: rival.apply(INS, _viewed_by(RIVAL, rival_decided)), races)
    notices = Notices()
    return Race(_changes(store, notices), notices, rival_decided=rival_decided)


async def test_a_lost_version_check_is_decided_again_on_the_rivals_change(
    connections: tuple[RedisLink, RedisLink],
) -> None:
    """W-2: a concurrent change is never lost nor duplicated; the log stays one chain."""
    race = await _race(connections, races=1)

    await race.view()

    assert race.changes.lost_version_checks == 1
    # Decided on version 1, lost to the rival's commit (version 2), decided again on 2.
    assert (race.rival_decided, race.decided_on) == ([1], [1, 2])
    log = await stored_log(connections[0].client, INS)
    assert [(e["seq"], e["actor"], e["action"]) for e in log] == [
        (1, HOLDER.principal, "create"),
        (2, RIVAL.principal, "view"),
        (3, HOLDER.principal, "view"),
    ]
    assert verify_chain(log).ok
    # Only the committed attempt notifies, numbered by the entry it follows.
    assert race.notices.sent == [(frozenset({HOLDER.principal}), f"n:{INS}:3:0")]


async def test_a_dossier_that_keeps_moving_ends_in_dossier_busy(
    connections: tuple[RedisLink, RedisLink],
) -> None:
    race = await _race(connections, races=MAX_ATTEMPTS)

    with pytest.raises(DossierBusy) as busy:
        await race.view()

    assert race.changes.lost_version_checks == MAX_ATTEMPTS
    assert race.decided_on == list(range(1, MAX_ATTEMPTS + 1))
    assert race.rival_decided == race.decided_on
    log = await stored_log(connections[0].client, INS)
    assert [e["actor"] for e in log] == [HOLDER.principal] + [RIVAL.principal] * MAX_ATTEMPTS
    assert verify_chain(log).ok
    assert race.notices.sent == []
    response = from_error(busy.value)
    assert (response.status, response.headers["Retry-After"]) == (503, "1")
    assert json.loads(response.text or "")["code"] == "dossier_busy"


WRITES = 40


@pytest.mark.slow
async def test_two_server_processes_writing_one_dossier_lose_version_checks_and_retry(
    redis_url: str, tmp_path: Path
) -> None:
    """W-2 across processes: linked messages and logged views through two ``liaison serve``
    processes on one Redis all land, in one chain; the processes lost version checks to each
    other (their ``/metrics`` count them) and decided again."""
    # One data directory: both processes hold the same server and dossier keys.
    servers = [ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN) for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            server.start()
            stack.callback(server.stop)
        first, second = (server.url for server in servers)
        admin = await stack.enter_async_context(AdminClient(first, ADMIN_TOKEN))
        ins = new_ins(ADULT_BIRTH)

        async def device(principal: str, kind: str, url: str) -> LiaisonClient:
            birth = ADULT_BIRTH if kind == "patient" else None  # ID-4: the recorded identity
            await admin.create_principal(
                principal, kind, f"{kind} {principal[-4:]}", birth_date=birth
            )
            code = (await admin.enrollment_code(principal)).code
            identity = await enroll(first, principal, code, "poste")
            return await stack.enter_async_context(LiaisonClient(url, identity))

        holder = await device(f"patient:{ins}", "patient", first)
        gp_here = await device(new_rpps(), "professional", first)
        gp_there = await stack.enter_async_context(LiaisonClient(second, gp_here.identity))
        cardio = await device(new_rpps(), "professional", second)
        await holder.dossiers.create(ins, ADULT_BIRTH, {"given_by": "holder", "name": "Mme D"})
        await holder.dossiers.set_medecin_traitant(ins, gp_here.identity.principal)

        header = DossierHeader(ins=ins, type="compte_rendu", title="Compte rendu")
        holder_there = await stack.enter_async_context(LiaisonClient(second, holder.identity))
        # Linked messages from the GP and the holder's own views of the dossier, both logged,
        # half through each process.
        sent, _ = await asyncio.gather(
            asyncio.gather(
                *(
                    (gp_here, gp_there)[n % 2].send(
                        [cardio.identity.principal], f"CR {n}", "Examen normal.", dossier=header
                    )
                    for n in range(WRITES)
                )
            ),
            asyncio.gather(
                *((holder, holder_there)[n % 2].dossiers.summary(ins) for n in range(WRITES))
            ),
        )

        assert [r.dossier.status if r.dossier else None for r in sent] == ["attached"] * WRITES
        log = await holder.dossiers.access_log(ins)
        assert log.ok
        actions = [e["action"] for e in log.entries]
        assert (actions.count("write"), actions.count("view")) == (WRITES, WRITES)
        lost = [await _lost_version_checks(server.url) for server in servers]
        assert sum(lost) > 0, lost


async def _lost_version_checks(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        text = await response.text()
    [total] = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "liaison_dossier_lost_version_checks_total"
    ]
    return int(total)
