"""Typed aiohttp application keys: what every handler may take from the app."""

from __future__ import annotations

from aiohttp import web

from exporter.daemon.daemon import Daemon
from exporter.http.exposition import Exposition

DAEMON = web.AppKey("daemon", Daemon)
EXPOSITION = web.AppKey("exposition", Exposition)
