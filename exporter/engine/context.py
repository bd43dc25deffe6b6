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
import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from exporter.aio import all_of
from exporter.config import Config, LimitsConfig, Target
from exporter.errors import DependencyError
from exporter.net import hello
from exporter.net.dns import Resolution, make_resolver, resolve_addresses
from exporter.net.http import fetch, make_session
from exporter.net.suites import select
from exporter.net.tls import (
    ConnectStatus,
    Handshake,
    capture_context,
    handshake,
    new_capture_context,
    tls12_capture_context,
)
from exporter.pki.aia import AiaError, IssuerFetcher
from exporter.pki.cache import TTLCache
from exporter.pki.certinfo import load_der
from exporter.pki.paths import MAX_SERVED, Judgement, judge_served
from exporter.pki.roots import TrustStore, load_trust

__all__ = ["ProbeContext", "Resources", "TTLCache"]

VERDICT_TTL_SECONDS = 60.0
VERDICT_CACHE_ENTRIES = 4096
# What a server's configuration decides (its no-SNI certificate, its protocols and suites) is probed once
# per address, port and served certificate per this many seconds, for every target behind it.
SERVER_CONFIG_TTL_SECONDS = 900.0
ACROSS_RUNS_ENTRIES = 16384

T = TypeVar("T")


CRL_CACHE_BYTES = 64 * 1024 * 1024
AIA_TIMEOUT_SECONDS = 5.0


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
        # Built once per config: every chain verdict uses it; CA files are "private" roots.
        self.trust: TrustStore = load_trust(config.trust.use_system, config.trust.ca_files)
        self.aia = IssuerFetcher()  # shared by the chain and revocation checks of every target
        # CRLs can be megabytes, and a hostile certificate can name any CRL URL: bound the bytes kept.
        self.crl_cache = TTLCache(max_entries=64, max_weight=CRL_CACHE_BYTES)
        # Work that many targets or many runs share: a fleet behind one load balancer serves one chain,
        # and what a client without SNI gets changes with the server's configuration, not every run.
        self.verdict_cache = TTLCache(max_entries=VERDICT_CACHE_ENTRIES)
        self.across_runs_cache = TTLCache(max_entries=ACROSS_RUNS_ENTRIES)
        self.in_flight: dict[str, asyncio.Future[Any]] = {}  # across-runs work being done now, by key
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
    def roots(self) -> tuple[x509.Certificate, ...]:
        return self.trust.certificates

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
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._memo: dict[Any, asyncio.Future[Any]] = {}

    @property
    def limits(self) -> LimitsConfig:
        return self.resources.config.limits

    def now(self) -> dt.datetime:
        return self._now()

    async def _memoised(self, key: Any, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make` once per key per run; concurrent callers share the same result."""
        future: asyncio.Future[T] | None = self._memo.get(key)
        if future is None:
            future = asyncio.ensure_future(make())
            self._memo[key] = future
        elif future.done():
            return future.result()  # the common case once a run is under way: no shield, no extra task
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
        """The capture handshake with `sni` on `address`, once per run (every check shares it)."""
        return await self._memoised(("tls", address, sni), lambda: self._capture(address, sni))

    async def _capture(self, address: str, sni: str | None) -> Handshake:
        timeout = self.target.timeout
        context = self.resources.capture_context(self.target)
        first = await handshake(address, self.target.port, sni, connect_timeout=timeout * 0.4,
                                handshake_timeout=timeout * 0.4, context=context)
        if first.status is not ConnectStatus.HANDSHAKE_FAILED or context is not capture_context():
            return first
        # Refused at once (an alert, not a stall): a server whose key cannot sign for TLS 1.3 still hands
        # over its certificate over TLS 1.2, and that certificate is what must be judged.
        again = await handshake(address, self.target.port, sni, connect_timeout=timeout * 0.2,
                                handshake_timeout=timeout * 0.2, context=tls12_capture_context())
        return again if again.status is ConnectStatus.OK else first

    async def cert_requested(self, address: str) -> bool | None:
        """Whether `address` asks for a client certificate: seen in the shared handshake when it completed,
        else (a server that aborts a handshake without one) read off a clear-text TLS 1.2 flight."""
        hs = await self.handshake(address, self.default_sni())
        if hs.status is ConnectStatus.OK and hs.cert_requested is not None:
            return hs.cert_requested
        if hs.status not in (ConnectStatus.OK, ConnectStatus.HANDSHAKE_FAILED):
            return None
        flight = await self.tls12_flight(address)
        return flight.cert_requested if flight is not None and flight.outcome == "accepted" else None

    async def across_runs(self, key: str, make: Callable[[], Awaitable[T]], keep: Callable[[T], bool] = lambda _: True,
                          ttl: float = SERVER_CONFIG_TTL_SECONDS) -> T:
        """Work that holds beyond one run (a server's configuration, not its every answer): done once per
        `key` per `ttl` seconds for all targets under this config; concurrent callers share one attempt.
        Exceptions and results `keep` rejects are not cached. The key must name everything the answer
        depends on (address, port, certificate), and `make` must not use this run's memo (the run may
        end first)."""
        cache = self.resources.across_runs_cache
        cached = cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]  # stored by this method under the same key
        in_flight = self.resources.in_flight
        future = in_flight.get(key)
        if future is None:
            async def work() -> T:
                try:
                    value = await make()
                    if keep(value):
                        cache.put(key, value, ttl)
                    return value
                finally:
                    in_flight.pop(key, None)

            # A task of its own: one caller's run timing out must not cancel it for the others.
            future = in_flight[key] = asyncio.ensure_future(work())
            # Retrieved here too: when every caller timed out first, nobody else reads a failure.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(future)

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
        handshakes = await all_of([self.handshake(a, sni) for a in addresses])
        served = [h for h in handshakes if h.status is ConnectStatus.OK and h.chain_der]
        if not served:
            raise DependencyError("no address completed a TLS handshake; see the reachability check")
        return served

    async def issuers_at(self, url: str) -> tuple[x509.Certificate, ...]:
        """The certificates an AIA caIssuers URL serves (cached per config, bounded)."""
        async def download(address: str, max_bytes: int) -> bytes:
            timeout = min(AIA_TIMEOUT_SECONDS, self.target.timeout / 2)
            response = await fetch(self.resources.session, address, timeout=timeout, max_bytes=max_bytes,
                                   allow_redirects=True)
            if response.status != 200:
                raise AiaError(f"HTTP {response.status}")
            return response.body

        return await self.resources.aia.fetch(url, download)

    async def judged_chain(self, hs: Handshake) -> Judgement:
        """The verdict on what an address sent (AIA-completed when an issuer is missing), once per
        chain per run: the tls check needs its anchor (lifetime rules), the chain check the rest.
        Raises ValueError when a sent certificate cannot be parsed."""
        async def judge() -> Judgement:
            now = self.now()
            # The same chain judged in the same minute gets the same verdict, whichever target sent it.
            # Each certificate length-prefixed: [a, b] and [a + b] (one unparsable blob) must not share a key.
            digest = hashlib.sha256(b"".join(len(d).to_bytes(4, "big") + d for d in hs.chain_der[:MAX_SERVED])).hexdigest()
            key = f"{digest}|{int(now.timestamp() // VERDICT_TTL_SECONDS)}"
            cached = self.resources.verdict_cache.get(key)
            if isinstance(cached, Judgement):
                return cached
            chain = [load_der(der) for der in hs.chain_der[:MAX_SERVED]]
            judgement = await judge_served(chain, self.resources.trust, now, self.issuers_at,
                                           self.limits.max_aia_fetches)
            self.resources.verdict_cache.put(key, judgement, VERDICT_TTL_SECONDS)
            return judgement

        return await self._memoised(("chain", hs.chain_der[:MAX_SERVED]), judge)

    async def default_handshake(self, address: str, served_leaf: bytes) -> Handshake:
        """What a client sending no SNI gets on `address`: probed once per address and served certificate
        (for SERVER_CONFIG_TTL_SECONDS), not on every run; a timeout or connect failure is never kept."""
        # The client certificate offered is part of the answer (a default vhost may demand one).
        client = f"{self.target.client_cert}|{self.target.client_key}" if self.target.client_cert else ""
        key = f"no-sni|{address}|{self.target.port}|{client}|{hashlib.sha256(served_leaf).hexdigest()}"
        return await self.across_runs(key, lambda: self._capture(address, None),
                                      keep=lambda hs: hs.status in (ConnectStatus.OK, ConnectStatus.HANDSHAKE_FAILED))

    def cancel_pending(self) -> None:
        for future in self._memo.values():
            future.cancel()

    def shared(self, key: Any, make: Callable[[], T], work: Callable[[T], Coroutine[Any, Any, object]]) -> T:
        """The object `make()` builds for `key`, once per run, with `work(object)` running as a task of the
        run (cancelled with it): work that several checks read while it runs, e.g. a page each reads up to
        its own cap (checks/_web.page)."""
        entry = self._memo.get(key)
        if entry is None:
            made = make()
            entry = self._memo[key] = asyncio.get_running_loop().create_future()
            entry.set_result(made)
            self._memo[(key, "work")] = asyncio.ensure_future(work(made))
        result: T = entry.result()
        return result
