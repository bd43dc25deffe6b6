"""Loopback servers that each attack a client one way: silence, trickles, endless or compressed-bomb
bodies, huge headers, redirect loops, TLS that stalls half-way. Built on the lab's TcpService, so
every connection is a task the service cancels at stop, and each server's own work is bounded."""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Awaitable, Callable
from functools import cache

from sslfault_lab.servers import MAX_REQUEST_HEAD, TcpService

SERVER_LIMIT = 60.0  # seconds any one connection may keep a hostile server busy
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]


async def read_head(reader: asyncio.StreamReader) -> str:
    """The request line's path ("" when the client sent nothing usable)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
        return ""
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    return parts[1] if len(parts) == 3 else ""


def response(status: int, body: bytes = b"", *headers: tuple[str, str], content_type: str = "text/html") -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- behaviours once a request has arrived ---------------------------------------------------


def gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """The client left. (A TLS writer's is_closing() stays False when the socket under it dies, and
    drain() then returns at once: a writing loop must ask.)"""
    return writer.is_closing() or reader.at_eof() or reader.exception() is not None


def serve_bytes(payload: bytes) -> Behaviour:
    async def run(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _path: str) -> None:
        writer.write(payload)
        await writer.drain()
    return run


def trickle(payload: bytes, every: float = 1.0) -> Behaviour:
    """One byte per `every` seconds."""
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _path: str) -> None:
        for byte in payload:
            if gone(reader, writer):
                return
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)
    return run


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _path: str) -> None:
    """200 with a chunked body that never ends (until the client leaves or SERVER_LIMIT)."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"<p>" + b"a" * 65_530 + b"</p>"
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    for _ in range(8192):  # 512 MiB at most
        if gone(reader, writer):
            return
        writer.write(frame)
        await writer.drain()


async def hang(_r: asyncio.StreamReader, _w: asyncio.StreamWriter, _path: str) -> None:
    await asyncio.sleep(SERVER_LIMIT)


@cache
def gzip_bomb(megabytes: int = 256) -> bytes:
    """`megabytes` MiB of HTML that gzip makes about a thousand times smaller."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    block = b"<p>" + b"a" * (1024 * 1024 - 7) + b"</p>"
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


async def bomb(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _path: str) -> None:
    body = gzip_bomb()
    writer.write(response(200, body, ("Content-Encoding", "gzip")))
    await writer.drain()


async def huge_header(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _path: str) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * (1024 * 1024) + b"\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


async def redirect_to_self(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> None:
    writer.write(response(302, b"", ("Location", path or "/")))
    await writer.drain()


# -- services ------------------------------------------------------------------------------------


class HttpRoutes(TcpService):
    """Plain HTTP (AIA, OCSP, CRL servers): the behaviour of the longest matching path prefix."""

    def __init__(self, routes: dict[str, Behaviour], default: Behaviour | None = None) -> None:
        super().__init__()
        self.routes = routes
        self.default = default or serve_bytes(response(404, b"not found"))

    def pick(self, path: str) -> Behaviour:
        matches = [p for p in self.routes if path.startswith(p)]
        return self.routes[max(matches, key=len)] if matches else self.default

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path = await read_head(reader)
        await asyncio.wait_for(self.pick(path)(reader, writer, path), SERVER_LIMIT)


class TlsThen(HttpRoutes):
    """A normal TLS handshake with `context`, then the routes' HTTP behaviour."""

    def __init__(self, context: ssl.SSLContext, routes: dict[str, Behaviour], default: Behaviour | None = None) -> None:
        super().__init__(routes, default)
        self.context = context

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(self.context, ssl_handshake_timeout=10)
        await super().handle(reader, writer)


class Silent(TcpService):
    """Accepts, then says nothing at all."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(SERVER_LIMIT)


class StalledHandshake(TcpService):
    """Reads the ClientHello, sends the first bytes of a ServerHello record, then stalls."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.read(MAX_REQUEST_HEAD), 10)
        writer.write(b"\x16\x03\x03\x00\x7a\x02\x00\x00")  # a 122-byte handshake record: 3 bytes of it
        await writer.drain()
        await asyncio.sleep(SERVER_LIMIT)


class TrickledHandshake(TcpService):
    """A real TLS server whose handshake bytes leave at one byte a second."""

    def __init__(self, context: ssl.SSLContext, every: float = 1.0) -> None:
        super().__init__()
        self.context = context
        self.every = every

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(await asyncio.wait_for(reader.read(MAX_REQUEST_HEAD), 10))
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        await asyncio.wait_for(trickle(outgoing.read(), self.every)(reader, writer, ""), SERVER_LIMIT)
