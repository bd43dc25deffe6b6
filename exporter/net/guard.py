"""Where the exporter may connect: private, loopback and link-local addresses refused on demand.

On-demand probes of pattern-allowed hosts must not make the exporter reach inside its network
through URLs a certificate or a page names (AIA, OCSP, CRL, resources, redirects), or through
answers that change between lookups. The rule is checked on the address actually connected to,
right before each connect (HTTP sockets, TLS handshakes, direct DNS queries), so IP literals,
every redirect hop and every resolution pass through it.

The policy is a context variable: the /probe handler sets it around one probe and every task
that probe starts inherits it; scheduled runs of configured targets are not restricted.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

# Prefixes that carry an IPv4 address inside an IPv6 one: the IPv4 address is what is reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class ForbiddenAddress(OSError):
    """A connection refused by the policy (an OSError, so callers report it like an unreachable host)."""

    def __init__(self, address: str) -> None:
        super().__init__(errno.EACCES, f"{address} is a private, loopback or link-local address: "
                                       "not connected to for an on-demand probe")
        self.address = address


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_private(address: str) -> bool:
    """True unless `address` is a global unicast address; unparsable counts as private."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id (fe80::1%eth0)
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and is_private(str(inner)):
            return True
    return not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast \
        or ip.is_reserved or ip.is_unspecified


# None: no policy. Otherwise the (address, port) pairs of the configured resolvers, which DNS queries
# (and only DNS queries) may still reach although they are usually private.
_POLICY: ContextVar[frozenset[tuple[str, int]] | None] = ContextVar("sslfault_private_denied", default=None)


@contextlib.contextmanager
def deny_private(allowed_dns: Iterable[tuple[str, int]] = ()) -> Iterator[None]:
    """Within this context, connections to private addresses raise ForbiddenAddress, except DNS queries to
    `allowed_dns` (the configured resolvers: usually private, chosen by the operator). The exemption is the
    exact address and port, for DNS only: a certificate's URL naming the resolver's host reaches nothing."""
    token = _POLICY.set(frozenset((str(ipaddress.ip_address(a)), int(p)) for a, p in allowed_dns))
    try:
        yield
    finally:
        _POLICY.reset(token)


def private_denied() -> bool:
    return _POLICY.get() is not None


def check_destination(address: str, *, deny: bool = False, dns_port: int | None = None) -> None:
    """Raise ForbiddenAddress if connecting to `address` breaks the policy (or `deny` asks for it).

    `dns_port`: this is a DNS query to that port, which may go to a configured resolver."""
    allowed = _POLICY.get()
    if allowed is None and not deny:
        return
    if not is_private(address):
        return
    if dns_port is not None and (_normal(address), dns_port) in (allowed or frozenset()):
        return
    raise ForbiddenAddress(address)


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address
