"""Certificate paths: order of what was served, trust via cryptography, AIA completion."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from exporter.pki.certinfo import is_self_signed, issued_by, san_names


@dataclass(frozen=True)
class ServedShape:
    """How the served certificates relate: the path they form and what else was sent."""

    path: tuple[int, ...]  # indexes into the served list, leaf (0) first, following issuers
    wrong_order: bool
    root_index: int | None  # a self-signed certificate that was sent
    extra: tuple[int, ...]  # sent but not on the path (duplicates, unrelated)


def served_shape(chain: Sequence[x509.Certificate]) -> ServedShape:
    path = [0]
    unused = set(range(1, len(chain)))
    while not is_self_signed(chain[path[-1]]):
        nxt = next((i for i in sorted(unused) if issued_by(chain[path[-1]], chain[i])), None)
        if nxt is None:
            break
        path.append(nxt)
        unused.discard(nxt)
    # In order means: the path certificates are sent as leaf, its issuer, its issuer's issuer...
    on_path_in_sent_order = [i for i in range(len(chain)) if i in path]
    wrong_order = on_path_in_sent_order != path or path != list(range(len(path)))
    root = next((i for i in range(1, len(chain)) if is_self_signed(chain[i])), None)
    extra = tuple(sorted(unused - ({root} if root is not None and root in path else set())))
    return ServedShape(tuple(path), wrong_order, root, extra)


def ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except Exception:  # noqa: BLE001 - absent, malformed or unsupported: nothing to follow
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and d.access_location.value.lower().startswith(("http://", "https://"))
    ]


def parse_issuer_document(body: bytes) -> list[x509.Certificate]:
    """AIA caIssuers: DER certificate, certs-only PKCS#7 (.p7c), or (non-standard) PEM."""
    for loader in (
        lambda b: [x509.load_der_x509_certificate(b)],
        pkcs7.load_der_pkcs7_certificates,
        x509.load_pem_x509_certificates,
        pkcs7.load_pem_pkcs7_certificates,
    ):
        try:
            certs = loader(body)
        except Exception:  # noqa: BLE001 - try the next format
            continue
        if certs:
            return list(certs)
    return []


@dataclass(frozen=True)
class Verdict:
    trusted: bool
    path: tuple[x509.Certificate, ...]  # the verified path, leaf to anchor (empty when untrusted)
    error: str | None = None


def verify(
    leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], store: Store, at: dt.datetime, host: str
) -> Verdict:
    """Path validation only: the subject is one of the leaf's own names (host name is the tls check's job)."""
    names = san_names(leaf) or (host,)
    try:
        subject: x509.DNSName | x509.IPAddress = x509.IPAddress(ipaddress.ip_address(names[0]))
    except ValueError:
        subject = x509.DNSName(names[0].lstrip("*."))
        if names[0].startswith("*."):
            subject = x509.DNSName("wildcard-probe." + names[0][2:])
    verifier = PolicyBuilder().store(store).time(at).build_server_verifier(subject)
    try:
        path = verifier.verify(leaf, list(intermediates))
    except VerificationError as exc:
        return Verdict(False, (), str(exc))
    return Verdict(True, tuple(path))


Fetcher = Callable[[str], Awaitable[list[x509.Certificate]]]


@dataclass(frozen=True)
class Completion:
    fetched: tuple[tuple[x509.Certificate, str], ...]  # (certificate, URL it came from)
    errors: tuple[str, ...]


async def complete_via_aia(top: x509.Certificate, fetch: Fetcher, max_fetches: int) -> Completion:
    """Follow caIssuers from the top of the served path, as Windows, macOS and Chrome do."""
    fetched: list[tuple[x509.Certificate, str]] = []
    errors: list[str] = []
    current = top
    for _ in range(max_fetches):
        if is_self_signed(current):
            break
        urls = ca_issuers_urls(current)
        if not urls:
            break
        issuer = None
        for url in urls:
            try:
                candidates = await fetch(url)
            except Exception as exc:  # noqa: BLE001 - a broken AIA URL is data, not a crash
                errors.append(f"{url}: {exc or type(exc).__name__}")
                continue
            issuer = next((c for c in candidates if issued_by(current, c)), None)
            if issuer is not None:
                fetched.append((issuer, url))
                break
            errors.append(f"{url}: no certificate there issued {current.subject.rfc4514_string()}")
        if issuer is None:
            break
        current = issuer
    return Completion(tuple(fetched), tuple(errors))
