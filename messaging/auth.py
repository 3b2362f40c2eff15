"""Who is calling: the operator by its token, a device by challenge-response then bearer token."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

from messaging import crypto, redis_keys
from messaging.cache import TtlCache
from messaging.directory import Directory
from messaging.errors import InvalidChallenge, InvalidToken, OperatorOnly
from messaging.models import ChallengeResponse, TokenRequest, TokenResponse
from messaging.redis_link import RedisClient
from messaging.redis_text import text
from messaging.timeutil import now_ms, now_us

CHALLENGE_BYTES = 32
TOKEN_CACHE_TTL = 10.0
"""Seconds a token is trusted from the process cache; revocation also drops it at once."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated device and the principal it acts for."""

    principal: str
    device: str
    expires_ms: int
    """When the token this caller showed expires (ms since the epoch): a socket closes then."""


def secret_digest(secret: str) -> str:
    """What Redis keeps of a code or token: never the secret itself."""
    return crypto.digest(secret.encode(), 16).hex()


# Visible ASCII (issued tokens are RFC 6750 b64tokens; the operator's is configured). aiohttp
# hands over header bytes that are not UTF-8 as lone surrogates, which no digest or constant-time
# comparison can take: such a value is simply not a token.
_BEARER_TOKEN = re.compile(r"[!-~]+")


def bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and _BEARER_TOKEN.fullmatch(token) else None


class Authenticator:
    def __init__(
        self,
        redis: RedisClient,
        directory: Directory,
        *,
        admin_token: str,
        token_ttl: int,
        challenge_ttl: int,
        max_challenges: int,
    ) -> None:
        self._redis = redis
        self._directory = directory
        self._admin_token = admin_token.encode()
        self._token_ttl = token_ttl
        self._challenge_ttl = challenge_ttl
        self._max_challenges = max_challenges
        self._tokens: TtlCache[str, Caller] = TtlCache(TOKEN_CACHE_TTL)

    def invalidate(self, subject: str) -> None:
        if subject == "*":
            self._tokens.clear()
        elif subject.startswith("d:"):
            device = subject[2:]
            self._tokens.drop_where(lambda _key, caller: caller.device == device)

    def require_operator(self, token: str | None) -> None:
        if token is None:  # no credentials: 401 (RFC 9110), a wrong token 403
            raise InvalidToken("this call needs the operator token: send Authorization: Bearer")
        # Constant-time, so that response timing reveals nothing of the operator token.
        if not hmac.compare_digest(token.encode(), self._admin_token):
            raise OperatorOnly("this call needs the operator token")

    async def challenge(self, device: str) -> ChallengeResponse:
        # Unknown devices get a challenge too: the answer must not reveal which ids exist.
        value = crypto.b64u_encode(crypto.random_bytes(CHALLENGE_BYTES))
        key = redis_keys.challenges(device)
        # Scored by expiry in microseconds: in milliseconds, challenges issued within one
        # tied, and the bound below pushed out whichever sorted first, not the oldest.
        now = now_us()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {value: now + self._challenge_ttl * 1_000_000})
            # Bounded per device: a flood of challenges pushes out only the oldest ones, and
            # the device's key count and size stay put.
            pipe.zremrangebyrank(key, 0, -self._max_challenges - 1)
            pipe.expire(key, self._challenge_ttl)
            await pipe.execute()
        return ChallengeResponse(challenge=value, expires_in=self._challenge_ttl)

    async def issue_token(self, request: TokenRequest) -> TokenResponse:
        # Single use: whoever removes the challenge first is the only one to try it.
        key = redis_keys.challenges(request.device)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zscore(key, request.challenge)
            pipe.zrem(key, request.challenge)
            expires, consumed = await pipe.execute()
        if not consumed or expires is None or float(expires) <= now_us():
            raise InvalidChallenge("unknown, expired or already used challenge")
        owner = await self._redis.hget(redis_keys.device(request.device), "owner")
        device = (
            None if owner is None else await self._directory.device(text(owner), request.device)
        )
        if device is None:
            raise InvalidChallenge("unknown or revoked device")
        try:
            crypto.verify(
                crypto.b64u_decode(device.sign_key),
                crypto.CTX_AUTH,
                crypto.b64u_decode(request.challenge),
                crypto.b64u_decode(request.signature),
            )
        except crypto.CryptoError as exc:
            raise InvalidChallenge("the challenge signature does not verify") from exc
        secret = secrets.token_urlsafe(32)
        token = f"{request.device}.{secret}"
        digest = secret_digest(secret)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(redis_keys.token(request.device, digest), device.owner, ex=self._token_ttl)
            pipe.sadd(redis_keys.tokens(request.device), digest)
            pipe.expire(redis_keys.tokens(request.device), self._token_ttl)
            await pipe.execute()
        return TokenResponse(token=token, expires_in=self._token_ttl, principal=device.owner)

    async def authenticate(self, token: str | None) -> Caller:
        if token is None:
            raise InvalidToken("send Authorization: Bearer <token>")
        # Cached by the token itself: a hit costs no digest and no round trip.
        cached = self._tokens.get(token)
        if cached is not None:
            return cached
        device, dot, secret = token.partition(".")
        if not dot or not device.startswith("dev_") or len(device) != 30 or not secret:
            raise InvalidToken("malformed token")
        key = redis_keys.token(device, secret_digest(secret))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            principal, ttl_ms = await pipe.execute()
        if principal is None:
            raise InvalidToken("unknown or expired token")
        found = Caller(principal=text(principal), device=device, expires_ms=now_ms() + ttl_ms)
        # Never trust the cache past the token's own expiry.
        self._tokens.put(token, found, ttl=max(ttl_ms, 0) / 1000)
        return found
