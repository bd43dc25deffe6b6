"""Synthetic certificates with every profile knob the PKI tests need (private-CA quirks, weak crypto).

cryptography refuses to *sign* certificates with MD5 or SHA-1 and to generate RSA keys under 1024
bits: the lab's `resign` signs the TBS again with them, and small RSA keys come from `openssl genrsa`.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from sslfault_lab.pki import resign

UTC = dt.UTC
DAY = dt.timedelta(days=1)
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)  # the moment the synthetic corpus is judged at
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey



@functools.cache
def _small_rsa_pem(bits: int, index: int) -> bytes:
    return subprocess.run(["openssl", "genrsa", str(bits)], check=True, capture_output=True, timeout=30).stdout


@functools.cache
def _key(kind: str, index: int) -> Key:
    """Keys are cached by (kind, index): generating RSA keys is the slow part of the corpus."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    bits = int(kind.removeprefix("rsa"))
    if bits < 1024:
        loaded = serialization.load_pem_private_key(_small_rsa_pem(bits, index), None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        return loaded
    return rsa.generate_private_key(65537, bits)


_counter = [0]


def new_key(kind: str = "ec") -> Key:
    _counter[0] += 1
    return _key(kind, _counter[0])


def name(cn: str, org: str = "PKI Corpus") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


KU_CA = ("key_cert_sign", "crl_sign")
KU_LEAF = ("digital_signature", "key_encipherment")
_KU_FIELDS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
              "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def make(
    cn: str,
    issuer: Made | None = None,  # None: self-signed
    *,
    key: Key | None = None,
    key_kind: str = "ec",
    ca: bool | None = True,  # None: no basicConstraints at all
    bc_critical: bool = True,
    path_length: int | None = None,
    ku: Sequence[str] | None = KU_CA,  # None: no keyUsage
    ku_critical: bool = True,
    ski: bool = True,
    aki: str = "keyid",  # keyid | none | issuer_serial | wrong
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    sans: Sequence[str] = (),
    eku_server: bool = False,
    hash_name: str = "sha256",
    subject: x509.Name | None = None,
    issuer_name: x509.Name | None = None,
    unknown_critical: bool = False,
    serial: int | None = None,
    aia_url: str | None = None,  # an AIA caIssuers URL
) -> Made:
    key = key or new_key(key_kind)
    subject = subject or name(cn)
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or NOW - 30 * DAY)
        .not_valid_after(not_after or NOW + 60 * DAY)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                                        critical=bc_critical)
    if ku is not None:
        builder = builder.add_extension(x509.KeyUsage(**{f: f in ku for f in _KU_FIELDS}), critical=ku_critical)
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if aki != "none":
        signer_public = signer.public_key()
        if aki == "keyid":
            value = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public)
        elif aki == "wrong":
            value = x509.AuthorityKeyIdentifier(b"\x01" * 20, None, None)
        else:  # issuer_serial: an AKI with no keyIdentifier
            top = issuer.cert if issuer else None
            value = x509.AuthorityKeyIdentifier(
                None, [x509.DirectoryName(top.issuer if top else subject)], top.serial_number if top else 1)
        builder = builder.add_extension(value, critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(s) for s in sans]), critical=False)
    if aia_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia_url))]), critical=False)
    if eku_server:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if unknown_critical:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), critical=True)
    if hash_name != "sha256" and not isinstance(signer, rsa.RSAPrivateKey):
        raise ValueError("weak hashes are made for RSA signers only")
    cert = builder.sign(signer, None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    if hash_name != "sha256":
        assert isinstance(signer, rsa.RSAPrivateKey)
        cert = _resign(cert, signer, hash_name)
    return Made(cert, key)


def _general_name(text: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        return x509.DNSName(text)


def leaf(cn: str, issuer: Made | None, **kw: object) -> Made:
    """A server certificate: CA:FALSE, digitalSignature, the CN as its SAN, serverAuth."""
    options: dict[str, object] = {"ca": False, "ku": KU_LEAF, "sans": (cn,), "eku_server": True}
    options.update(kw)
    return make(cn, issuer, **options)


def _resign(cert: x509.Certificate, key: rsa.RSAPrivateKey, hash_name: str) -> x509.Certificate:
    return resign(cert, key, hash_name)
