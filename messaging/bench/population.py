"""The people of a bench run, created through the real API: professionals with one device
each, one organisation of ``org_size`` of them, and patients whose dossiers every professional
may write to (the first professional is their médecin traitant, the others are grantees).

Identifiers and display names carry a random run number, so that repeated runs against one
long-lived server (``--server``) do not collide: not the ids, nor the names, which the directory
refuses when they look like another principal's (``similar_name``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import aiohttp

from messaging import crypto
from messaging.client import AdminClient, ApiError, DeviceIdentity, LiaisonClient, enroll
from messaging.identifiers import ins_key

SETUP_CONCURRENCY = 32
PATIENT_BIRTH = date(1960, 5, 17)

A = TypeVar("A")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Patient:
    identity: DeviceIdentity
    ins: str


@dataclass(frozen=True, slots=True)
class Population:
    run: int
    professionals: tuple[DeviceIdentity, ...]
    org: str
    org_members: tuple[str, ...]
    patients: tuple[Patient, ...]
    dossier_key: bytes

    def devices(self) -> list[DeviceIdentity]:
        return [*self.professionals, *(p.identity for p in self.patients)]

    def box_keys(self) -> dict[str, dict[str, bytes]]:
        """principal -> {device: box key}: what a directory lookup would return."""
        keys = {p.principal: {p.device_id: p.keys.box.public} for p in self.professionals}
        members = set(self.org_members)
        keys[self.org] = {
            p.device_id: p.keys.box.public for p in self.professionals if p.principal in members
        }
        return keys

    def sign_keys(self) -> dict[str, bytes]:
        return {d.device_id: d.keys.sign.public for d in self.devices()}


def run_number() -> int:
    return secrets.randbelow(1_000_000)


def rpps(run: int, index: int) -> str:
    return f"rpps:{run:06d}{index:05d}"


def display_name(label: str, run: int) -> str:
    """``label`` marked with its run. Rather than ``allow_similar_name`` on every creation: the
    look-alike check then still guards the bench against a real principal's name, and a person
    reading the directory of a shared server can tell one run's principals from another's."""
    return f"{label} (run {run:06d})"


def new_ins(run: int, index: int, birth: date = PATIENT_BIRTH) -> str:
    """A valid INS (sex, birth year and month, department 75, then a unique order number)."""
    first13 = f"1{birth.year % 100:02d}{birth.month:02d}75{(run % 10_000) * 100 + index:06d}"
    return f"{first13}{ins_key(first13):02d}"


async def bounded(limit: int, items: Iterable[A], job: Callable[[A], Awaitable[T]]) -> list[T]:
    """``job(item)`` for every item, at most ``limit`` at once; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: A) -> T:
        async with gate:
            return await job(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def enroll_device(
    admin: AdminClient,
    session: aiohttp.ClientSession,
    url: str,
    principal: str,
    kind: str,
    display_name: str,
    *,
    create: bool = True,
    birth_date: date | None = None,
) -> DeviceIdentity:
    if create:
        profession = "médecin" if kind == "professional" else None
        await admin.create_principal(
            principal, kind, display_name, profession=profession, birth_date=birth_date
        )
    code = await admin.enrollment_code(principal)
    return await enroll(url, principal, code.code, "bench", session=session)


async def device_token(session: aiohttp.ClientSession, url: str, device: DeviceIdentity) -> str:
    """A bearer token by the challenge/response of DESIGN §4, for calls the SDK does not make
    (dossier management, raw reads and the idle sockets)."""
    challenge = await call(
        session, "POST", f"{url}/v1/auth/challenge", None, {"device": device.device_id}
    )
    signature = device.keys.auth_signature(crypto.b64u_decode(challenge["challenge"]))
    answer = await call(
        session,
        "POST",
        f"{url}/v1/auth/token",
        None,
        {
            "device": device.device_id,
            "challenge": challenge["challenge"],
            "signature": crypto.b64u_encode(signature),
        },
    )
    return str(answer["token"])


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with session.request(method, url, json=body, headers=headers, params=params) as answer:
        if answer.status >= 400:
            problem: Any = {}
            if answer.content_type.endswith("json"):
                problem = await answer.json(content_type=None)
            code = problem.get("code") if isinstance(problem, dict) else None
            raise ApiError(
                answer.status,
                code if isinstance(code, str) else f"http_{answer.status}",
                f"{method} {url}",
                problem if isinstance(problem, dict) else {},
            )
        if answer.status == 204:
            return None
        return await answer.json(content_type=None)


async def create_population(
    session: aiohttp.ClientSession,
    url: str,
    admin_token: str,
    *,
    professionals: int,
    org_size: int,
    patients: int,
    with_dossiers: bool,
) -> Population:
    run = run_number()
    async with AdminClient(url, admin_token, session=session) as admin:
        pros = await bounded(
            SETUP_CONCURRENCY,
            range(professionals),
            lambda i: enroll_device(
                admin,
                session,
                url,
                rpps(run, i),
                "professional",
                display_name(f"Dr Bench {i}", run),
            ),
        )
        org = f"org:bench-{run:06d}"
        members = tuple(p.principal for p in pros[:org_size])
        await admin.create_principal(
            org, "organisation", display_name("Bench team", run), members=members
        )
        people: list[Patient] = []
        if with_dossiers:
            names = [p.principal for p in pros]
            people = await bounded(
                SETUP_CONCURRENCY,
                range(patients),
                lambda i: _patient(admin, session, url, run, i, names),
            )
    server = await call(session, "GET", f"{url}/v1/server", None)
    return Population(
        run, tuple(pros), org, members, tuple(people), crypto.b64u_decode(server["dossier_key"])
    )


async def _patient(
    admin: AdminClient,
    session: aiohttp.ClientSession,
    url: str,
    run: int,
    index: int,
    professionals: Sequence[str],
) -> Patient:
    """A holder who consents, names the first professional MT and grants all the others."""
    ins = new_ins(run, index)
    identity = await enroll_device(
        admin, session, url, f"patient:{ins}", "patient", "Mme Bench", birth_date=PATIENT_BIRTH
    )
    holder = LiaisonClient(url, identity, session=session).dossiers
    consent = {"given_by": "holder", "name": "Mme Bench"}
    await holder.create(ins, consent=consent)
    await holder.set_medecin_traitant(ins, professionals[0])
    for professional in professionals[1:]:
        await holder.grant(ins, professional, level="standard", basis="consent")
    return Patient(identity, ins)
