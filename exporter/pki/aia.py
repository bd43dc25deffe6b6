"""AIA caIssuers: where a certificate says its issuer can be downloaded, and one cached, bounded fetcher.

The fetcher takes the download itself as an async callable (`Download`), so this package does
not depend on the HTTP client; the daemon passes its pinned, size-capped session. Successes are
cached for an hour and failures for five minutes (a broken URL is not hammered), in one LRU
bounded in entries; bodies are capped in bytes and in certificates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from exporter.pki.cache import TTLCache
from exporter.pki.certinfo import describe, extension, quiet
from exporter.pki.verify import issued, self_signed

TTL_SECONDS = 3600.0
FAILURE_TTL_SECONDS = 300.0
MAX_BYTES = 64 * 1024  # a certificate is 1-2 KB; a .p7c with a few of them stays far below
MAX_CERTS = 8
MAX_ENTRIES = 256

# (url, max_bytes) -> the body; raises (OSError, timeouts, HTTP errors...) when there is none.
Download = Callable[[str, int], Awaitable[bytes]]
Fetch = Callable[[str], Awaitable[Sequence[x509.Certificate]]]


class AiaError(OSError):
    """The URL gave no usable certificate (HTTP error, too large, not a certificate)."""


def ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) caIssuers URLs of a certificate, in its order."""
    aia = extension(cert, x509.AuthorityInformationAccess)
    return [
        d.access_location.value
        for d in aia or ()
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and d.access_location.value.lower().startswith(("http://", "https://"))
    ]


def parse_issuer_document(body: bytes) -> list[x509.Certificate]:
    """AIA caIssuers: DER certificate, certs-only PKCS#7 (.p7c), or (non-standard) PEM."""
    loaders: tuple[Callable[[bytes], Sequence[x509.Certificate]], ...] = (
        lambda b: [x509.load_der_x509_certificate(b)],
        pkcs7.load_der_pkcs7_certificates,
        x509.load_pem_x509_certificates,
        pkcs7.load_pem_pkcs7_certificates,
    )
    with quiet():
        for loader in loaders:
            try:
                certs = loader(body)
            except Exception:  # noqa: BLE001 - not this format: try the next loader
                continue
            if certs:
                return list(certs)
    return []


class IssuerFetcher:
    """One per configuration: shared by the chain and revocation checks of every target."""

    def __init__(self, max_entries: int = MAX_ENTRIES, ttl: float = TTL_SECONDS,
                 failure_ttl: float = FAILURE_TTL_SECONDS, max_bytes: int = MAX_BYTES,
                 max_certs: int = MAX_CERTS) -> None:
        self.cache = TTLCache(max_entries=max_entries)
        self.ttl, self.failure_ttl = ttl, failure_ttl
        self.max_bytes, self.max_certs = max_bytes, max_certs

    async def fetch(self, url: str, download: Download) -> tuple[x509.Certificate, ...]:
        cached = self.cache.get(url)
        if isinstance(cached, str):
            raise AiaError(cached)
        if cached is not None:
            return tuple(cached)
        try:
            body = await download(url, self.max_bytes)
            if len(body) > self.max_bytes:
                raise AiaError(f"larger than {self.max_bytes // 1024} KiB")
            certs = tuple(parse_issuer_document(body)[:self.max_certs])
            if not certs:
                raise AiaError("not a certificate (DER, PKCS#7 or PEM)")
        except Exception as exc:
            self.cache.put(url, str(exc) or type(exc).__name__, self.failure_ttl)
            raise
        self.cache.put(url, certs, self.ttl)
        return certs


@dataclass(frozen=True)
class Completion:
    fetched: tuple[tuple[x509.Certificate, str], ...]  # (certificate, the URL it came from)
    errors: tuple[str, ...]


async def complete(top: x509.Certificate, fetch: Fetch, max_fetches: int) -> Completion:
    """Follow caIssuers up from `top`, as Windows, macOS and Chrome do, until a self-signed certificate."""
    fetched: list[tuple[x509.Certificate, str]] = []
    errors: list[str] = []
    current = top
    for _ in range(max_fetches):
        if self_signed(current):
            break
        issuer = None
        for url in ca_issuers_urls(current):
            try:
                candidates = await fetch(url)
            except Exception as exc:  # noqa: BLE001 - a broken AIA URL is data, not a crash
                errors.append(f"{url}: {exc or type(exc).__name__}")
                continue
            issuer = next((c for c in candidates if issued(current, c)), None)
            if issuer is not None:
                fetched.append((issuer, url))
                break
            errors.append(f"{url}: no certificate there issued {describe(current)}")
        if issuer is None:
            break
        current = issuer
    return Completion(tuple(fetched), tuple(errors))
