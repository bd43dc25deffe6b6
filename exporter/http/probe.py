"""GET /probe?target=HOST[&port=N][&format=json|prometheus]: run every enabled check now.

Not an open proxy: only configured targets, or host names matching `probe.allow_hosts`;
pattern-matched hosts that resolve to private or loopback addresses are refused unless
`probe.allow_private_addresses` is set. A semaphore bounds concurrent on-demand probes.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import time
from collections.abc import Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from exporter.config import Config, Target, TargetConfig, resolve_target
from exporter.daemon.daemon import Daemon
from exporter.engine.context import ProbeContext, Resources
from exporter.engine.runner import run_target
from exporter.http.collector import render_results
from exporter.http.keys import DAEMON
from exporter.models import CheckResult
from exporter.net.guard import deny_private, is_private
from exporter.report import build_report
from exporter.views import resolved_addresses


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def pick_target(config: Config, host: str, port: int | None,
                known: Iterable[Target] | None = None) -> tuple[Target, bool]:
    """The configured target for host[:port], or a default-settings target if a pattern allows it.

    `known`: the targets to look in (the daemon's fleet: discovered ones too, every shard's); default:
    the config's. Returns (target, configured)."""
    name = host.strip().lower().rstrip(".")
    targets = list(config.resolved_targets() if known is None else known)
    for target in targets:
        if target.host == name and (port is None or target.port == port):
            return target, True
    # A configured target by its `target` label (what an alert or the status page shows), as typed.
    for target in targets:
        if target.name == host.strip() and (port is None or target.port == port):
            return target, True
    if not any(fnmatch.fnmatchcase(name, p.lower()) for p in config.probe.allow_hosts):
        raise Refused(403, f"{host!r} is not a configured target and matches no probe.allow_hosts pattern")
    settings: dict[str, object] = {"host": name}
    if port is not None:
        settings["port"] = port
    try:
        return resolve_target(TargetConfig.model_validate(settings), config.defaults), False
    except ValidationError as exc:
        raise Refused(400, f"invalid target: {exc.errors()[0]['msg']}") from None


class ProbeHandler:
    def __init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None
        self._size = 0

    def _semaphore(self, size: int) -> asyncio.Semaphore:
        if self._slots is None or self._size != size:
            self._slots, self._size = asyncio.Semaphore(size), size
        return self._slots

    async def __call__(self, request: web.Request) -> web.Response:
        daemon = request.app[DAEMON]
        config: Config = daemon.config
        host = request.query.get("target", "")
        port_text = request.query.get("port")
        fmt = request.query.get("format", "json")
        try:
            if not host:
                raise Refused(400, "missing ?target=HOST")
            if fmt not in ("json", "prometheus"):
                raise Refused(400, "format must be json or prometheus")
            host, port_in_target = _split_host_port(host)
            port = int(port_text) if port_text else port_in_target
            if port is not None and not 0 < port < 65536:
                raise Refused(400, "port must be 1-65535")
            target, configured = pick_target(config, host, port, daemon.fleet.targets)
            slots = self._semaphore(config.probe.max_concurrent)
            if slots.locked():
                raise Refused(429, f"too many on-demand probes running (limit {config.probe.max_concurrent})")
            async with slots:
                started = time.monotonic()
                results = await self._probe(daemon, target, configured, config)
                duration = time.monotonic() - started
        except ValueError:
            return _error(400, "port must be a number")
        except Refused as exc:
            return _error(exc.status, exc.reason)
        if fmt == "prometheus":
            body = render_results(target, results, duration_seconds=duration)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
        report = build_report(target.host, target.port, resolved_addresses(results), results)
        return web.json_response(report, dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def _probe(self, daemon: Daemon, target: Target, configured: bool, config: Config) -> dict[str, CheckResult]:
        if configured or config.probe.allow_private_addresses:
            shared = daemon.scheduler.resources
            if shared is None:
                raise Refused(503, "the exporter is still starting")
            async with shared.use() as resources:  # a reload meanwhile closes it only after this run
                return await run_target(target, resources, ctx=ProbeContext(target, resources))
        # A host only a pattern allows: its own resources whose HTTP fetches (AIA, OCSP, CRL, page
        # resources) refuse private addresses too, so the probe cannot be steered inside the network.
        # Every connection the run opens (TLS, HTTP, direct DNS) is then checked against the same rule,
        # so answers that change between lookups and IP literals in certificates do not get around it.
        resources = Resources(config, deny_private_fetches=True)
        resolvers = config.resolver.endpoints()
        try:
            with deny_private(allowed_dns=resolvers):
                ctx = ProbeContext(target, resources)
                resolution = await ctx.resolution()
                private = [a for a in resolution.addresses if is_private(a)]
                if private:
                    raise Refused(403, f"{target.host} resolves to private or loopback address(es) "
                                       f"{', '.join(private)}; set probe.allow_private_addresses to allow")
                return await run_target(target, resources, ctx=ctx)
        finally:
            await resources.close()


def _split_host_port(text: str) -> tuple[str, int | None]:
    """'host', 'host:8443', '[2001:db8::1]:8443', '2001:db8::1' (blackbox-style ?target=)."""
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)  # ValueError -> 400 "port must be a number"
    return text, None


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)
