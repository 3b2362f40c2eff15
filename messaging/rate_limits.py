"""Rate limits (DESIGN §4): budgets kept in Redis, so that they hold across processes.

Each budget is a GCRA (a token bucket kept as one timestamp, ``lua/limit.lua``) per subject:
a source address for the unauthenticated calls, a device for the authenticated ones. One key
per subject and budget, carrying its subject's hash tag, expiring once the bucket is full
again. A check is one script call: the send path carries it in the pipeline of its claim,
every other call sends it through the auto-pipeline with the calls of its event-loop turn.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from messaging import redis_keys
from messaging.errors import RateLimited
from messaging.idempotency import Check
from messaging.redis_link import RedisLink
from messaging.scripts import Call, Scripts
from messaging.settings import Settings


class Scope(StrEnum):
    ADDRESS = "address"
    DEVICE = "device"


class Budget(StrEnum):
    """The budgets, each named after the settings that size it (``limit_<name>_*``)."""

    CHALLENGE = "challenge"
    TOKEN = "token"  # noqa: S105 - the budget of token requests, not a secret
    ENROLL = "enroll"
    SEND = "send"
    FETCH = "fetch"
    DIRECTORY = "directory"
    CALLS = "calls"

    @property
    def scope(self) -> Scope:
        unauthenticated = (Budget.CHALLENGE, Budget.TOKEN, Budget.ENROLL)
        return Scope.ADDRESS if self in unauthenticated else Scope.DEVICE


@dataclass(frozen=True, slots=True)
class Rate:
    per_minute: int
    burst: int

    @property
    def interval_ms(self) -> float:
        return 60_000 / self.per_minute


def rates(settings: Settings) -> dict[Budget, Rate]:
    """Every budget that is on (``per_minute`` above 0), as the settings size it."""
    sized = {
        budget: Rate(
            getattr(settings, f"limit_{budget}_per_minute"),
            getattr(settings, f"limit_{budget}_burst"),
        )
        for budget in Budget
    }
    return {budget: rate for budget, rate in sized.items() if rate.per_minute > 0}


class RateLimits:
    def __init__(self, link: RedisLink, scripts: Scripts, rates: Mapping[Budget, Rate]) -> None:
        self._link = link
        self._scripts = scripts
        self._rates = dict(rates)

    def call(self, budget: Budget, subject: str) -> Call | None:
        """The script call spending one unit of ``subject``'s ``budget``; None when it is off."""
        rate = self._rates.get(budget)
        if rate is None:
            return None
        key = (
            redis_keys.address_budget(subject, budget)
            if budget.scope is Scope.ADDRESS
            else redis_keys.device_budget(subject, budget)
        )
        return Call.of(self._scripts.limit, [key], [repr(rate.interval_ms), rate.burst])

    def check_of(self, budget: Budget, subject: str) -> Check | None:
        """The check to carry in another pipeline; None when the budget is off."""
        call = self.call(budget, subject)
        return None if call is None else Check(call, functools.partial(self.judge, budget))

    @staticmethod
    def judge(budget: Budget, reply: Any) -> None:
        """Raise ``RateLimited`` when the script's ``reply`` refused the call."""
        wait_ms = int(reply)
        if wait_ms > 0:
            raise RateLimited(
                f"the {budget} budget of this {budget.scope} is spent for now",
                budget=str(budget),
                scope=str(budget.scope),
                retry_after=max(1, math.ceil(wait_ms / 1000)),
            )

    async def check(self, budget: Budget, subject: str) -> None:
        call = self.call(budget, subject)
        if call is not None:
            (reply,) = await self._link.run([call])
            self.judge(budget, reply)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Iterable[Network]
) -> str:
    """Whom an unauthenticated call counts against: the peer, unless it is a trusted proxy;
    then the nearest address of ``X-Forwarded-For`` that is not a trusted proxy (each proxy
    appends the address it heard from, so only the part the trusted ones wrote is believed).
    An IPv6 address counts as its /64, which one customer line usually gets whole."""
    proxies = tuple(trusted)
    hops = [part.strip() for header in forwarded_for for part in header.split(",")]
    address = _parsed(peer)
    while address is not None and hops and any(address in proxy for proxy in proxies):
        address = _parsed(hops.pop())
    if address is None:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.IPv6Network((address, 64), strict=False).network_address)
    return str(address)


def _parsed(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
