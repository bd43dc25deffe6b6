"""The hostile environment for tests/hostile: one target per attack, each on its own loopback address,
a hostile DNS zone beside the fault lab's, certificate files with secrets, and the exporter config.

Every hostile TLS target has a certificate that is valid for its address (its own trusted root), so
only the attack itself can make it look broken: it must never be shown as healthy."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)

from sslfault_lab.dns_server import DnsServer
from sslfault_lab.lab import Lab
from sslfault_lab.pki import Issued, LabPKI, new_key
from sslfault_lab.servers import TcpService, TlsIdentity, bind_tcp, server_context
from tests.support import hostile_servers as hs

T = TypeVar("T")
ZONE = "hostile.example"  # the lab serves .test itself; this zone is only on the hostile server
NET = "127.0.94"  # one address per hostile target
SECRET_PFX_PASSWORD = "pfx-Secret-7d1e0c55"
MARKUP_CN = '<script>alert(1)</script>"\x1b[31m\nts=0 level=error'
MARKUP_ORG = "Evil \"Corp\" <b>&amp;</b> \u2028 x='y'"


class LoopThread:
    """An event loop in a daemon thread, so the hostile servers never slow the fault lab's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hostile-servers", daemon=True)
        self._thread.start()

    def call(self, func: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
        async def run() -> T:
            return await func()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def stop(self) -> None:
        """Cancel whatever still runs (connections the servers had not finished), then close the loop, so no
        pending task is left for the garbage collector to complain about in some later test."""
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(drain, timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()


class RebindingDns(DnsServer):
    """Authoritative for ZONE; `rebind.` names answer differently on every query."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flips = 0

    def answer(self, query: Any) -> Any:
        name = str(query.question[0].name).lower() if query.question else ""
        if name.startswith("rebind."):
            self.flips += 1
            answer = "127.0.92.2" if self.flips % 2 else "127.0.92.3"
            self.update(name, [] if self.flips % 3 == 0 else [("A", 0, answer)])
        return super().answer(query)


@dataclass
class HostileLab:
    lab: Lab
    workdir: Path
    services: list[TcpService] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)  # exporter target configs
    dns: RebindingDns | None = None
    dns_address: str = "127.0.93.53"
    pki: LabPKI | None = None
    flap: dict[str, Any] = field(default_factory=dict)  # a healthy target that lives in the hostile zone
    secrets: list[str] = field(default_factory=list)  # strings no output may ever contain
    cert_files: list[dict[str, Any]] = field(default_factory=list)
    _next: int = 10

    # -- building blocks -------------------------------------------------------------------

    def address(self) -> str:
        self._next += 1
        return f"{NET}.{self._next}"

    async def _serve(self, service: TcpService, host: str, port: int = 0) -> int:
        sock = bind_tcp(host, port)
        await service.start(sock)
        self.services.append(service)
        return int(sock.getsockname()[1])

    def _context(self, name: str, chain: list[bytes], key: Any) -> ssl.SSLContext:
        chain_file, key_file = self.workdir / f"{name}.chain.pem", self.workdir / f"{name}.key"
        chain_file.write_bytes(b"".join(chain))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return server_context(TlsIdentity(str(chain_file), str(key_file)))

    def _leaf(self, names: list[str], *, aia: str | None = None, ocsp: str | None = None,
              crl: str | None = None) -> Issued:
        assert self.pki is not None
        issuer = self.pki.ecc_intermediate
        if aia is not None:
            issuer = Issued(cert=issuer.cert, key=issuer.key, url=aia)
        return self.pki.issue_leaf(names, issuer=issuer, ocsp_url=ocsp, crl_url=crl)

    async def _tls_target(self, name: str, service: Any, **target: Any) -> str:
        host = target.pop("host", None) or self.address()
        port = await self._serve(service, host)
        self.targets.append({"name": name, "host": host, "port": port, **target})
        return host

    def _ok_context(self, host: str, **leaf: Any) -> ssl.SSLContext:
        assert self.pki is not None
        issued = self._leaf([host], **leaf)
        chain = [issued.cert_pem] if leaf.get("aia") else [issued.cert_pem, self.pki.ecc_intermediate.cert_pem]
        return self._context(host, chain, issued.key)

    # -- the environment ------------------------------------------------------------------

    async def start(self) -> HostileLab:
        await asyncio.to_thread(hs.gzip_bomb)  # built once, before any server needs it
        aia_sock = bind_tcp("127.0.93.1", 0)
        aia = f"http://127.0.93.1:{aia_sock.getsockname()[1]}"
        self.pki = LabPKI(f"{aia}/ca")
        (self.workdir / "hostile-root.pem").write_bytes(self.pki.root_pem)
        page = hs.response(200, b"<html><head><title>ok</title></head><body>ok</body></html>")
        docs = {f"/ca/{path}": hs.serve_bytes(hs.response(200, body, content_type="application/pkix-cert"))
                for path, body in self.pki.published().items()}
        routes = {**docs, "/huge": hs.endless, "/slow": hs.trickle(b"HTTP/1.1 200 OK\r\n" * 100), "/hang": hs.hang,
                  "/loop": hs.redirect_to_self, "/bomb": hs.bomb}
        aia_service = hs.HttpRoutes(routes)
        await aia_service.start(aia_sock)
        self.services.append(aia_service)

        # Handshakes that never finish.
        await self._tls_target("h-silent", hs.Silent())
        await self._tls_target("h-stall-mid-handshake", hs.StalledHandshake())
        host = self.address()
        await self._tls_target("h-trickle-handshake", hs.TrickledHandshake(self._ok_context(host)), host=host)
        # Fine TLS, hostile HTTP.
        for name, behaviour in (("h-trickle-http", hs.trickle(page)), ("h-endless-body", hs.endless),
                                ("h-gzip-bomb", hs.bomb), ("h-1mb-header", hs.huge_header),
                                ("h-redirect-loop", hs.redirect_to_self)):
            host = self.address()
            aia_url = f"{aia}/loop" if name == "h-redirect-loop" else None
            await self._tls_target(name, hs.TlsThen(self._ok_context(host, aia=aia_url), {}, behaviour), host=host)
        # Hostile certificates.
        await self._chain_200()
        host = self.address()
        issued = self._leaf([host] + [f"n{i}.san.{ZONE}" for i in range(10_000)])
        ctx = self._context("san", [issued.cert_pem, self.pki.ecc_intermediate.cert_pem], issued.key)
        await self._tls_target("h-10000-sans", hs.TlsThen(ctx, {}, hs.serve_bytes(page)), host=host)
        await self._markup(aia, page)
        # AIA, OCSP and CRL servers that are huge, slow or hang.
        for name, leaf in (("h-aia-huge", {"aia": f"{aia}/huge"}), ("h-aia-slow", {"aia": f"{aia}/slow"}),
                           ("h-aia-hang", {"aia": f"{aia}/hang"}),
                           ("h-ocsp-hang-crl-huge", {"ocsp": f"{aia}/hang", "crl": f"{aia}/huge"}),
                           ("h-ocsp-slow-crl-bomb", {"ocsp": f"{aia}/slow", "crl": f"{aia}/bomb"})):
            host = self.address()
            await self._tls_target(name, hs.TlsThen(self._ok_context(host, **leaf), {}, hs.serve_bytes(page)),
                                   host=host)
        await self._dns_targets(page)
        self._cert_files()
        return self

    async def _chain_200(self) -> None:
        assert self.pki is not None
        host = self.address()
        issued = self._leaf([host])
        junk = [self.pki.self_signed([f"junk{i}.{ZONE}"]).cert_pem for i in range(200)]
        ctx = self._context("chain200", [issued.cert_pem, *junk, self.pki.ecc_intermediate.cert_pem], issued.key)
        await self._tls_target("h-200-cert-chain", hs.TlsThen(ctx, {}, hs.serve_bytes(b"")), host=host)

    async def _markup(self, aia: str, page: bytes) -> None:
        """Subject, issuer-visible strings and URLs full of markup, quotes, ANSI escapes and newlines."""
        assert self.pki is not None
        host = self.address()
        key = new_key("ec")
        issuer = self.pki.ecc_intermediate
        now = dt.datetime.now(dt.UTC)
        ocsp = f"{aia}/ocsp\nts=2020-01-01T00:00:00Z level=error msg=\"forged line\""
        crl = f"{aia}/crl\x1b[2J<img src=x onerror=alert(1)>\"'"
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, MARKUP_ORG),
                                         x509.NameAttribute(NameOID.COMMON_NAME, MARKUP_CN)]))
                .issuer_name(issuer.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=60))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                               critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp))]), critical=False)
                .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                    [x509.UniformResourceIdentifier(crl)], None, None, None)]), critical=False)
                .sign(issuer.key, hashes.SHA256()))
        pem = cert.public_bytes(serialization.Encoding.PEM)
        ctx = self._context("markup", [pem, issuer.cert_pem], key)
        await self._tls_target("h-markup-strings", hs.TlsThen(ctx, {}, hs.serve_bytes(page)), host=host)

    async def _dns_targets(self, page: bytes) -> None:
        ok_host = self.address()
        flap_host = self.address()
        dns = RebindingDns(zones=[ZONE])
        soa = ("SOA", 0, f"ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 0")
        records: dict[str, list[tuple[str, int, str]]] = {
            ZONE: [soa, ("NS", 0, f"ns.{ZONE}.")],
            f"ns.{ZONE}": [("A", 0, self.dns_address)],
            f"many.{ZONE}": [("A", 0, f"127.0.95.{i % 250 + 1}") for i in range(250)]
            + [("AAAA", 0, f"fd00::{i:x}") for i in range(1, 251)],
            f"bigtxt.{ZONE}": [("A", 0, ok_host)],
            f"_dnsauth.bigtxt.{ZONE}": [("TXT", 0, " ".join(f'"{i:03d}{"t" * 250}"' for i in range(200)))],
            f"loop-a.{ZONE}": [("CNAME", 0, f"loop-b.{ZONE}.")],
            f"loop-b.{ZONE}": [("CNAME", 0, f"loop-a.{ZONE}.")],
            f"servfail.{ZONE}": [("A", 0, ok_host)], f"timeout.{ZONE}": [("A", 0, ok_host)],
            f"flap.{ZONE}": [("A", 0, flap_host)], f"fv.{ZONE}": [("A", 0, ok_host)],
            f"loopback.{ZONE}": [("A", 0, "127.0.0.1")], f"mixed.{ZONE}": [("A", 0, "127.0.92.4"), ("A", 0, "8.8.8.8")],
            f"v6loop.{ZONE}": [("AAAA", 0, "::1")], f"mapped.{ZONE}": [("AAAA", 0, "::ffff:127.0.92.5")],
            f"rebind.{ZONE}": [("A", 0, "127.0.92.2")],
        }
        dns.set_records(records)
        dns.set_behaviour(f"servfail.{ZONE}", "servfail")
        dns.set_behaviour(f"timeout.{ZONE}", "drop")
        self.dns = dns
        await self.start_dns()
        await self._tls_target("h-dns-ok-server", hs.TlsThen(self._ok_context(ok_host), {}, hs.serve_bytes(page)),
                               host=ok_host)
        self.targets.pop()  # the server behind the DNS cases, not a target of its own
        ok_port = self.services[-1].address[1]
        await self._serve(hs.HttpRoutes({}, hs.bomb), ok_host, 8080)  # plain HTTP for file validation
        for name, host in (("h-dns-250-records", f"many.{ZONE}"), ("h-dns-cname-loop", f"loop-a.{ZONE}"),
                           ("h-dns-servfail", f"servfail.{ZONE}"), ("h-dns-timeout", f"timeout.{ZONE}")):
            self.targets.append({"name": name, "host": host, "port": ok_port})
        self.targets.append({"name": "h-dns-huge-txt", "host": f"bigtxt.{ZONE}", "port": ok_port,
                             "dns_validation": {"value": "the-expected-value"}})
        self.targets.append({"name": "h-file-validation-bomb", "host": f"fv.{ZONE}", "port": ok_port,
                             "http_port": 8080, "file_validation": {"token": "expected-token"}})
        issued = self._leaf([f"flap.{ZONE}"])
        assert self.pki is not None
        ctx = self._context("flap", [issued.cert_pem, self.pki.ecc_intermediate.cert_pem], issued.key)
        port = await self._serve(hs.TlsThen(ctx, {}, hs.serve_bytes(page)), flap_host)
        self.flap = {"name": "flap", "host": f"flap.{ZONE}", "port": port}

    async def start_dns(self) -> None:
        assert self.dns is not None
        await self.dns.start(self.dns_address, self.lab.dns_port)

    async def stop_dns(self) -> None:
        assert self.dns is not None
        await self.dns.stop()

    def _cert_files(self) -> None:
        """A PKCS#12 file behind a password file and a PEM chain with its key: secrets the exporter reads."""
        assert self.pki is not None
        certs = self.workdir / "certfiles"
        certs.mkdir(exist_ok=True)
        issued = self._leaf([f"files.{ZONE}"])
        (certs / "password.txt").write_text(SECRET_PFX_PASSWORD + "\n")
        bundle = pkcs12.serialize_key_and_certificates(
            b"site", issued.key, issued.cert, [self.pki.ecc_intermediate.cert],
            serialization.BestAvailableEncryption(SECRET_PFX_PASSWORD.encode()))
        (certs / "site.p12").write_bytes(bundle)
        (certs / "site.pem").write_bytes(issued.cert_pem + self.pki.ecc_intermediate.cert_pem)
        (certs / "site.key").write_bytes(issued.key_pem)
        self.secrets = [SECRET_PFX_PASSWORD, issued.key_pem.decode().splitlines()[1][:40]]
        self.cert_files = [
            {"path": str(certs / "*.p12"), "password_file": str(certs / "password.txt"), "poll": "1s"},
            {"path": str(certs / "*.pem"), "key": "{dir}/{stem}.key", "poll": "1s"},
        ]

    async def stop(self) -> None:
        for service in self.services:
            await service.stop()
        if self.dns is not None:
            await self.dns.stop()

    def nameserver(self) -> str:
        return f"{self.dns_address}:{self.lab.dns_port}"

