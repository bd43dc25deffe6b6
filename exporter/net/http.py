"""A bounded HTTP client: resolves names through the probe's resolver, caps body size, and checks the
address of every connection it opens against the private-address guard (exporter.net.guard)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import dns.asyncresolver
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult

from exporter.net.dns import resolve_addresses
from exporter.net.guard import check_destination, is_private

USER_AGENT = "ssl-fault-exporter (+https://github.com/ssl-fault-exporter)"


class BodyTooLarge(Exception):
    pass


class ProbeResolver(AbstractResolver):
    """aiohttp resolver backed by the configured DNS servers, so HTTP sees what the checks see.

    With deny_private, names resolving to private, loopback or link-local addresses are refused:
    on-demand probes of arbitrary hosts must not reach inside the network through URLs a
    certificate or page names (AIA, OCSP, CRL, sub-resources)."""

    def __init__(self, resolver: dns.asyncresolver.Resolver, deny_private: bool = False) -> None:
        self._resolver = resolver
        self._deny_private = deny_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        resolution = await resolve_addresses(self._resolver, host)
        if not resolution.addresses:
            raise OSError(f"cannot resolve {host}: {resolution.failure_reason()}")
        if self._deny_private and any(is_private(a) for a in resolution.addresses):
            raise OSError(f"{host} resolves to a private or loopback address; not fetched for an on-demand probe")
        return [
            ResolveResult(hostname=host, host=address, port=port,
                          family=socket.AF_INET6 if ":" in address else socket.AF_INET, proto=0, flags=0)
            for address in resolution.addresses
        ]

    async def close(self) -> None:
        return None


async def read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    """The body up to max_bytes (one read() may return only part of it), and whether it was cut."""
    chunks, size = [], 0
    async for chunk in resp.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            break
    body = b"".join(chunks)
    return body[:max_bytes], len(body) > max_bytes


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes


def guarded_socket_factory(deny_private: bool) -> Callable[[AddrInfoType], socket.socket]:
    """aiohttp's socket factory, called with the exact address about to be connected to: resolved
    names, IP literals (which skip the resolver) and every redirect hop all come through here."""

    def factory(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        check_destination(str(sockaddr[0]), deny=deny_private)
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


def make_session(
    resolver: dns.asyncresolver.Resolver, limit: int = 64, deny_private: bool = False
) -> aiohttp.ClientSession:
    # limit_per_host: one slow or hostile server cannot take the whole pool from the other targets.
    connector = aiohttp.TCPConnector(resolver=ProbeResolver(resolver, deny_private), limit=limit, limit_per_host=8,
                                     force_close=True, ssl=False, socket_factory=guarded_socket_factory(deny_private))
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT}, trust_env=False)


async def fetch(
    session: aiohttp.ClientSession, url: str, *, timeout: float, max_bytes: int, method: str = "GET",
    allow_redirects: bool = False, **kwargs: Any,
) -> Fetched:
    """One request, no redirects followed by default, body read up to max_bytes (else BodyTooLarge)."""
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=timeout, sock_read=timeout)
    async with session.request(method, url, timeout=client_timeout, allow_redirects=allow_redirects, **kwargs) as resp:
        body, truncated = await read_capped(resp, max_bytes)
        if truncated:
            raise BodyTooLarge(f"{url}: body larger than {max_bytes} bytes")
        return Fetched(url=str(resp.url), status=resp.status, headers=dict(resp.headers), body=body)
