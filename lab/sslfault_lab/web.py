"""Web-layer lab additions: HTTP/HTTPS sites, mixed-content pages, OCSP and CRL, a TLS 1.0 server.

Attaches to a running `Lab` on its free addresses (.3 www, .4 assets, .5 plain-only
assets, .6 legacy TLS) and the lab's shared port. The www and assets servers speak
plain HTTP and TLS on the same port (told apart by the first byte), so an `http://`
URL's `https:` form - what a browser's auto-upgrade tries - reaches the same server.
Virtual hosts are chosen by the Host header, certificates by SNI.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from exporter.config import Config
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab, LabThread
from sslfault_lab.pki import Issued
from sslfault_lab.servers import (
    MAX_REQUEST_HEAD,
    READ_TIMEOUT,
    HttpResponse,
    HttpSite,
    TlsIdentity,
    TlsService,
    bind_tcp,
    close_writer,
    server_context,
    stop_all,
)
from sslfault_lab.web_content import (
    ASSET_TYPES,
    HSTS,
    HTTP_CASES,
    PAGES,
    REVOCATION_CASES,
    MixedPage,
    Revocation,
    http_sites,
    ocsp_responder_cert,
    redirect_site,
)

# High octets: .3-.9 belong to the issuance lab, .10 up to the scenarios, so all three labs fit one /24.
WWW, ASSETS, PLAIN_ASSETS, LEGACY = 240, 241, 242, 243
MAX_POST = 64 * 1024
Responder = Callable[[str, bytes], HttpResponse]  # (path, body) -> response, for POST


@dataclass(frozen=True)
class WebCase:
    """One target of the web lab: which checks to run on it and the faults they must find."""

    name: str
    host: str
    checks: tuple[str, ...]
    faults: frozenset[str]
    description: str
    http_port: int
    page: MixedPage | None = None
    error: bool = False  # the check must not reach a verdict (e.g. a forged OCSP answer)


class Site(Protocol):
    def respond(self, method: str, path: str) -> HttpResponse: ...


@dataclass
class VHost:
    http: Site | None = None
    https: Site | None = None
    post: Responder | None = None


class AssetSite:
    """Any path answers 200, typed by its extension (.png, .js, .css...), CORS-readable."""

    def respond(self, method: str, path: str) -> HttpResponse:
        if method not in ("GET", "HEAD") or (method == "HEAD" and "no-head" in path):
            return HttpResponse(405, b"method not allowed\n")  # like servers that refuse HEAD
        name = path.rsplit("/", 1)[-1]
        ctype, body = ASSET_TYPES.get(name[name.rfind("."):] if "." in name else "", ("text/plain", b"asset\n"))
        return HttpResponse(200, body, ctype, (("Access-Control-Allow-Origin", "*"),))


# -- a server that speaks HTTP and HTTPS on one port ------------------------------------


async def _peek(conn: socket.socket) -> bytes:
    """The first byte the client sent, left unread (0x16 starts a TLS handshake)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()

            def wake(ready: asyncio.Future[None] = ready) -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(conn.fileno(), wake)
            try:
                await ready
            finally:
                loop.remove_reader(conn.fileno())


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    length = min(int(headers.get("content-length", "0") or 0), MAX_POST)
    body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT) if length else b""
    return parts[0], parts[1], headers, body


class DualService:
    """Plain HTTP and TLS on one socket; `context` None makes it plain-HTTP only."""

    def __init__(self, vhosts: dict[str, VHost], context: ssl.SSLContext | None) -> None:
        self.vhosts = vhosts
        self.context = context
        self._accept: asyncio.Task[None] | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._sock: socket.socket | None = None

    async def start(self, sock: socket.socket) -> None:
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        self._accept = asyncio.create_task(self._accept_loop(sock))

    async def stop(self) -> None:
        for task in [self._accept, *self._conns]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*([self._accept] if self._accept else []), *self._conns, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(sock)
            conn.setblocking(False)
            task = asyncio.create_task(self._serve(conn))
            self._conns.add(task)
            task.add_done_callback(self._conns.discard)

    async def _serve(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        writer, handed_over = None, False
        try:
            first = await asyncio.wait_for(_peek(conn), READ_TIMEOUT)
            tls = first == b"\x16"
            if not first or (tls and self.context is None):
                return  # a TLS client at a plain-only server: hang up, as port 80 servers do
            reader = asyncio.StreamReader(limit=MAX_REQUEST_HEAD)
            protocol = asyncio.StreamReaderProtocol(reader)
            tls_args: dict[str, Any] = {"ssl": self.context, "ssl_handshake_timeout": READ_TIMEOUT} if tls else {}
            # From here the transport owns the socket (and closes it on a failed handshake):
            # closing it again could close a newer socket that reused the descriptor.
            handed_over = True
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, conn, **tls_args)
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            request = await _read_request(reader)
            if request is not None:
                method, target, headers, body = request
                writer.write(self._respond(tls, method, target, headers, body).to_bytes(method == "HEAD"))
                await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            pass  # a client that hung up or spoke garbage: nothing to answer
        finally:
            if writer is not None:
                await close_writer(writer)
            elif not handed_over:
                conn.close()

    def _respond(self, tls: bool, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        host = headers.get("host", "").rsplit(":", 1)[0].lower() if "]" not in headers.get("host", "") else ""
        vhost = self.vhosts.get(host) or self.vhosts.get("*")
        site = None if vhost is None else vhost.https if tls else vhost.http
        path = target.split("?", 1)[0]
        if vhost is not None and vhost.post is not None and method == "POST":
            return vhost.post(path, body)
        if site is None:
            return HttpResponse(421, b"no such site on this server\n")
        return site.respond(method, path)


def legacy_context(identity: TlsIdentity) -> ssl.SSLContext | None:
    """A server context that accepts TLS 1.0, or None when this OpenSSL cannot."""
    ctx = server_context(identity)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    except (ValueError, ssl.SSLError):
        return None
    return ctx if ssl.HAS_TLSv1 else None


class WebLab:
    """The web additions to one running Lab. Build with `await start_web_lab(lab)`."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.port = lab.port
        self.cases: dict[str, WebCase] = {}
        self.addresses: dict[str, str] = {}  # host -> address, for the lab DNS and Chromium's host rules
        self.legacy_supported = False
        self._services: list[Any] = []
        self._dir = Path(lab.workdir, "web")

    def host(self, name: str) -> str:
        return self.lab.host(name)

    def values(self) -> dict[str, str]:
        """What the page templates' $A, $S, $L and $H stand for."""
        assets = f"{self.host('assets')}:{self.port}"
        return {"A": f"http://{assets}", "S": f"https://{assets}", "H": assets,
                "L": f"http://{self.host('plain-assets')}:{self.port}"}

    def url(self, name: str, scheme: str = "https") -> str:
        return f"{scheme}://{self.host(name)}:{self.port}/"

    def config(self, name: str, **target: Any) -> Config:
        """An exporter config (lab DNS, lab root trusted) whose one target is this case, with its checks."""
        case = self.cases[name]
        data = lab_config_dict(self.lab)
        data["targets"] = [{"host": case.host, "port": self.port, "http_port": case.http_port, "name": name,
                            "checks": list(case.checks), **target}]
        return Config.model_validate(data)

    def exporter_targets(self) -> dict[str, tuple[dict[str, Any], frozenset[str]]]:
        """Target name -> (exporter target, faults it must show), for the demo and the alerting e2e test.

        Cases that must end without a verdict (a forged OCSP answer) are left out: they have no fault to show."""
        return {
            f"web: {name}": ({"host": case.host, "port": self.port, "http_port": case.http_port,
                              "checks": list(case.checks)}, case.faults)
            for name, case in self.cases.items() if not case.error
        }

    async def start(self) -> WebLab:
        self._dir.mkdir(exist_ok=True)
        sockets = {n: bind_tcp(self.lab.address(n), self.port) for n in (WWW, ASSETS, PLAIN_ASSETS, LEGACY)}
        try:
            www, assets, legacy = await asyncio.to_thread(self._build)
            for octet, service in ((WWW, www), (ASSETS, assets), (PLAIN_ASSETS, DualService(self._asset_vhosts(), None))):
                self._services.append(service)
                await service.start(sockets.pop(octet))
            if legacy is not None:
                self._services.append(legacy)
                await legacy.start(sockets.pop(LEGACY))
        finally:
            for sock in sockets.values():
                sock.close()
        for host, address in self.addresses.items():
            self.lab.dns.update(host, [("A", 60, address)])
        return self

    async def stop(self) -> None:
        await stop_all(self._services)
        self._services = []
        for host in self.addresses:
            with contextlib.suppress(Exception):
                self.lab.dns.update(host, [])

    # -- building (CPU work, off the loop) ----------------------------------------------------

    def _identity(self, stem: str, leaf: Issued, *chain: Issued) -> TlsIdentity:
        cert, key = self._dir / f"{stem}.chain.pem", self._dir / f"{stem}.key.pem"
        cert.write_bytes(leaf.cert_pem + b"".join(c.cert_pem for c in chain))
        key.write_bytes(leaf.key_pem)
        return TlsIdentity(str(cert), str(key))

    def _build(self) -> tuple[DualService, DualService, TlsService | None]:
        pki, www_addr = self.lab.pki, self.lab.address(WWW)
        vhosts: dict[str, VHost] = {}
        for name, (faults, description) in HTTP_CASES.items():
            self._case(name, ("http",), faults, description, www_addr, 1 if name == "web-no-http" else self.port)
        self._case("tls-modern", ("legacy_tls",), frozenset(), "accepts TLS 1.2+ only", www_addr)
        self._case("rev-none", ("revocation",), frozenset(), "no OCSP URL and no CRL: not a fault", www_addr)
        for name in [*HTTP_CASES, "tls-modern", "rev-none"]:
            vhosts[self.host(name)] = VHost(*http_sites(self.host(name), name, self.port))
        for page in PAGES:
            mixed = frozenset(f"mixed_content_{k}" for k, urls in (("blockable", page.blockable),
                              ("upgradable", page.upgradable), ("form", page.forms)) if urls)
            self._case(page.name, ("mixed_content",), mixed, page.description, www_addr, page=page)
            vhosts[self.host(page.name)] = self._page_vhost(page)
        for host in ("ocsp", "crl"):
            self.addresses[self.host(host)] = www_addr
        revocation = Revocation(pki.ecc_intermediate, ocsp_responder_cert(pki.ecc_intermediate, pki.now), pki.now)
        sni = self._revocation_identities(revocation, vhosts)
        vhosts[self.host("ocsp")] = VHost(post=revocation.answer)
        vhosts[self.host("crl")] = VHost(http=HttpSite({"/ecc.crl": HttpResponse(
            200, revocation.crl_der(), "application/pkix-crl")}))
        www_hosts = [h for h in vhosts if not h.startswith("rev-") or h == self.host("rev-none")]
        www = self._identity("www", pki.issue_leaf(www_hosts), pki.ecc_intermediate)
        www_ctx = server_context(www)
        contexts = {h: server_context(i) for h, i in sni.items()}
        www_ctx.sni_callback = lambda conn, name, _ctx: _pick(conn, name, contexts)
        assets_ctx = server_context(self._identity("assets", pki.issue_leaf([self.host("assets")]),
                                                   pki.ecc_intermediate))
        self.addresses[self.host("assets")] = self.lab.address(ASSETS)
        self.addresses[self.host("plain-assets")] = self.lab.address(PLAIN_ASSETS)
        return DualService(vhosts, www_ctx), DualService(self._asset_vhosts(), assets_ctx), self._legacy()

    def _case(self, name: str, checks: tuple[str, ...], faults: frozenset[str], description: str, address: str,
              http_port: int | None = None, page: MixedPage | None = None, error: bool = False) -> None:
        self.cases[name] = WebCase(name, self.host(name), checks, faults, description, http_port or self.port,
                                   page, error)
        self.addresses[self.host(name)] = address

    def _page_vhost(self, page: MixedPage) -> VHost:
        values = self.values()
        headers = [HSTS] + ([("Content-Security-Policy", page.header_csp)] if page.header_csp else [])
        html = HttpResponse(200, page.render(page.html, values).encode(), "text/html; charset=utf-8",
                            tuple(headers))
        routes = {"/": html}
        routes |= {path: HttpResponse(200, page.render(text, values).encode() or ASSET_TYPES[".png"][1], ctype)
                   for path, (ctype, text) in page.files.items()}
        routes |= {path: HttpResponse(301, b"moved\n", headers=(("Location", page.render(to, values)),))
                   for path, to in page.redirects.items()}
        return VHost(redirect_site(self.host(page.name), self.port), HttpSite(routes))

    def _revocation_identities(self, revocation: Revocation, vhosts: dict[str, VHost]) -> dict[str, TlsIdentity]:
        pki, sni = self.lab.pki, {}
        for name, (ocsp_path, crl, revoked, faults, error) in REVOCATION_CASES.items():
            host = self.host(name)
            leaf = pki.issue_leaf(
                [host], ocsp_url=f"http://{self.host('ocsp')}:{self.port}{ocsp_path}" if ocsp_path else None,
                crl_url=f"http://{self.host('crl')}:{self.port}/ecc.crl" if crl else None)
            if revoked:
                revocation.revoked.add(leaf.cert.serial_number)
            sni[host] = self._identity(name, leaf, pki.ecc_intermediate)
            vhosts[host] = VHost(*http_sites(host, "web-ok", self.port))
            self._case(name, ("revocation",), faults, f"OCSP {ocsp_path}" if ocsp_path else "CRL only",
                       self.lab.address(WWW), error=error)
        return sni

    def _asset_vhosts(self) -> dict[str, VHost]:
        return {"*": VHost(AssetSite(), AssetSite())}

    def _legacy(self) -> TlsService | None:
        pki = self.lab.pki
        identity = self._identity("tls10", pki.issue_leaf([self.host("tls10")], issuer=pki.rsa_intermediate,
                                                          key_type="rsa"), pki.rsa_intermediate)
        ctx = legacy_context(identity)
        self.legacy_supported = ctx is not None
        if ctx is None:
            return None
        service = TlsService(identity, http_sites(self.host("tls10"), "web-ok", self.port)[1])
        service.context = ctx
        self._case("tls10", ("legacy_tls",), frozenset({"tls_legacy_protocol"}), "accepts TLS 1.0 and 1.1",
                   self.lab.address(LEGACY))
        return service


def _pick(conn: ssl.SSLObject, name: str | None, contexts: dict[str, ssl.SSLContext]) -> None:
    if name and name.lower() in contexts:
        conn.context = contexts[name.lower()]


async def start_web_lab(lab: Lab) -> WebLab:
    """Add the web servers to a running lab (call on the lab's loop, e.g. via LabThread.call)."""
    return await WebLab(lab).start()


class WebLabThread(LabThread):
    """A Lab plus its web additions on one background loop, for sync tests."""

    web: WebLab

    def start(self, timeout: float = 30.0) -> Lab:
        lab = super().start(timeout)
        try:
            self.web = self.call(lambda: start_web_lab(lab), timeout)
        except BaseException:
            self.stop()
            raise
        return lab

    def stop(self, timeout: float = 10.0) -> None:
        web = getattr(self, "web", None)
        if web is not None and self.lab is not None:
            with contextlib.suppress(Exception):
                self.call(web.stop, timeout)
        super().stop(timeout)
