"""HTTP requests pinned to one address: the URL names the address, Host and SNI name the site.

What one address (one IIS binding, one load-balancer member) serves is judged on its own, so
requests go to the address the checks resolved, not to whatever the name resolves to at
fetch time. Requests run on the caller's shared session (one pool, its per-host limit
holds), follow no redirects, and read bodies up to a cap, saying whether they were cut.
A `SharedGet` is one such request read by several callers, each up to its own cap.
"""

from __future__ import annotations

import asyncio
import ssl
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import aiohttp

from exporter.net.http import read_capped


@dataclass(frozen=True)
class Response:
    url: str  # as a browser would show it: the site's name, not the address
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    truncated: bool  # the body went on past max_bytes


def merged_headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in resp.headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def site_url(scheme: str, host: str, port: int, path: str) -> str:
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{name}{'' if port == default else f':{port}'}{path}"


def pinned_request(
    session: aiohttp.ClientSession, scheme: str, address: str, port: int, host: str, path: str, *,
    sni: str | None, ssl_context: ssl.SSLContext | None, timeout: float,
    connect_timeout: float | None = None, method: str = "GET",
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """The request for scheme://host:port/path to `address`, with Host `host` and (https) SNI `sni`; its
    timeout covers reading the body. A connect slower than connect_timeout (default: timeout) raises
    aiohttp.ConnectionTimeoutError."""
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    netloc = f"[{address}]" if ":" in address else address
    secure = scheme == "https"
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout or timeout, sock_read=timeout)
    return session.request(
        method, f"{scheme}://{netloc}:{port}{path}", allow_redirects=False, timeout=client_timeout,
        headers={"Host": name if port == default else f"{name}:{port}"},
        ssl=(ssl_context or True) if secure else True,
        server_hostname=sni if secure else None,
    )


async def pinned_get(
    session: aiohttp.ClientSession, scheme: str, address: str, port: int, host: str, path: str, *,
    sni: str | None, ssl_context: ssl.SSLContext | None, timeout: float, max_bytes: int,
    connect_timeout: float | None = None, method: str = "GET",
) -> Response:
    """GET scheme://host:port/path from `address`, with Host `host` and (https) SNI `sni`.

    A connect slower than connect_timeout (default: timeout) raises aiohttp.ConnectionTimeoutError."""
    async with pinned_request(session, scheme, address, port, host, path, sni=sni, ssl_context=ssl_context,
                              timeout=timeout, connect_timeout=connect_timeout, method=method) as resp:
        body, truncated = await read_capped(resp, max_bytes)
        return Response(site_url(scheme, host, port, path), resp.status, merged_headers(resp), body, truncated)


class SharedGet:
    """One request whose answer several callers read, each up to its own cap, as if each had made it alone.

    The body is read once, up to the largest cap asked for while it is being read; a caller with a smaller
    cap has its answer as soon as its part has arrived (a failure after that is not its failure, as it
    would not have read on). A caller that asks for more than a finished read took must make its own
    request (`covers` says so)."""

    def __init__(self, url: str, max_bytes: int) -> None:
        self.url = url  # as a browser would show it
        self._cap = max_bytes
        self._head: tuple[int, dict[str, str]] | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._cut = False  # reading stopped past the cap
        self._error: BaseException | None = None
        self._finished = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []  # (cap, woken when it can answer)

    def covers(self, max_bytes: int) -> bool:
        """Whether this read can answer a caller with this cap; if so, it reads that far."""
        if self._finished and self._cut and self._size <= max_bytes:
            return False
        self._cap = max(self._cap, max_bytes)
        return True

    async def run(self, request: AbstractAsyncContextManager[aiohttp.ClientResponse]) -> None:
        """Make the request and read the body, waking callers as their part arrives."""
        try:
            async with request as resp:
                self._head = (resp.status, merged_headers(resp))
                async for chunk in resp.content.iter_any():
                    self._chunks.append(chunk)
                    self._size += len(chunk)
                    if self._size > self._cap:
                        self._cut = True
                        break
                    self._wake()
        except BaseException as exc:  # every caller still waiting gets it, cancellation included
            self._error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self._finished = True
            self._wake()

    def _ready(self, max_bytes: int) -> bool:
        return self._finished or (self._head is not None and self._size > max_bytes)

    def _wake(self) -> None:
        waiting = []
        for cap, waiter in self._waiters:
            if waiter.done():  # its caller stopped waiting
                continue
            if self._ready(cap):
                waiter.set_result(None)
            else:
                waiting.append((cap, waiter))
        self._waiters = waiting

    async def response(self, max_bytes: int) -> Response:
        """The answer as a request reading up to max_bytes would have had it (call `covers` first)."""
        if not self._ready(max_bytes):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((max_bytes, waiter))
            await waiter
        if self._head is None or (self._error is not None and self._size <= max_bytes):
            assert self._error is not None
            raise self._error
        body = b"".join(self._chunks)
        status, headers = self._head
        return Response(self.url, status, headers, body[:max_bytes], len(body) > max_bytes)
