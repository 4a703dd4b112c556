"""What the HTTP application holds, by typed key."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..core.engine import Engine
from ..core.tokens import Tokens
from .metrics import Metrics

ENGINE = web.AppKey("engine", Engine)
TOKENS: web.AppKey[Tokens | None] = web.AppKey("tokens")  # None: no token needed (no --require-auth)
METRICS = web.AppKey("metrics", Metrics)
LIVE = web.AppKey("live", set[asyncio.Task[object]])  # the open live streams, ended on shutdown
