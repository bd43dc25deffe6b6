"""http_sd: Prometheus' HTTP SD format (200, application/json, a list of target groups) from a URL.

Fetched every refresh_interval with a timeout and a size cap, redirects not followed, no proxy
from the environment, TLS verified (public roots plus an optional CA file). Like any fetch, a URL
whose host is, or resolves to, a private, loopback or link-local address is refused unless the
entry sets `allow_private_addresses`: aiohttp skips the resolver for IP literals, so those are
checked here before the request, and names are checked by the resolver after resolution.
A failed refresh keeps the targets of the last good one.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver, ResolveResult

from exporter.config import HttpSdConfig, TargetConfig
from exporter.discovery.groups import DiscoveryError, parse_groups
from exporter.net.guard import is_private
from exporter.net.http import USER_AGENT, read_capped


def is_public(address: str) -> bool:
    # The fetch guard's rule (NAT64, 6to4 and IPv4-mapped forms of private addresses included).
    return not is_private(address.split("%", 1)[0])


def shown(url: str) -> str:
    """The URL without query and fragment, for logs and errors (a query may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class PrivateAddressError(OSError):
    pass


class GuardedResolver(AbstractResolver):
    """The system's resolver (an inventory service is usually an internal name), refusing names that
    resolve to non-public addresses unless allowed."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        private = sorted({r["host"] for r in results if not is_public(r["host"])})
        if private and not self._allow_private:
            raise PrivateAddressError(f"{host} resolves to {', '.join(private)}: not a public address; "
                          "set allow_private_addresses: true to fetch from inside the network")
        return results

    async def close(self) -> None:
        await self._inner.close()


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class HttpSdSource:
    mechanism = "http_sd"

    def __init__(self, spec: HttpSdConfig) -> None:
        self.spec = spec
        self.interval = spec.refresh_interval
        self.targets: tuple[TargetConfig, ...] = ()
        self.error: str | None = None
        self.last_success: float | None = None
        self._digest: str | None = None  # of the last good body: an unchanged answer is not re-validated
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.spec.allow_private_addresses),
                                             ssl=_ssl_context(self.spec.ca_file), limit=2, force_close=True)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  headers={"User-Agent": USER_AGENT})
        return self._session

    async def _fetch(self) -> bytes:
        url, where = self.spec.url, shown(self.spec.url)
        host = urlsplit(url).hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not literal.is_global and not self.spec.allow_private_addresses:
            raise DiscoveryError(where, [f"{where}: {host} is not a public address; set allow_private_addresses: "
                                         "true to fetch from inside the network"])
        headers = {"Accept": "application/json",
                   # What Prometheus sends, so SD servers written for it can tune their caching.
                   "X-Prometheus-Refresh-Interval-Seconds": str(int(self.spec.refresh_interval))}
        timeout = aiohttp.ClientTimeout(total=self.spec.timeout)
        try:
            async with self._client().get(url, headers=headers, timeout=timeout, allow_redirects=False) as resp:
                if resp.status != 200:
                    hint = " (redirects are not followed)" if 300 <= resp.status < 400 else ""
                    raise DiscoveryError(where, [f"{where}: HTTP {resp.status}{hint}; expected 200"])
                if resp.content_type != "application/json":
                    raise DiscoveryError(where, [f"{where}: Content-Type {resp.content_type!r}; "
                                                 "expected application/json"])
                body, cut = await read_capped(resp, self.spec.max_bytes)
                if cut:
                    raise DiscoveryError(where, [f"{where}: body larger than max_bytes ({self.spec.max_bytes})"])
                return body
        except TimeoutError:
            raise DiscoveryError(where, [f"{where}: no complete answer within {self.spec.timeout:g}s"]) from None
        except aiohttp.ClientConnectorError as exc:
            refused = exc.os_error if isinstance(exc.os_error, PrivateAddressError) else None
            raise DiscoveryError(where, [f"{where}: {refused or f'{type(exc).__name__}: {exc}'}"]) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DiscoveryError(where, [f"{where}: {type(exc).__name__}: {exc}"]) from None

    async def refresh(self, now: float) -> tuple[bool, list[DiscoveryError]]:
        """Fetch once; returns (targets changed, problems). Problems keep the last good targets."""
        async with self._lock:
            try:
                body = await self._fetch()
                digest = hashlib.sha256(body).hexdigest()
                if digest == self._digest:
                    self.error, self.last_success = None, now
                    return False, []
                targets = await asyncio.to_thread(_parse, body, shown(self.spec.url))
            except DiscoveryError as exc:
                self.error = "; ".join(exc.errors)
                return False, [exc]
            changed = targets != self.targets
            self.targets, self._digest, self.error, self.last_success = targets, digest, None, now
            return changed, []

    def sources(self) -> list[tuple[str, tuple[TargetConfig, ...], str | None, float | None]]:
        return [(shown(self.spec.url), self.targets, self.error, self.last_success)]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _parse(body: bytes, where: str) -> tuple[TargetConfig, ...]:
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DiscoveryError(where, [f"{where}: not valid JSON: {exc}"]) from None
    return tuple(parse_groups(data, where))
