"""Host name matching against a certificate's SANs (RFC 6125, as browsers do it)."""

from __future__ import annotations

import functools
import ipaddress

from cryptography import x509

from exporter.pki.certinfo import san_names


def name_matches(pattern: str, host: str) -> bool:
    """`*.example.com` covers exactly one label; no partial-label wildcards, no CN fallback."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern == host:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:] and rest.count(".") >= 1
    return False


def covers(cert: x509.Certificate, host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return any(name_matches(n, host) for n in san_names(cert) if not _is_ip(n))
    return any(_is_ip(n) and ipaddress.ip_address(n) == ip for n in san_names(cert))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _canon_value(value: str | bytes) -> str | bytes:
    """As OpenSSL compares names: ASCII letters folded, outer spaces cut, inner runs of spaces made one."""
    if isinstance(value, bytes):
        return value
    folded = "".join(ch.lower() if ch < "\x80" else ch for ch in value)
    return " ".join(folded.split())


@functools.lru_cache(maxsize=4096)
def canonical_name(name: x509.Name) -> tuple[object, ...]:
    """A hashable form of a distinguished name under which names OpenSSL treats as equal are equal."""
    return tuple(
        tuple(sorted(((attr.oid.dotted_string, _canon_value(attr.value)) for attr in rdn), key=repr))
        for rdn in name.rdns
    )
