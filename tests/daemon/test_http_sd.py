"""http_sd against a real HTTP server on loopback: refresh, failures keep the last good targets,
timeouts and size caps, redirects not followed, private addresses refused unless allowed, TLS verified."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter.config import Config, parse_config
from exporter.daemon.fleet import Fleet
from exporter.daemon.scheduler import Scheduler
from exporter.engine.store import ResultsStore
from exporter.http.exposition import Exposition
from sslfault_lab.pki import LabPKI
from tests.daemon.test_file_sd import until


@dataclass
class SdServer:
    """Serves whatever the test sets; remembers every request."""

    groups: Any = field(default_factory=list)
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0
    body: bytes | None = None  # raw, instead of groups
    requests: list[web.Request] = field(default_factory=list)
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if request.path == "/moved":
            raise web.HTTPFound("/elsewhere")
        await asyncio.sleep(self.delay)
        body = self.body if self.body is not None else json.dumps(self.groups).encode()
        return web.Response(status=self.status, body=body, content_type=self.content_type)


@pytest.fixture
async def server() -> AsyncIterator[SdServer]:
    sd = SdServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", sd.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sd.port = site._server.sockets[0].getsockname()[1]
    yield sd
    await runner.cleanup()


def sd_config(url: str, **options: Any) -> Config:
    entry = {"url": url, "refresh_interval": "100ms", "timeout": "2s", **options}
    return Config.model_validate({"defaults": {"checks": ["dns"]}, "discovery": {"http_sd": [entry]}})


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    store = ResultsStore()
    fleet = Fleet(Scheduler(store), store)
    yield fleet
    await fleet.stop()


def names(fleet: Fleet) -> set[str]:
    return {s.target.name for s in fleet.store.states()}


def metric(fleet: Fleet, prefix: str) -> float:
    text = Exposition(fleet.store).render().decode()
    return float(next(line for line in text.splitlines() if line.startswith(prefix)).rsplit(" ", 1)[1])


def errors(fleet: Fleet) -> float:
    return metric(fleet, 'sslfault_discovery_errors_total{mechanism="http_sd"}')


def last_error(fleet: Fleet) -> str:
    return str(fleet.status()["sources"][0]["error"])


async def test_targets_from_a_url_refreshed_and_kept_through_failures(server: SdServer, fleet: Fleet) -> None:
    server.groups = [{"targets": ["a.example.com", "b.example.com:8443"], "labels": {"__param_interval": "1m"}}]
    await fleet.start(sd_config(f"http://127.0.0.1:{server.port}/targets?token=s3cret", allow_private_addresses=True))
    assert names(fleet) == {"a.example.com", "b.example.com:8443"}, "known before the first schedule"
    a = fleet.store.get("a.example.com")
    assert a is not None and a.target.interval == 60 and a.target.checks == ("dns",)
    request = server.requests[0]
    assert request.headers["X-Prometheus-Refresh-Interval-Seconds"] == "0"
    assert request.headers["Accept"] == "application/json"
    assert fleet.status()["sources"][0]["source"] == f"http://127.0.0.1:{server.port}/targets", "no query in logs"

    server.groups = [{"targets": ["a.example.com", "c.example.com"]}]
    await until(lambda: names(fleet) == {"a.example.com", "c.example.com"}, "the refreshed list")
    assert metric(fleet, 'sslfault_discovery_targets{mechanism="http_sd"}') == 2

    failures: list[tuple[str, dict[str, Any]]] = [
        ("HTTP 500; expected 200", {"status": 500}),
        ("Content-Type 'text/html'; expected application/json", {"content_type": "text/html"}),
        ("not valid JSON", {"body": b"[{"}),
        ("label __param_bogus: unknown setting", {"groups": [{"targets": ["x.example.com"],
                                                              "labels": {"__param_bogus": "1"}}]}),
        ("body larger than max_bytes (16777216)", {"body": b"[" + b" " * (16 * 1024 * 1024 + 10) + b"]"}),
    ]
    for expected, change in failures:
        count = errors(fleet)
        for key, value in change.items():
            setattr(server, key, value)
        await until(lambda count=count: errors(fleet) > count, f"the failure {expected!r} to count")
        assert expected in last_error(fleet)
        assert names(fleet) == {"a.example.com", "c.example.com"}, "the last good targets stay"
        assert metric(fleet, 'sslfault_discovery_sources_failing{mechanism="http_sd"}') == 1
        server.status, server.content_type, server.body = 200, "application/json", None
        server.groups = [{"targets": ["a.example.com", "c.example.com"]}]
        await until(lambda: fleet.status()["sources"][0]["error"] is None, "recovery")


async def test_a_slow_server_times_out(server: SdServer, fleet: Fleet) -> None:
    server.groups, server.delay = [{"targets": ["a.example.com"]}], 1.0
    started = asyncio.get_running_loop().time()
    await fleet.start(sd_config(f"http://127.0.0.1:{server.port}/", allow_private_addresses=True, timeout="300ms"))
    assert asyncio.get_running_loop().time() - started < 1.5, "start waits at most the timeout"
    assert names(fleet) == set() and "no complete answer within 0.3s" in last_error(fleet)


async def test_redirects_are_not_followed(server: SdServer, fleet: Fleet) -> None:
    await fleet.start(sd_config(f"http://127.0.0.1:{server.port}/moved", allow_private_addresses=True))
    assert "HTTP 302 (redirects are not followed)" in last_error(fleet)
    assert [r.path for r in server.requests] == ["/moved"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_addresses_are_refused_unless_allowed(server: SdServer, fleet: Fleet, host: str) -> None:
    server.groups = [{"targets": ["a.example.com"]}]
    await fleet.start(sd_config(f"http://{host}:{server.port}/"))
    assert "allow_private_addresses: true" in last_error(fleet) and "not a public address" in last_error(fleet)
    assert server.requests == [], "nothing may reach the private address"
    assert names(fleet) == set() and errors(fleet) == 1


async def test_https_is_verified(server: SdServer, pki: LabPKI, tmp_path: Path) -> None:
    leaf = pki.issue_leaf(["localhost"])
    (tmp_path / "chain.pem").write_bytes(leaf.cert_pem + pki.ecc_intermediate.cert_pem)
    (tmp_path / "key.pem").write_bytes(leaf.key_pem)
    (tmp_path / "root.pem").write_bytes(pki.root_pem)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    app = web.Application()
    app.router.add_get("/", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    server.groups = [{"targets": ["tls.example.com"]}]
    try:
        for ca_file, expected in ((None, set()), (str(tmp_path / "root.pem"), {"tls.example.com"})):
            store = ResultsStore()
            fleet = Fleet(Scheduler(store), store)
            await fleet.start(sd_config(f"https://localhost:{port}/", allow_private_addresses=True, ca_file=ca_file))
            assert names(fleet) == expected
            if ca_file is None:
                assert "certificate verify failed" in last_error(fleet)
            await fleet.stop()
    finally:
        await runner.cleanup()


def test_bad_urls_are_config_errors() -> None:
    for url, message in (("ftp://x.example.com/t", "expected an http:// or https:// URL"),
                         ("https://user:pw@x.example.com/t", "credentials in the URL are not supported")):
        with pytest.raises(Exception, match=message):
            parse_config(f"discovery:\n  http_sd:\n    - url: '{url}'\n")


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::ffff:10.0.0.1", "127.0.0.1"])
def test_http_sd_private_forms_follow_the_fetch_guard(address: str) -> None:
    """NAT64 and 6to4 forms of the metadata address are private too (ip.is_global said otherwise)."""
    from exporter.discovery.http_sd import is_public

    assert not is_public(address)
