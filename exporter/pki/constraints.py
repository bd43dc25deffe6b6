"""Name constraints as OpenSSL 3 checks them by default (crypto/x509/v3_ncons.c).

Every certificate below a CA with nameConstraints (self-issued intermediates excepted) must have
its subject DN, its subject e-mail attributes and each subjectAltName inside the permitted
subtrees of that type (when there are any) and outside the excluded ones. A leaf without a DNS
subjectAltName has its host-like common name checked as a DNS name too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from cryptography import x509
from cryptography.x509.oid import NameOID

from exporter.pki.certinfo import extension
from exporter.pki.names import canonical_name

_CHECKED = (x509.DNSName, x509.RFC822Name, x509.UniformResourceIdentifier, x509.IPAddress, x509.DirectoryName)


class Unsupported(Exception):
    """A name or constraint OpenSSL cannot evaluate: the path fails."""


def violations(path: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> Iterator[tuple[int, str]]:
    """(depth, reason) for each certificate that breaks a constraint of a CA above it."""
    for depth, cert in enumerate(path):
        if depth and canonical_name(cert.subject) == canonical_name(cert.issuer):
            continue  # OpenSSL skips self-issued intermediates
        for ca in path[depth + 1:]:
            constraints = extension(ca, x509.NameConstraints)
            if constraints is None:
                continue
            try:
                reason = _check(cert, constraints, leaf=depth == 0)
            except Unsupported as exc:
                reason = f"name constraints cannot be checked ({exc})"
            if reason:
                yield depth, reason
                break


def _names(cert: x509.Certificate) -> tuple[list[x509.GeneralName], bool]:
    """The names constraints apply to, and whether a DNS subjectAltName exists."""
    names: list[x509.GeneralName] = []
    if len(cert.subject) > 0:
        names.append(x509.DirectoryName(cert.subject))
        for attr in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
            names.append(x509.RFC822Name(str(attr.value)))
    san = extension(cert, x509.SubjectAlternativeName)
    names += list(san) if san is not None else []
    return names, any(isinstance(n, x509.DNSName) for n in names)


def _check(cert: x509.Certificate, constraints: x509.NameConstraints, leaf: bool) -> str | None:
    names, has_dns = _names(cert)
    if leaf and not has_dns:
        names += [x509.DNSName(cn) for cn in _host_like_cns(cert)]
    for name in names:
        reason = _match(name, constraints)
        if reason:
            return reason
    return None


def _match(name: x509.GeneralName, constraints: x509.NameConstraints) -> str | None:
    permitted = [b for b in constraints.permitted_subtrees or () if type(b) is type(name)]
    if permitted and not any(_within(name, base) for base in permitted):
        return f"{_show(name)} is outside the permitted subtrees"
    for base in constraints.excluded_subtrees or ():
        if type(base) is type(name) and _within(name, base):
            return f"{_show(name)} is inside the excluded subtree {_show(base)}"
    return None


def _show(name: x509.GeneralName) -> str:
    value = name.value
    return value.rfc4514_string() if isinstance(value, x509.Name) else str(value)


def _within(name: x509.GeneralName, base: x509.GeneralName) -> bool:
    if isinstance(name, x509.DNSName):
        return _dns(name.value, base.value)
    if isinstance(name, x509.RFC822Name):
        return _email(name.value, base.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return _uri(name.value, base.value)
    if isinstance(name, x509.IPAddress):
        return _ip(name.value, base.value)
    if isinstance(name, x509.DirectoryName):
        prefix = canonical_name(base.value)
        return canonical_name(name.value)[:len(prefix)] == prefix
    raise Unsupported(f"constraint of type {type(base).__name__}")


def _dns(dns: str, base: str) -> bool:
    if not base:
        return True
    if len(dns) < len(base):
        return False
    tail = dns[len(dns) - len(base):]
    if len(dns) > len(base) and not base.startswith(".") and dns[len(dns) - len(base) - 1] != ".":
        return False
    return tail.lower() == base.lower()


def _email(email: str, base: str) -> bool:
    if base.startswith("."):
        return len(email) > len(base) and email[-len(base):].lower() == base.lower()
    if "@" not in email:
        raise Unsupported(f"e-mail address {email!r} without '@'")
    local, _, host = email.partition("@")
    if "@" in base:
        base_local, _, base = base.partition("@")
        if base_local and base_local != local:  # the local part is case-sensitive
            return False
    return host.lower() == base.lower()


def _uri(uri: str, base: str) -> bool:
    scheme_end = uri.find(":")
    if scheme_end < 0 or uri[scheme_end + 1:scheme_end + 3] != "//":
        raise Unsupported(f"URI {uri!r} without a host")
    rest = uri[scheme_end + 3:]
    end = rest.find(":")
    end = rest.find("/") if end < 0 else end
    host = rest if end < 0 else rest[:end]
    if not host:
        raise Unsupported(f"URI {uri!r} without a host")
    if base.startswith("."):
        return len(host) > len(base) and host[-len(base):].lower() == base.lower()
    return host.lower() == base.lower()


def _ip(address: object, network: object) -> bool:
    if not isinstance(network, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return False
    if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return False
    return address.version == network.version and address in network


def _host_like_cns(cert: x509.Certificate) -> list[str]:
    """Common names that look like host names (OpenSSL's cn2dnsid): letters, digits, '_', and '-' or
    '.' inside, with at least one dot between two labels."""
    out = []
    for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = str(attr.value)
        dotted = False
        for i, ch in enumerate(value):
            if ch.isascii() and (ch.isalnum() or ch == "_"):
                continue
            inner = 0 < i < len(value) - 1
            if inner and ch == "-":
                continue
            if inner and ch == "." and value[i + 1] not in ".-" and value[i - 1] != "-":
                dotted = True
                continue
            dotted = False
            break
        else:
            if dotted:
                out.append(value)
    return out
