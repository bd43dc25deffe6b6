"""The HTTP side: /metrics, health and readiness, reload, and a landing page."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
import time
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from exporter import statefile, statuspage
from exporter.config import Config, ConfigError, load_config
from exporter.exposition import Exposition
from exporter.filewatch import CertFileWatcher
from exporter.probe_endpoint import ProbeHandler
from exporter.scheduler import Scheduler
from exporter.store import ResultsStore
from exporter.views import all_targets, target_detail
from exporter.webconfig import WebConfig
from exporter.webconfig import middleware as webconfig_middleware

log = logging.getLogger(__name__)

STATE_SAVE_SECONDS = 60.0


class Exporter:
    """The daemon's state: config, store, scheduler and the metrics registry."""

    def __init__(self, config: Config, config_path: str | None = None, state_file: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.state_file = state_file
        self._saver: asyncio.Task[None] | None = None
        self.store = ResultsStore()
        self.scheduler = Scheduler(self.store)
        self.file_watcher = CertFileWatcher(self.store)
        self.exposition = Exposition(self.store)
        self._reload_lock = asyncio.Lock()

    async def start(self) -> None:
        self.scheduler.apply(self.config)
        self.file_watcher.apply(self.config)
        if self.state_file:
            # Before the first runs: the saved results are served until fresh ones replace them.
            restored = statefile.restore(self.store, self.state_file)
            log.info("results restored from the state file", extra={"path": self.state_file, "targets": restored})
            self._saver = asyncio.get_running_loop().create_task(self._save_every(STATE_SAVE_SECONDS))
        self.scheduler.start()

    async def stop(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            await self.save_state()
        await self.file_watcher.stop()
        await self.scheduler.shutdown()

    async def save_state(self) -> None:
        if not self.state_file:
            return
        try:
            await asyncio.to_thread(statefile.save, self.store, self.state_file)
        except OSError as exc:
            log.error("cannot write the state file", extra={"path": self.state_file, "error": str(exc)})

    async def _save_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.save_state()

    async def reload(self) -> tuple[bool, list[str]]:
        """Re-read the config file; a bad file keeps the old config running."""
        if self.config_path is None:
            return False, ["no config file to reload (started without --config.file)"]
        async with self._reload_lock:
            try:
                config = load_config(self.config_path)
            except ConfigError as exc:
                self.store.reload.successful = False
                self.store.reload.last_error = "; ".join(exc.errors)
                for error in exc.errors:
                    log.error("config reload failed, keeping the running config", extra={"error": error})
                return False, exc.errors
            self.config = config
            self.scheduler.apply(config)
            self.file_watcher.apply(config)
            self.store.reload.successful = True
            self.store.reload.success_timestamp = time.time()
            self.store.reload.last_error = None
            log.info("config reloaded", extra={"targets": len(config.targets)})
            return True, []


def make_app(exporter: Exporter, web_config: WebConfig | None = None) -> web.Application:
    middlewares = [webconfig_middleware(web_config)] if web_config else []
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app["exporter"] = exporter
    statuspage.register(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_put("/-/reload", reload)
    app.router.add_get("/probe", ProbeHandler())
    app.router.add_get("/api/targets", api_targets)
    app.router.add_get("/api/targets/{name}", api_target)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_startup(app: web.Application) -> None:
    exporter: Exporter = app["exporter"]
    await exporter.start()
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(exporter.reload()))
    except (NotImplementedError, RuntimeError):  # not the main thread (tests) or no signals
        pass


async def _on_cleanup(app: web.Application) -> None:
    await app["exporter"].stop()


async def metrics(request: web.Request) -> web.Response:
    # Off the event loop: a large fleet takes a while to render, and probes must keep their timing.
    body = await asyncio.to_thread(request.app["exporter"].exposition.render)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def ready(request: web.Request) -> web.Response:
    store: ResultsStore = request.app["exporter"].store
    if store.all_probed():
        return web.Response(text="Ready\n")
    waiting = sum(1 for s in store.states() if s.last_run is None)
    return web.Response(status=503, text=f"Not ready: {waiting} target(s) not probed yet\n")


async def reload(request: web.Request) -> web.Response:
    ok, errors = await request.app["exporter"].reload()
    if ok:
        return web.Response(text="Reloaded\n")
    # 500 like Prometheus' own /-/reload; the running config stays.
    return web.Response(status=500, text="Reload failed, the running config stays:\n" + "\n".join(errors) + "\n")


async def api_targets(request: web.Request) -> web.Response:
    exporter: Exporter = request.app["exporter"]
    return web.json_response({"targets": all_targets(exporter.store, exporter.scheduler)}, dumps=_dumps)


async def api_target(request: web.Request) -> web.Response:
    exporter: Exporter = request.app["exporter"]
    detail = target_detail(exporter.store, exporter.scheduler, request.match_info["name"])
    if detail is None:
        return web.json_response({"error": "no such target"}, status=404)
    return web.json_response(detail, dumps=_dumps)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def parse_listen_address(text: str) -> tuple[str | None, int]:
    """':9793' (every interface, IPv4 and IPv6), '127.0.0.1:9793', '[::1]:9793', 'localhost:9793'.

    Raises ValueError with a message fit for the user."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected [HOST]:PORT with a port from 1 to 65535, e.g. :9793, got {text!r}")
    host = host.strip("[]")
    return (host or None), int(port)


async def serve(exporter: Exporter, listen: str, web_config: WebConfig | None = None,
                auto_reload_seconds: float | None = None) -> None:
    """Run the app until cancelled."""
    host, port = parse_listen_address(listen)
    runner = web.AppRunner(make_app(exporter, web_config), access_log=None)
    await runner.setup()
    ssl_context = web_config.ssl_context() if web_config else None
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    log.info("listening", extra={"address": f"{host or '*'}:{port}", "tls": ssl_context is not None})
    watcher = None
    if auto_reload_seconds and exporter.config_path:
        watcher = asyncio.get_running_loop().create_task(watch_config(exporter, auto_reload_seconds))
    try:
        await asyncio.Event().wait()
    finally:
        if watcher:
            watcher.cancel()
        await runner.cleanup()


def _file_signature(path: str) -> tuple[float, int, str] | None:
    try:
        data = Path(path).read_bytes()
        stat = Path(path).stat()
    except OSError:
        return None
    return stat.st_mtime, stat.st_size, hashlib.sha256(data).hexdigest()


async def watch_config(exporter: Exporter, every: float) -> None:
    """Reload when the config file's content changes (polling: works on any filesystem and with
    ConfigMap symlink swaps, where inotify on the file itself misses the change)."""
    assert exporter.config_path
    last = _file_signature(exporter.config_path)
    while True:
        await asyncio.sleep(every)
        current = _file_signature(exporter.config_path)
        if current is not None and last is not None and current[2] != last[2]:
            log.info("config file changed, reloading", extra={"path": exporter.config_path})
            await exporter.reload()
        if current is not None:
            last = current
