"""The people of the browser tests: professionals registered by the operator, a device enrolled
with the Python SDK, and the usual pair (Dr Martin in the browser, Dr Petit on the SDK)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from messaging.client import AdminClient, LiaisonClient, ReceivedMessage, ReceivedReceipt, enroll
from tests.support import new_rpps
from tests.web.pages import WebPage

E = TypeVar("E", ReceivedMessage, ReceivedReceipt)
OpenPage = Callable[..., Awaitable[WebPage]]


async def professional(admin: AdminClient, name: str, profession: str) -> str:
    principal = new_rpps()
    # The same people are registered again by each test on a server the tests share: the
    # operator confirms every Dr Alice Martin is another person (a homonym).
    await admin.create_principal(
        principal, "professional", name, profession=profession, allow_similar_name=True
    )
    return principal


async def sdk_device(admin: AdminClient, base_url: str, principal: str) -> LiaisonClient:
    code = (await admin.enrollment_code(principal)).code
    return LiaisonClient(base_url, await enroll(base_url, principal, code, "poste SDK"))


async def received(sdk: LiaisonClient, kind: type[E], count: int = 1) -> list[E]:
    """Events of ``kind`` for ``sdk`` (verified by the SDK), acking all it reads: waits for
    ``count`` of them; with ``count=0``, reads what is queued now."""
    found: list[E] = []
    deadline = asyncio.get_running_loop().time() + 10
    after = None
    while True:
        page = await sdk.fetch(after=after, wait=1 if count else 0)
        after = page.next or after
        found += [e for e in page.events if isinstance(e, kind)]
        if page.events:
            await sdk.ack([e.cursor for e in page.events if e.cursor])
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found


@dataclass(frozen=True)
class Pair:
    web: WebPage
    alice: str
    """Dr Alice Martin, enrolled in the browser of ``web``."""
    bruno: str
    """Dr Bruno Petit, whose device is ``sdk``."""
    sdk: LiaisonClient


@contextlib.asynccontextmanager
async def pair(open_page: OpenPage, admin: AdminClient, base_url: str) -> AsyncIterator[Pair]:
    alice = await professional(admin, "Dr Alice Martin", "médecin généraliste")
    bruno = await professional(admin, "Dr Bruno Petit", "cardiologue")
    web = await open_page(base_url)
    await web.enroll(alice, (await admin.enrollment_code(alice)).code)
    async with await sdk_device(admin, base_url, bruno) as sdk:
        yield Pair(web, alice, bruno, sdk)
