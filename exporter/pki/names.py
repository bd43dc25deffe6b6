"""Host name matching against a certificate's SANs (RFC 6125, as browsers do it)."""

from __future__ import annotations

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
