"""The lab orchestrator: one random 127.x.y.0/24, one address per scenario, one shared port.

Address plan inside the /24: .1 the DNS server (ns.<domain>), .2 the PKI web server
(pki.<domain>, AIA caIssuers), .3-.9 free for later servers, .10 upwards one per
scenario endpoint, .254 never used (the "expected" address of unexpected-address).
Every TCP service listens on the same port P on its own address, and so does the DNS
server (UDP and TCP), so a client needs one port number and one name server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import shutil
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sslfault_lab.dns_server import DnsServer, RecordSpec
from sslfault_lab.pki import LabPKI
from sslfault_lab.scenarios import SPECS, Endpoint, Scenario, ScenarioSpec, Served
from sslfault_lab.servers import (
    FilteredListener,
    HttpResponse,
    HttpService,
    HttpSite,
    NotTlsService,
    Service,
    StallService,
    TlsIdentity,
    TlsService,
    bind_tcp,
    stop_all,
)

__all__ = ["Lab", "LabThread", "Scenario"]

log = logging.getLogger(__name__)
T = TypeVar("T")

BIND_ATTEMPTS = 8
FIRST_SCENARIO_OCTET = 10
UNUSED_OCTET = 254
TTL = 60


@dataclass(frozen=True)
class _Placed:
    """One scenario endpoint with its address."""

    spec: ScenarioSpec
    index: int
    endpoint: Endpoint
    address: str


class Lab:
    """Servers and DNS that reproduce each fault. `async with Lab() as lab: ...`"""

    def __init__(
        self, domain: str = "lab.test", *, specs: Iterable[ScenarioSpec] = SPECS, now: dt.datetime | None = None
    ) -> None:
        self.domain = domain
        self.specs = tuple(specs)
        self.now = now
        # The TLD too, so name climbs (CAA) end in NOERROR as on the Internet, not REFUSED.
        self.tld = domain.rsplit(".", 1)[-1]
        self.dns = DnsServer(zones=[domain, self.tld])
        self.scenarios: dict[str, Scenario] = {}
        self.network = ""  # "127.x.y", set by start()
        self.port = 0
        self.workdir = ""
        self.root_ca_file = ""
        self.pki: LabPKI
        self._sockets: dict[str, socket.socket] = {}
        self._services: list[Service] = []
        self._placed: list[_Placed] = []

    # -- public attributes ---------------------------------------------------------------

    def address(self, last_octet: int) -> str:
        return f"{self.network}.{last_octet}"

    @property
    def dns_address(self) -> str:
        return self.address(1)

    @property
    def dns_port(self) -> int:
        return self.port

    @property
    def nameserver(self) -> str:
        return f"{self.dns_address}:{self.dns_port}"

    @property
    def pki_address(self) -> str:
        return self.address(2)

    @property
    def pki_base_url(self) -> str:
        return f"http://pki.{self.domain}:{self.port}"

    def host(self, name: str) -> str:
        return f"{name}.{self.domain}"

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> Self:
        self.workdir = tempfile.mkdtemp(prefix="sslfault-lab-")
        try:
            await self._claim_addresses()
            # Key generation is CPU work: keep the loop free for a parallel lab.
            self.pki = await asyncio.to_thread(LabPKI, self.pki_base_url, self.now)
            identities = await asyncio.to_thread(self._write_identities)
            await self._start_services(identities)
            self._configure_dns()
            self.scenarios = {spec.name: self._scenario(spec, identities) for spec in self.specs}
        except BaseException:
            await self.stop()
            raise
        log.info("lab up on %s.0/24 port %d (workdir %s)", self.network, self.port, self.workdir)
        return self

    async def stop(self) -> None:
        await stop_all(self._services)
        self._services = []
        for sock in self._sockets.values():
            sock.close()
        self._sockets = {}
        await self.dns.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- addresses -------------------------------------------------------------------------

    def _place(self) -> list[_Placed]:
        placed, octet = [], FIRST_SCENARIO_OCTET
        for spec in self.specs:
            for index, endpoint in enumerate(spec.endpoints):
                placed.append(_Placed(spec, index, endpoint, self.address(octet)))
                octet += 1
        if octet >= UNUSED_OCTET:
            raise ValueError("too many scenario endpoints for one /24")
        return placed

    async def _claim_addresses(self) -> None:
        """Bind every listening address on one port; on any clash try another /24."""
        for attempt in range(BIND_ATTEMPTS):
            self.network = f"127.{random.randint(100, 250)}.{random.randint(0, 255)}"
            self._placed = self._place()
            listening = [self.pki_address] + [p.address for p in self._placed if p.endpoint.kind != "refused"]
            try:
                first = bind_tcp(listening[0], 0)
                self._sockets = {listening[0]: first}
                self.port = first.getsockname()[1]
                for address in listening[1:]:
                    self._sockets[address] = bind_tcp(address, self.port)
                await self.dns.start(self.dns_address, self.port)
                return
            except OSError as exc:
                log.debug("lab: %s.0/24 port %d busy (%s), retrying", self.network, self.port, exc)
                for sock in self._sockets.values():
                    sock.close()
                self._sockets = {}
                await self.dns.stop()
                if attempt == BIND_ATTEMPTS - 1:
                    raise

    # -- certificates and services ---------------------------------------------------------

    def _write(self, stem: str, served: Served) -> TlsIdentity:
        chain, key = Path(self.workdir, f"{stem}.chain.pem"), Path(self.workdir, f"{stem}.key.pem")
        chain.write_bytes(served.chain_pem())
        key.write_bytes(served.key_pem())
        key.chmod(0o600)
        return TlsIdentity(str(chain), str(key))

    def _write_identities(self) -> dict[tuple[str, int], tuple[TlsIdentity, TlsIdentity | None]]:
        """Build and write every TLS endpoint's files: (as served with SNI, as served without)."""
        root = Path(self.workdir, "root.pem")
        root.write_bytes(self.pki.root_pem)
        self.root_ca_file = str(root)
        identities: dict[tuple[str, int], tuple[TlsIdentity, TlsIdentity | None]] = {}
        for p in self._placed:
            if p.endpoint.kind != "tls" or p.endpoint.build is None:
                continue
            host = self.host(p.spec.name)
            stem = p.spec.name if p.index == 0 else f"{p.spec.name}.{p.index}"
            main = self._write(stem, p.endpoint.build(self.pki, host))
            no_sni = self._write(f"{stem}.default", p.endpoint.no_sni(self.pki, host)) if p.endpoint.no_sni else None
            identities[(p.spec.name, p.index)] = (main, no_sni)
        return identities

    async def _start_services(self, identities: dict[tuple[str, int], tuple[TlsIdentity, TlsIdentity | None]]) -> None:
        pki_site = HttpSite.documents(self.pki.published())
        await self._run(HttpService(pki_site), self.pki_address)
        for p in self._placed:
            kind = p.endpoint.kind
            if kind == "tls":
                main, no_sni = identities[(p.spec.name, p.index)]
                # HSTS on, so the scenarios show only the fault they are built for (hsts_missing has its own).
                site = HttpSite(default=HttpResponse(200, f"lab scenario {p.spec.name}\n".encode(),
                                                     headers=(("Strict-Transport-Security", "max-age=31536000"),)))
                sni = {self.host(p.spec.name): main} if no_sni else None
                await self._run(TlsService(no_sni or main, site, sni), p.address)
            elif kind == "stall":
                await self._run(StallService(), p.address)
            elif kind == "not-tls":
                await self._run(NotTlsService(), p.address)
            elif kind == "filtered":
                await self._run(FilteredListener(), p.address)

    async def _run(self, service: Service, address: str) -> None:
        # The service owns the socket from now on; forget it so stop() closes it once.
        sock = self._sockets.pop(address)
        self._services.append(service)
        await service.start(sock)

    # -- DNS and the scenario table --------------------------------------------------------------

    def _configure_dns(self) -> None:
        self.dns.set_records(self._zone_records())
        for spec in self.specs:
            if spec.dns == "servfail":
                self.dns.set_behaviour(self.host(spec.name), "servfail")

    def _zone_records(self) -> dict[str, list[RecordSpec]]:
        d = self.domain
        records: dict[str, list[RecordSpec]] = {
            d: [("SOA", TTL, f"ns.{d}. hostmaster.{d}. 1 3600 600 86400 {TTL}"), ("NS", TTL, f"ns.{d}.")],
            self.tld: [("SOA", TTL, f"ns.{d}. hostmaster.{d}. 1 3600 600 86400 {TTL}"), ("NS", TTL, f"ns.{d}.")],
            f"ns.{d}": [("A", TTL, self.dns_address)],
            f"pki.{d}": [("A", TTL, self.pki_address)],
        }
        for p in self._placed:
            if p.spec.dns == "address":
                records.setdefault(self.host(p.spec.name), []).append(("A", TTL, p.address))
        return records

    def _scenario(self, spec: ScenarioSpec, identities: dict[tuple[str, int], tuple[TlsIdentity, TlsIdentity | None]]) -> Scenario:
        addresses = tuple(p.address for p in self._placed if p.spec is spec)
        main = identities.get((spec.name, 0))
        return Scenario(
            name=spec.name,
            host=self.host(spec.name),
            port=self.port,
            addresses=addresses if spec.dns == "address" else (),
            expected_faults=spec.faults,
            description=spec.description,
            chain_file=main[0].chain_file if main else None,
            key_file=main[0].key_file if main else None,
            expected_addresses=(self.address(UNUSED_OCTET),) if spec.expect_other_address else None,
            fault_addresses=tuple(addresses[i] for i in spec.fault_endpoints) if spec.fault_endpoints else None,
        )


class LabThread:
    """A Lab on its own event loop in a daemon thread, for sync tests and subprocess tests."""

    def __init__(self, **lab_kwargs: Any) -> None:
        self._lab_kwargs = lab_kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.lab: Lab | None = None

    def start(self, timeout: float = 30.0) -> Lab:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run_loop, args=(loop,), name="sslfault-lab", daemon=True)
        self._thread.start()
        try:
            self.lab = self.call(Lab(**self._lab_kwargs).start, timeout=timeout)
        except BaseException:
            self._shutdown(timeout=5.0)
            raise
        return self.lab

    def call(self, func: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `func()` (a coroutine function) on the lab's loop and wait for its result."""
        assert self._loop is not None, "LabThread not started"

        async def run() -> T:
            return await func()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def call_sync(self, func: Callable[[], T], timeout: float = 30.0) -> T:
        """Run a plain function on the lab's loop, e.g. `lambda: lab.dns.update(...)`."""

        async def run() -> T:
            return func()

        return self.call(run, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.lab is not None and self._loop is not None:
            try:
                self.call(self.lab.stop, timeout=timeout)
            finally:
                self.lab = None
        self._shutdown(timeout)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _shutdown(self, timeout: float) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        self._loop, self._thread = None, None
