"""The HTTP side: /metrics, health and readiness, reload, the API, /probe and the status page, over the daemon."""

from __future__ import annotations

import asyncio
import json
import logging
import signal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from exporter.daemon.daemon import Daemon, watch_config
from exporter.http import statuspage
from exporter.http.exposition import Exposition
from exporter.http.keys import DAEMON, EXPOSITION
from exporter.http.probe import ProbeHandler
from exporter.http.webconfig import BasicAuth, PasswordChecks, WebConfig
from exporter.http.webconfig import middleware as webconfig_middleware
from exporter.views import all_views, target_detail

log = logging.getLogger(__name__)

def make_app(daemon: Daemon, web_config: WebConfig | None = None) -> web.Application:
    checks = PasswordChecks(BasicAuth(web_config.basic_auth_users)) if web_config and web_config.basic_auth_users \
        else None
    middlewares = [webconfig_middleware(web_config, checks)] if web_config else []
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    if checks is not None:
        pool = checks

        async def close_checks(_app: web.Application) -> None:
            pool.close()

        app.on_cleanup.append(close_checks)
    app[DAEMON] = daemon
    app[EXPOSITION] = Exposition(daemon.store)
    statuspage.register(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_put("/-/reload", reload)
    app.router.add_get("/probe", ProbeHandler())
    app.router.add_get("/api/targets", api_targets)
    app.router.add_get("/api/targets/{name}", api_target)
    app.router.add_get("/api/discovery", api_discovery)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_startup(app: web.Application) -> None:
    daemon = app[DAEMON]
    await daemon.start()
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(daemon.reload()))
    except (NotImplementedError, RuntimeError):  # not the main thread (tests) or no signals
        pass


async def _on_cleanup(app: web.Application) -> None:
    await app[DAEMON].stop()
    app[EXPOSITION].close()


async def metrics(request: web.Request) -> web.StreamResponse:
    # Off the event loop: a large fleet takes a while to render, and probes must keep their timing.
    parts = await request.app[EXPOSITION].render_parts_async()
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
    response.content_length = sum(len(part) for part in parts)
    await response.prepare(request)
    for part in parts:
        await response.write(part)
    await response.write_eof()
    return response


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def ready(request: web.Request) -> web.Response:
    store = request.app[DAEMON].store
    if store.all_probed():
        return web.Response(text="Ready\n")
    waiting = sum(1 for s in store.states() if s.last_run is None)
    return web.Response(status=503, text=f"Not ready: {waiting} target(s) not probed yet\n")


async def reload(request: web.Request) -> web.Response:
    ok, errors = await request.app[DAEMON].reload()
    if ok:
        return web.Response(text="Reloaded\n")
    # 500 like Prometheus' own /-/reload; the running config stays.
    return web.Response(status=500, text="Reload failed, the running config stays:\n" + "\n".join(errors) + "\n")


async def api_targets(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    views = all_views(daemon.store, daemon.scheduler.next_run_timestamp)
    return web.json_response({"targets": [v.as_json() for v in views]}, dumps=_dumps)


async def api_target(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    detail = target_detail(daemon.store, request.match_info["name"], daemon.scheduler.next_run_timestamp)
    if detail is None:
        return web.json_response({"error": "no such target"}, status=404)
    return web.json_response(detail, dumps=_dumps)


async def api_discovery(request: web.Request) -> web.Response:
    """Discovery sources (files, URLs) with their last error, and this replica's shard."""
    return web.json_response(request.app[DAEMON].fleet.status(), dumps=_dumps)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def parse_listen_address(text: str) -> tuple[str | None, int]:
    """':17753' (every interface, IPv4 and IPv6), '127.0.0.1:17753', '[::1]:17753', 'localhost:17753'.

    Raises ValueError with a message fit for the user."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected [HOST]:PORT with a port from 1 to 65535, e.g. :17753, got {text!r}")
    host = host.strip("[]")
    return (host or None), int(port)


async def serve(daemon: Daemon, listen: str, web_config: WebConfig | None = None,
                auto_reload_seconds: float | None = None) -> None:
    """Run the app until cancelled."""
    host, port = parse_listen_address(listen)
    runner = web.AppRunner(make_app(daemon, web_config), access_log=None)
    await runner.setup()
    ssl_context = web_config.ssl_context() if web_config else None
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    log.info("listening", extra={"address": f"{host or '*'}:{port}", "tls": ssl_context is not None,
                                 "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0]})
    watcher = None
    if auto_reload_seconds and daemon.config_path:
        watcher = asyncio.get_running_loop().create_task(watch_config(daemon, auto_reload_seconds))
    try:
        await asyncio.Event().wait()
    finally:
        if watcher:
            watcher.cancel()
        await runner.cleanup()
