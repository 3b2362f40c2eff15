"""Typed application keys: every object a handler reaches through the app."""

from __future__ import annotations

from aiohttp import web

from dossier_link.service import DossierService
from messaging.auth import Authenticator
from messaging.blobs import Blobs
from messaging.delivery import Delivery
from messaging.devices import Devices
from messaging.directory import Directory
from messaging.directory_privacy import PatientPrivacy
from messaging.dossier_bridge import DossierActors
from messaging.mailbox import Mailbox
from messaging.models import ServerInfo
from messaging.rate_limits import RateLimits
from messaging.redis_link import RedisLink
from messaging.server.metrics import Metrics
from messaging.settings import Settings
from messaging.wakeup import WakeHub

SETTINGS = web.AppKey("settings", Settings)
SERVER_INFO = web.AppKey("server_info", ServerInfo)
REDIS_LINK = web.AppKey("redis_link", RedisLink)
AUTH = web.AppKey("auth", Authenticator)
LIMITS = web.AppKey("limits", RateLimits)
DIRECTORY = web.AppKey("directory", Directory)
PATIENT_PRIVACY = web.AppKey("patient_privacy", PatientPrivacy)
DEVICES = web.AppKey("devices", Devices)
MAILBOX = web.AppKey("mailbox", Mailbox)
DELIVERY = web.AppKey("delivery", Delivery)
WAKE_HUB = web.AppKey("wake_hub", WakeHub)
DOSSIERS = web.AppKey("dossiers", DossierService)
DOSSIER_ACTORS = web.AppKey("dossier_actors", DossierActors)
METRICS = web.AppKey("metrics", Metrics)
BLOBS = web.AppKey("blobs", Blobs)
