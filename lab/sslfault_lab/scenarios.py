"""The lab's scenarios as data: one host per fault, what it serves, and the faults expected.

A spec says what to build; `Lab` gives each endpoint its own loopback address on the
shared port, writes the chain files and publishes the names in the lab DNS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sslfault_lab.pki import DAY, Issued, LabPKI, PrivateKey

Kind = Literal["tls", "refused", "filtered", "stall", "not-tls"]
DnsMode = Literal["address", "nxdomain", "servfail"]


@dataclass(frozen=True)
class Scenario:
    """One lab host. `addresses` are what the lab DNS returns for `host`."""

    name: str
    host: str
    port: int
    addresses: tuple[str, ...]
    expected_faults: frozenset[str]
    description: str
    chain_file: str | None = None  # PEM chain exactly as served (leaf first); first address for `multi`
    key_file: str | None = None
    expected_addresses: tuple[str, ...] | None = None  # only for dns_unexpected_address
    fault_addresses: tuple[str, ...] | None = None  # where the faults show; None: every address

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/"


@dataclass(frozen=True)
class Served:
    """What one TLS endpoint sends: the chain in wire order, and the leaf's key."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKey

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


ChainBuilder = Callable[[LabPKI, str], Served]


@dataclass(frozen=True)
class Endpoint:
    kind: Kind = "tls"
    build: ChainBuilder | None = None
    no_sni: ChainBuilder | None = None  # served to clients sending no (or another) server name


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    faults: frozenset[str]
    description: str
    endpoints: tuple[Endpoint, ...] = ()
    dns: DnsMode = "address"
    fault_endpoints: tuple[int, ...] | None = None  # indexes into endpoints
    expect_other_address: bool = False


def served(leaf: Issued, *cas: Issued) -> Served:
    return Served((leaf.cert, *(ca.cert for ca in cas)), leaf.key)


# -- chain builders -----------------------------------------------------------------------


def ecc_ok(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([host]), pki.ecc_intermediate)


def rsa_ok(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([host], issuer=pki.rsa_intermediate, key_type="rsa"), pki.rsa_intermediate)


def leaf_only(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([host]))  # its AIA points at the published ECC intermediate


def expired(pki: LabPKI, host: str) -> Served:
    leaf = pki.issue_leaf([host], not_before=pki.now - 100 * DAY, not_after=pki.now - 10 * DAY)
    return served(leaf, pki.ecc_intermediate)


def expiring(pki: LabPKI, host: str) -> Served:
    leaf = pki.issue_leaf([host], not_before=pki.now - 85 * DAY, not_after=pki.now + 5 * DAY)
    return served(leaf, pki.ecc_intermediate)


def not_yet_valid(pki: LabPKI, host: str) -> Served:
    leaf = pki.issue_leaf([host], not_before=pki.now + 10 * DAY, not_after=pki.now + 100 * DAY)
    return served(leaf, pki.ecc_intermediate)


def expired_intermediate(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([host], issuer=pki.expired_intermediate), pki.expired_intermediate)


def wrong_host(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([f"other-name.{host.split('.', 1)[1]}"]), pki.ecc_intermediate)


def self_signed(pki: LabPKI, host: str) -> Served:
    return served(pki.self_signed([host]))


def private_ca(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([host], issuer=pki.private_intermediate), pki.private_intermediate)


def default_site(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([f"default-site.{host.split('.', 1)[1]}"]), pki.ecc_intermediate)


def wrong_order(pki: LabPKI, host: str) -> Served:
    # Right order is leaf, issuing CA, policy CA: the CAs come swapped.
    return served(pki.issue_leaf([host], issuer=pki.issuing_ca), pki.policy_ca, pki.issuing_ca)


def with_root(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([host]), pki.ecc_intermediate, pki.root)


def extra_certs(pki: LabPKI, host: str) -> Served:
    # The RSA intermediate is not on an ECC leaf's path: a bundle installed by mistake.
    return served(pki.issue_leaf([host]), pki.ecc_intermediate, pki.rsa_intermediate)


def long_lifetime(pki: LabPKI, host: str) -> Served:
    # 300 days from yesterday: over the 200-day CA/B cap for certificates issued from 2026-03-15.
    leaf = pki.issue_leaf([host], not_before=pki.now - DAY, not_after=pki.now + 299 * DAY)
    return served(leaf, pki.ecc_intermediate)


def weak_key(pki: LabPKI, host: str) -> Served:
    leaf = pki.issue_leaf([host], issuer=pki.rsa_intermediate, key_type="rsa", rsa_bits=1024)
    return served(leaf, pki.rsa_intermediate)


def sha1_intermediate(pki: LabPKI, host: str) -> Served:
    return served(pki.issue_leaf([host], issuer=pki.sha1_intermediate), pki.sha1_intermediate)


# -- the catalogue ------------------------------------------------------------------------


def _tls(name: str, build: ChainBuilder, faults: set[str], description: str) -> ScenarioSpec:
    return ScenarioSpec(name, frozenset(faults), description, (Endpoint("tls", build),))


def _plain(name: str, kind: Kind, fault: str, description: str) -> ScenarioSpec:
    return ScenarioSpec(name, frozenset({fault}), description, (Endpoint(kind),))


SPECS: tuple[ScenarioSpec, ...] = (
    _tls("ok", ecc_ok, set(), "healthy: ECC leaf and ECC intermediate"),
    _tls("ok-rsa", rsa_ok, set(), "healthy: RSA leaf and RSA intermediate"),
    _tls("leaf-only", leaf_only, {"chain_incomplete"}, "sends only the leaf; AIA points at the intermediate (.p7c)"),
    _tls("expired", expired, {"cert_expired"}, "leaf expired 10 days ago"),
    _tls("expiring", expiring, {"cert_expiring_soon"}, "leaf expires in 5 days"),
    _tls("not-yet-valid", not_yet_valid, {"cert_not_yet_valid"}, "leaf notBefore is 10 days ahead"),
    _tls("expired-intermediate", expired_intermediate, {"chain_cert_expired"},
         "leaf issued by an intermediate that expired 10 days ago, sent with it"),
    _tls("wrong-host", wrong_host, {"cert_hostname_mismatch"}, "certificate only for other-name.<domain>"),
    _tls("self-signed", self_signed, {"cert_untrusted"}, "self-signed leaf"),
    _tls("private-ca", private_ca, {"cert_untrusted"}, "leaf and intermediate of a private CA nobody trusts"),
    ScenarioSpec("sni", frozenset({"sni_default_cert_mismatch"}),
                 "good certificate with SNI; without SNI a certificate for default-site.<domain>",
                 (Endpoint("tls", ecc_ok, no_sni=default_site),)),
    _tls("wrong-order", wrong_order, {"chain_wrong_order"},
         "leaf, policy CA, issuing CA (issuing CA should come first)"),
    _tls("with-anchor", with_root, {"chain_contains_root"}, "leaf, intermediate and the root"),
    _tls("extra-certs", extra_certs, {"chain_extra_certs"}, "leaf, intermediate and an unrelated CA"),
    _tls("long-lifetime", long_lifetime, {"cert_lifetime_exceeds_policy"}, "issued yesterday, valid 300 days"),
    _tls("weak-key", weak_key, {"cert_weak_crypto"}, "RSA-1024 leaf (clients need SECLEVEL=0 to connect)"),
    _tls("sha1-intermediate", sha1_intermediate, {"cert_crypto_rejected"},
         "intermediate signed with SHA-1: OpenSSL trusts the path, browsers refuse it"),
    _plain("refused", "refused", "tcp_connect_refused", "nothing listens on the address"),
    _plain("filtered", "filtered", "tcp_connect_timeout", "accept queue full: SYNs are dropped"),
    _plain("stall", "stall", "tls_handshake_failed", "accepts TCP and never speaks"),
    _plain("not-tls", "not-tls", "tls_handshake_failed", "answers the ClientHello with plain HTTP"),
    ScenarioSpec("multi", frozenset({"cert_expired"}),
                 "two addresses: the first healthy, the second serves an expired leaf",
                 (Endpoint("tls", ecc_ok), Endpoint("tls", expired)), fault_endpoints=(1,)),
    ScenarioSpec("unresolvable", frozenset({"dns_resolution_failed"}), "NXDOMAIN", dns="nxdomain"),
    ScenarioSpec("servfail", frozenset({"dns_resolution_failed"}), "the name server answers SERVFAIL",
                 dns="servfail"),
    ScenarioSpec("unexpected-address", frozenset({"dns_unexpected_address"}),
                 "resolves to a healthy server, but expected_addresses names another IP",
                 (Endpoint("tls", ecc_ok),), expect_other_address=True),
)
