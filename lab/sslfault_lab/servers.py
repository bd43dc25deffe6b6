"""Loopback servers that each behave one way: TLS with a given chain, plain HTTP, a port
whose connects time out, a peer that never speaks, a peer that is not TLS.

Every service runs on a socket the caller bound beforehand (`bind_tcp`), so the lab can
claim all its addresses on one port first and only then build certificates. Every read
has a timeout and a size cap; every connection is a task the service can cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

READ_TIMEOUT = 10.0
MAX_REQUEST_HEAD = 16 * 1024
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error"}
CONTENT_TYPES = {".crt": "application/pkix-cert", ".cer": "application/pkix-cert",
                 ".p7c": "application/pkcs7-mime", ".pem": "application/x-pem-file",
                 ".crl": "application/pkix-crl"}


def bind_tcp(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (not yet listening); port 0 lets the kernel choose."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # survive TIME_WAIT between runs
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def content_type_for(path: str) -> str:
    suffix = path[path.rfind("."):] if "." in path else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


# -- HTTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    def to_bytes(self, head_only: bool = False) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}",
                 f"Content-Type: {self.content_type}", f"Content-Length: {len(self.body)}",
                 "Connection: close", *(f"{k}: {v}" for k, v in self.headers)]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


NOT_FOUND = HttpResponse(404, b"not found\n")


@dataclass
class HttpSite:
    """Exact-path routes; `default` answers every other path (None: 404)."""

    routes: dict[str, HttpResponse] = field(default_factory=dict)
    default: HttpResponse | None = None

    def respond(self, method: str, path: str) -> HttpResponse:
        if method not in ("GET", "HEAD"):
            return HttpResponse(405, b"method not allowed\n")
        return self.routes.get(path.split("?", 1)[0], self.default or NOT_FOUND)

    @classmethod
    def documents(cls, docs: Mapping[str, bytes]) -> HttpSite:
        """Serve files (e.g. LabPKI.published()) at /<path> with their proper content types."""
        return cls({f"/{p.lstrip('/')}": HttpResponse(200, b, content_type_for(p)) for p, b in docs.items()})


async def serve_http_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, site: HttpSite) -> None:
    """Read one request head (bounded in time and size), answer it, and let the caller close."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
    except (asyncio.LimitOverrunError, ValueError):
        writer.write(HttpResponse(400, b"request head too large\n").to_bytes())
        return
    except asyncio.IncompleteReadError:
        return  # the client left without asking anything
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        writer.write(HttpResponse(400, b"bad request\n").to_bytes())
        return
    method, target = parts[0], parts[1]
    writer.write(site.respond(method, target).to_bytes(head_only=method == "HEAD"))
    await asyncio.wait_for(writer.drain(), READ_TIMEOUT)


async def close_writer(writer: asyncio.StreamWriter, timeout: float = 1.0) -> None:
    """Close politely (TLS close_notify, FIN), but never wait long for a peer that hangs."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout)
    except (OSError, TimeoutError, asyncio.CancelledError):
        writer.transport.abort()


# -- services ----------------------------------------------------------------------------


class TcpService:
    """Accepts on a pre-bound socket and runs `handle` per connection as a tracked task."""

    backlog = 128

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] | None = None

    async def start(self, sock: socket.socket) -> None:
        sock.listen(self.backlog)
        self.address = sock.getsockname()
        self._server = await asyncio.start_server(self._run, sock=sock, limit=MAX_REQUEST_HEAD)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self.handle(reader, writer)
        except (ConnectionError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError, OSError) as exc:
            log.debug("lab %s %s: %s", type(self).__name__, self.address, exc)
        except asyncio.CancelledError:
            pass  # stop() is closing us
        finally:
            self._conns.discard(task)
            await close_writer(writer)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class TlsIdentity:
    """Files as nginx would take them: the chain (leaf first, sent in exactly this order) and key."""

    chain_file: str
    key_file: str


def server_context(identity: TlsIdentity) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Security level 0 so the weak-key scenario (RSA-1024) can be served at all.
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    # An empty trust store keeps OpenSSL from completing a chain we send on purpose incomplete.
    ctx.load_cert_chain(identity.chain_file, identity.key_file)
    return ctx


class TlsService(TcpService):
    """TLS with one chain; `sni` maps server names to other chains (the default serves the rest)."""

    def __init__(
        self,
        identity: TlsIdentity,
        site: HttpSite | None = None,
        sni: Mapping[str, TlsIdentity] | None = None,
        handshake_timeout: float = READ_TIMEOUT,
    ) -> None:
        super().__init__()
        self.site = site or HttpSite(default=HttpResponse(200, b"ok\n"))
        self.handshake_timeout = handshake_timeout
        self.context = server_context(identity)
        self._sni = {name.lower(): server_context(ident) for name, ident in (sni or {}).items()}
        if self._sni:
            self.context.sni_callback = self._pick_context

    def _pick_context(self, conn: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        if server_name and server_name.lower() in self._sni:
            conn.context = self._sni[server_name.lower()]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # TLS inside our own task (not the server's ssl=) so stop() can cancel handshakes too.
        await writer.start_tls(self.context, ssl_handshake_timeout=self.handshake_timeout)
        await serve_http_once(reader, writer, self.site)


class HttpService(TcpService):
    def __init__(self, site: HttpSite) -> None:
        super().__init__()
        self.site = site

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_http_once(reader, writer, self.site)


class StallService(TcpService):
    """Accepts and never says a word: the TLS handshake can never complete."""

    def __init__(self, hold_seconds: float = 300.0) -> None:
        super().__init__()
        self.hold_seconds = hold_seconds

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Not reading is fine: the kernel buffer bounds what a client can push at us.
        await asyncio.sleep(self.hold_seconds)


class NotTlsService(TcpService):
    """Answers the ClientHello with plain HTTP, like a TLS port bound to a plain-HTTP site."""

    reply = HttpResponse(400, b"This is a plain HTTP server, not TLS.\n", headers=(("Server", "lab"),))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.read(4096), READ_TIMEOUT)
        writer.write(self.reply.to_bytes())
        await asyncio.wait_for(writer.drain(), READ_TIMEOUT)


class FilteredListener:
    """A port whose connects time out, like a firewall that drops SYNs, without root.

    Linux drops an incoming SYN when the listener's accept queue is full. With backlog 0
    the queue holds exactly one connection; we make that one ourselves and never accept
    it, so every later SYN is dropped and the client retransmits until its timeout.
    """

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self.address: tuple[str, int] | None = None

    async def start(self, sock: socket.socket) -> None:
        sock.listen(0)
        self._sock = sock
        self.address = sock.getsockname()
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        self._fillers.append(filler)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(filler, self.address), 2.0)

    async def stop(self) -> None:
        for sock in (*self._fillers, self._sock):
            if sock is not None:
                sock.close()
        self._fillers, self._sock = [], None


Service = TcpService | FilteredListener


async def stop_all(services: list[Service]) -> None:
    for service in services:
        with contextlib.suppress(Exception):
            await service.stop()
