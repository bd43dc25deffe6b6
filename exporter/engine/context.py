"""What a check gets besides its target: shared resources and per-run memoised work.

`Resources` lives as long as a config (resolver, trust roots, HTTP session, AIA
cache). `ProbeContext` lives for one run of one target and memoises the DNS
answer and each handshake, so the dns, reachability, tls and chain checks share
one resolution and one captured chain per address.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import time
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import certifi
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import Store

from exporter.config import Config, Target
from exporter.errors import DependencyError
from exporter.net.dns import Resolution, make_resolver, resolve_addresses
from exporter.net import hello
from exporter.net.http import make_session
from exporter.net.suites import select
from exporter.net.tls import ConnectStatus, Handshake, capture_context, handshake, new_capture_context

T = TypeVar("T")


def load_roots(use_system: bool, ca_files: tuple[str, ...]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    if use_system:
        with warnings.catch_warnings():
            # One Mozilla root has a negative serial; cryptography warns but loads it.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            roots += x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes())
    for path in ca_files:
        roots += x509.load_pem_x509_certificates(Path(path).read_bytes())
    return roots


CRL_CACHE_BYTES = 64 * 1024 * 1024


class TTLCache:
    """A small LRU with per-entry expiry and an optional total weight (bytes); bounded so hostile
    URLs cannot grow it."""

    def __init__(self, max_entries: int = 512, max_weight: int | None = None) -> None:
        self._data: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        self._max = max_entries
        self._max_weight = max_weight
        self._weight = 0

    def get(self, key: str) -> Any | None:
        item = self._data.get(key)
        if item is None or item[0] < time.monotonic():
            self._pop(key)
            return None
        self._data.move_to_end(key)
        return item[1]

    def put(self, key: str, value: Any, ttl: float, weight: int = 0) -> None:
        if self._max_weight is not None and weight > self._max_weight:
            return  # larger than the whole cache: never kept
        self._pop(key)
        self._data[key] = (time.monotonic() + ttl, value, weight)
        self._weight += weight
        while len(self._data) > self._max or (self._max_weight is not None and self._weight > self._max_weight):
            self._pop(next(iter(self._data)))

    def _pop(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self._weight -= item[2]


class Resources:
    """Long-lived, shared by all targets under one config.

    A reload that needs new resources retires the old ones: runs that hold them (`use()`) keep
    a working HTTP session until they finish, and the last one out closes it."""

    def __init__(self, config: Config, deny_private_fetches: bool = False) -> None:
        self.config = config
        self.deny_private_fetches = deny_private_fetches
        self._closed = False
        self._retired = False
        self._holders = 0
        self._closing: asyncio.Task[None] | None = None
        self.resolver = make_resolver(config.resolver.endpoints(), config.resolver.timeout)
        self.roots = load_roots(config.trust.use_system, config.trust.ca_files)
        self.aia_cache = TTLCache()
        self.trust_store = Store(self.roots)  # built once per config: every chain verification uses it
        # CRLs can be megabytes, and a hostile certificate can name any CRL URL: bound the bytes kept.
        self.crl_cache = TTLCache(max_entries=64, max_weight=CRL_CACHE_BYTES)
        self._session: aiohttp.ClientSession | None = None
        self._client_contexts: dict[tuple[str, str], ssl.SSLContext] = {}
        self._verified: ssl.SSLContext | None = None

    def capture_context(self, target: Target) -> ssl.SSLContext:
        """The capture context, with the target's client certificate when it configures one (built once
        per config: a reload re-reads the files)."""
        if not (target.client_cert and target.client_key):
            return capture_context()
        key = (target.client_cert, target.client_key)
        if key not in self._client_contexts:
            self._client_contexts[key] = new_capture_context(*key)
        return self._client_contexts[key]

    def verified_context(self) -> ssl.SSLContext:
        """A client context trusting the configured roots, checking names: what a browser accepts."""
        if self._verified is None:
            self._verified = ssl.create_default_context(cadata="".join(
                c.public_bytes(Encoding.PEM).decode() for c in self.roots) or None)
        return self._verified

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily: aiohttp sessions must be made inside the running loop.
        if self._closed:
            # Used after close (not through use()): do not open a session nobody will close.
            raise DependencyError("the configuration was reloaded during this run")
        if self._session is None or self._session.closed:
            self._session = make_session(self.resolver, deny_private=self.deny_private_fetches)
        return self._session

    @property
    def holders(self) -> int:
        return self._holders

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[Resources]:
        """Hold these resources for one run: a retire() meanwhile waits for the run to end."""
        self._holders += 1
        try:
            yield self
        finally:
            self._holders -= 1
            if self._retired and self._holders == 0:
                self._close_soon()

    def retire(self) -> None:
        """No new runs will use these; close them once the runs holding them are done."""
        self._retired = True
        if self._holders == 0:
            self._close_soon()

    def _close_soon(self) -> None:
        if self._closing is None:
            # A task, so a run being cancelled cannot interrupt the close half-way.
            self._closing = asyncio.get_running_loop().create_task(self.close())

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


class ProbeContext:
    """One run of one target: memoises resolution and handshakes across checks."""

    def __init__(self, target: Target, resources: Resources, now: Callable[[], dt.datetime] | None = None) -> None:
        self.target = target
        self.resources = resources
        self._now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self._memo: dict[Any, asyncio.Future[Any]] = {}

    @property
    def limits(self):  # type: ignore[no-untyped-def]
        return self.resources.config.limits

    def now(self) -> dt.datetime:
        return self._now()

    async def _memoised(self, key: Any, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make` once per key per run; concurrent callers share the same result."""
        future = self._memo.get(key)
        if future is None:
            future = asyncio.ensure_future(make())
            self._memo[key] = future
        return await asyncio.shield(future)

    async def resolution(self) -> Resolution:
        return await self._memoised(("dns",), lambda: resolve_addresses(self.resources.resolver, self.target.host))

    async def addresses(self) -> tuple[str, ...]:
        """The addresses to probe, or DependencyError when the name does not resolve."""
        resolution = await self.resolution()
        if not resolution.addresses:
            raise DependencyError(f"{self.target.host} did not resolve: {resolution.failure_reason()}")
        return resolution.addresses

    def default_sni(self) -> str | None:
        return None if self.target.is_ip else self.target.host

    async def handshake(self, address: str, sni: str | None) -> Handshake:
        timeout = self.target.timeout
        context = self.resources.capture_context(self.target)
        return await self._memoised(
            ("tls", address, sni),
            lambda: handshake(address, self.target.port, sni, connect_timeout=timeout * 0.4,
                              handshake_timeout=timeout * 0.4, context=context),
        )

    async def tls12_flight(self, address: str) -> hello.Flight | None:
        """The server's clear-text first flight to a TLS 1.2 ClientHello offering every secure suite
        (chosen suite, client-certificate request), or None when the connection failed."""

        async def probe() -> hello.Flight | None:
            try:
                return await hello.probe(address, self.target.port, self.default_sni(), select(insecure=False),
                                         self.target.timeout * 0.3)
            except (OSError, TimeoutError, ValueError):
                return None

        return await self._memoised(("tls12", address), probe)

    async def served_handshakes(self) -> list[Handshake]:
        """The handshakes (with the default SNI) that got a certificate, or DependencyError if none did."""
        addresses = await self.addresses()
        sni = self.default_sni()
        handshakes = await asyncio.gather(*(self.handshake(a, sni) for a in addresses))
        served = [h for h in handshakes if h.status is ConnectStatus.OK and h.chain_der]
        if not served:
            raise DependencyError("no address completed a TLS handshake; see the reachability check")
        return served

    def cancel_pending(self) -> None:
        for future in self._memo.values():
            future.cancel()
