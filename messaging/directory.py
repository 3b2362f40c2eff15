"""The annuaire: principals vouched for by the operator, and their devices' public keys."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import get_args

from pydantic import BaseModel, ConfigDict

from messaging import crypto, names, redis_keys
from messaging.cache import TtlCache
from messaging.errors import (
    InvalidRequest,
    NotFound,
    PrincipalExists,
    SimilarName,
    UnknownRecipient,
)
from messaging.identifiers import validate_rpps
from messaging.models import (
    KIND_PREFIX,
    CreatePrincipalRequest,
    DeviceHistory,
    DeviceRecord,
    DirectoryEntry,
    ListedKind,
    OwnDevice,
    PrincipalKind,
    PrincipalSummary,
    Role,
)
from messaging.redis_link import RedisClient
from messaging.redis_text import text
from messaging.timeutil import now_ms, rfc3339

CACHE_TTL = 30.0
"""Seconds a directory read is trusted without invalidation, should a message be missed."""

log = logging.getLogger(__name__)

_SEARCHABLE_KINDS = frozenset(get_args(ListedKind))
"""DESIGN §4: patients are not browsable; their names and INS are not even indexed."""
_SEARCH_SCAN = 200
"""Index entries read per search: enough for a page of results after filtering by profession."""


class StoredPrincipal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: PrincipalKind
    display_name: str
    profession: str | None = None
    roles: list[Role] = []
    members: list[str] | None = None
    birth_date: str | None = None
    """ID-4: a patient's verified birth date; never shown in the directory."""
    created_at: str

    def device_owners(self) -> list[str]:
        """Whose devices receive this principal's mail: an organisation's members, else itself."""
        return list(self.members or []) if self.kind == "organisation" else [self.id]

    def summary(self) -> PrincipalSummary:
        return PrincipalSummary(
            id=self.id,
            kind=self.kind,
            display_name=self.display_name,
            profession=self.profession,
            roles=list(self.roles),
        )


class StoredDevice(BaseModel):
    """A device as kept in its principal's index: its public keys and its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    owner: str
    name: str
    sign_key: str
    box_key: str
    box_key_signature: str
    created_at: str

    def public(self) -> DeviceRecord:
        return DeviceRecord.model_validate(self.model_dump(exclude={"name"}))

    def own(self) -> OwnDevice:
        return OwnDevice.model_validate(self.model_dump())


# The details never repeat the ids the client sent (docs/security.md).


def unknown_principal() -> NotFound:
    return NotFound("no registered principal has this id")


def unknown_device() -> NotFound:
    return NotFound("this principal has no device with this id")


def unknown_recipients(principal_ids: list[str]) -> UnknownRecipient:
    return UnknownRecipient("some recipients are not registered", recipients=principal_ids)


def _words(text: str) -> set[str]:
    return {word for word in text.lower().split() if word}


class Directory:
    """Reads are cached per process; ``invalidate`` drops a principal when its devices change."""

    def __init__(self, redis: RedisClient, cache_ttl: float = CACHE_TTL) -> None:
        self._redis = redis
        self._principals: TtlCache[str, StoredPrincipal] = TtlCache(cache_ttl)
        self._devices: TtlCache[str, dict[str, StoredDevice]] = TtlCache(cache_ttl)

    def invalidate(self, subject: str) -> None:
        if subject == "*":
            self._principals.clear()
            self._devices.clear()
        elif subject.startswith("p:"):
            self._principals.drop(subject[2:])
            self._devices.drop(subject[2:])

    async def create_principal(
        self, request: CreatePrincipalRequest
    ) -> tuple[StoredPrincipal, list[str]]:
        """The new principal and warnings for the operator (ID-3: never a refusal)."""
        if not request.id.startswith(KIND_PREFIX[request.kind]):
            raise InvalidRequest(
                f"a {request.kind} id starts with {KIND_PREFIX[request.kind]!r}", field="id"
            )
        if request.members is not None and request.kind != "organisation":
            raise InvalidRequest("only an organisation has members", field="members")
        if request.roles and request.kind != "professional":
            raise InvalidRequest("only a professional holds roles", field="roles")
        if request.birth_date is not None and request.kind != "patient":
            raise InvalidRequest("only a patient has a birth date here", field="birth_date")
        warnings: list[str] = []
        if request.kind == "professional":
            _, warnings = validate_rpps(request.id.removeprefix("rpps:"))
            for warning in warnings:
                log.warning("operator created %s: %s", request.id, warning)
        members = list(dict.fromkeys(request.members or []))
        if members:
            known = await self.principals(members)
            strangers = [m for m in members if m not in known or known[m].kind != "professional"]
            if strangers:
                raise InvalidRequest(
                    "organisation members must be existing professionals", members=strangers
                )
        lookalike = await self._lookalike(request)
        record = StoredPrincipal(
            id=request.id,
            kind=request.kind,
            display_name=request.display_name,
            profession=request.profession,
            roles=list(dict.fromkeys(request.roles)),
            members=members if request.kind == "organisation" else None,
            birth_date=request.birth_date,
            created_at=rfc3339(now_ms()),
        )
        created = await self._redis.set(
            redis_keys.principal(record.id), record.model_dump_json(), nx=True
        )
        if not created:
            raise PrincipalExists("a principal with this id is already registered")
        if record.kind in _SEARCHABLE_KINDS:
            index = {f"{word}\x00{record.id}": 0 for word in _words(record.display_name)}
            index[f"{record.id}\x00{record.id}"] = 0
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(redis_keys.DIRECTORY_NAMES, index)
                if lookalike is not None:
                    pipe.zadd(redis_keys.DIRECTORY_LOOKALIKES, {f"{lookalike}\x00{record.id}": 0})
                await pipe.execute()
        return record, warnings

    async def _lookalike(self, request: CreatePrincipalRequest) -> str | None:
        """The digest of the new name's skeleton (for the kinds others look up by name), once
        sure no other principal's name looks the same, unless the operator said it may.

        Patients are left out: nobody finds them by name, and homonyms among them are many.
        Two creations racing with look-alike names may both pass: the operator is one party,
        and the check is for its mistakes and for forged requests to it, not for a race.
        """
        if request.kind not in _SEARCHABLE_KINDS:
            return None
        shape = crypto.digest(names.skeleton(request.display_name).encode(), 16).hex()
        if not request.allow_similar_name:
            found = await self._redis.zrangebylex(
                redis_keys.DIRECTORY_LOOKALIKES, f"[{shape}\x00", f"[{shape}\x00\xff"
            )
            if found:
                raise SimilarName([text(entry).split("\x00", 1)[1] for entry in found])
        return shape

    async def principal(self, principal_id: str) -> StoredPrincipal:
        found = await self.principals([principal_id])
        if principal_id not in found:
            raise unknown_principal()
        return found[principal_id]

    async def principals(self, ids: Iterable[str]) -> dict[str, StoredPrincipal]:
        found: dict[str, StoredPrincipal] = {}
        missing: list[str] = []
        for principal_id in dict.fromkeys(ids):
            cached = self._principals.get(principal_id)
            if cached is None:
                missing.append(principal_id)
            else:
                found[principal_id] = cached
        if missing:
            async with self._redis.pipeline(transaction=False) as pipe:
                for principal_id in missing:
                    pipe.get(redis_keys.principal(principal_id))
                raw = await pipe.execute()
            for principal_id, value in zip(missing, raw, strict=True):
                if value is not None:
                    record = StoredPrincipal.model_validate_json(value)
                    self._principals.put(principal_id, record)
                    found[principal_id] = record
        return found

    async def devices(self, ids: Iterable[str]) -> dict[str, dict[str, StoredDevice]]:
        """Active devices of each principal, by principal then device id."""
        wanted = list(dict.fromkeys(ids))
        result = {p: cached for p in wanted if (cached := self._devices.get(p)) is not None}
        missing = [p for p in wanted if p not in result]
        if missing:
            async with self._redis.pipeline(transaction=False) as pipe:
                for principal_id in missing:
                    pipe.hgetall(redis_keys.principal_devices(principal_id))
                raw = await pipe.execute()
            for principal_id, found in zip(missing, raw, strict=True):
                devices = {
                    text(device_id): StoredDevice.model_validate_json(record)
                    for device_id, record in sorted(found.items())
                }
                self._devices.put(principal_id, devices)
                result[principal_id] = devices
        return {p: result[p] for p in wanted}

    async def device(self, principal_id: str, device_id: str) -> StoredDevice | None:
        """Read from Redis, never the cache: login must not outlive a revocation."""
        raw = await self._redis.hget(redis_keys.principal_devices(principal_id), device_id)
        return None if raw is None else StoredDevice.model_validate_json(raw)

    async def device_history(self, principal_id: str, device_id: str) -> DeviceHistory:
        """A device of the principal, active or revoked (then with ``revoked_at``)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(redis_keys.principal_devices(principal_id), device_id)
            pipe.hget(redis_keys.retired_devices(principal_id), device_id)
            active, retired = await pipe.execute()
        if active is not None:
            return DeviceHistory(**StoredDevice.model_validate_json(active).public().model_dump())
        if retired is not None:
            record = json.loads(retired)
            record.pop("name", None)
            return DeviceHistory.model_validate(record)
        raise unknown_device()

    async def reachable_devices(self, principals: Iterable[str]) -> dict[str, StoredDevice]:
        """Every active device behind these principals, organisations expanded to members."""
        wanted = list(principals)
        found = await self.principals(wanted)
        unknown = [p for p in wanted if p not in found]
        if unknown:
            raise unknown_recipients(unknown)
        owners = [owner for p in wanted for owner in found[p].device_owners()]
        by_owner = await self.devices(owners)
        return {
            device_id: device
            for devices in by_owner.values()
            for device_id, device in devices.items()
        }

    async def entry(self, principal_id: str) -> DirectoryEntry:
        record = await self.principal(principal_id)
        by_owner = await self.devices(record.device_owners())
        return DirectoryEntry(
            **record.summary().model_dump(),
            devices=[d.public() for devices in by_owner.values() for d in devices.values()],
            members=record.members,
        )

    async def listing(
        self, kind: ListedKind | None, after: str | None, limit: int
    ) -> tuple[list[PrincipalSummary], str | None]:
        """The operator's listing in id order: a page of principals (of ``kind``) after
        ``after``, and the ``after`` of the next page (None at the end). Every indexed
        principal's id is a word of its own in the name index, so the index alone lists them;
        patients are not indexed, so never listed (look one up by INS)."""
        prefix = KIND_PREFIX[kind] if kind is not None else ""
        start = f"({after}\x00{after}" if after else f"[{prefix}"
        ids: list[str] = []
        while len(ids) <= limit:  # one more than the page: whether a next page exists
            raw = await self._redis.zrangebylex(
                redis_keys.DIRECTORY_NAMES, start, f"[{prefix}\xff", start=0, num=_SEARCH_SCAN
            )
            for word, principal_id in (text(entry).split("\x00", 1) for entry in raw):
                if word == principal_id and principal_id.startswith(prefix):
                    ids.append(principal_id)
            if len(raw) < _SEARCH_SCAN:
                break
            start = f"({text(raw[-1])}"
        page = ids[:limit]
        records = await self.principals(page)
        following = page[-1] if len(ids) > limit else None
        return [records[p].summary() for p in page if p in records], following

    async def search(
        self, query: str, profession: str | None, limit: int
    ) -> list[PrincipalSummary]:
        """Prefix search on any word of the display name (or on the id), then by profession;
        never a patient, whoever asks (DESIGN §4)."""
        words = sorted(_words(query))
        first = words[0] if words else ""
        raw = await self._redis.zrangebylex(
            redis_keys.DIRECTORY_NAMES, f"[{first}", f"[{first}\xff", start=0, num=_SEARCH_SCAN
        )
        ids = list(dict.fromkeys(text(entry).split("\x00", 1)[1] for entry in raw))
        records = await self.principals(ids)
        results: list[PrincipalSummary] = []
        for record in records.values():
            if record.kind not in _SEARCHABLE_KINDS:
                # An index written before patients were left out of it.
                continue
            name_words = _words(record.display_name) | {record.id}
            if not all(any(w.startswith(q) for w in name_words) for q in words):
                continue
            if profession and (record.profession or "").lower() != profession.lower():
                continue
            results.append(record.summary())
            if len(results) >= limit:
                break
        return results
