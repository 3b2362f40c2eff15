"""One route: what ``create_app`` registers and what ``/openapi.json`` says of it.

A route's operationId and tag come from its handler (``module_name`` and the module); its
problem responses from its ``auth``, ``body``, ``query``, path parameters and ``store``, plus
the errors it names in ``problems`` (``messaging.server.openapi``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from messaging.errors import LiaisonError

Auth = Literal["none", "device", "operator"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    auth: Auth = "device"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    problems: tuple[type[LiaisonError], ...] = ()
    """Refusals of this route beyond those its auth, body and parameters imply."""
    store: bool = True
    """Whether it calls Redis, so may answer 503 ``store_unavailable``."""
    produces: tuple[str, ...] = ("application/json",)
    """The media types of the success body."""
    body_optional: bool = False
    """Whether a request without a body is taken as the body model's defaults."""
