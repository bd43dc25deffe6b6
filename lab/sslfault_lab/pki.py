"""A generated CA hierarchy for the lab: root, RSA and ECC intermediates, leaves.

Leaves (and the two-level sub-CAs) carry AIA caIssuers URLs under `aia_base_url`
pointing at their issuer, so a server that sends only its leaf can be completed
the way browsers do it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KeyType = Literal["rsa", "ec"]
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key and the URL it is published at (if any)."""

    cert: x509.Certificate
    key: PrivateKey
    url: str | None = None

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def new_key(key_type: KeyType = "ec", rsa_bits: int = 2048) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    return ec.generate_private_key(ec.SECP256R1())


_SIGNATURE_OIDS = {"sha256": bytes.fromhex("06092a864886f70d01010b"), "sha1": bytes.fromhex("06092a864886f70d010105"),
                   "md5": bytes.fromhex("06092a864886f70d010104")}


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _span(der: bytes, at: int) -> tuple[int, int]:
    size, start = der[at + 1], at + 2
    if size & 0x80:
        count = size & 0x7F
        size, start = int.from_bytes(der[start:start + count], "big"), start + count
    return start, start + size


def resign(cert: x509.Certificate, key: rsa.RSAPrivateKey, hash_name: str) -> x509.Certificate:
    """`cert` (signed by `key` with SHA-256) signed again with MD5 or SHA-1.

    cryptography refuses to sign certificates with those hashes but signs bytes with them: swap the
    signature algorithm OID (same length) in the TBS and around it, and sign the TBS again.
    """
    from cryptography.hazmat.primitives.asymmetric import padding

    der = cert.public_bytes(serialization.Encoding.DER)
    body, _ = _span(der, 0)
    _, tbs_end = _span(der, body)
    tbs = der[body:tbs_end].replace(_SIGNATURE_OIDS["sha256"], _SIGNATURE_OIDS[hash_name], 1)
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if hash_name == "sha1" else hashes.MD5()
    signature = key.sign(tbs, padding.PKCS1v15(), algorithm)
    outer = _tlv(0x30, _SIGNATURE_OIDS[hash_name] + b"\x05\x00")
    return x509.load_der_x509_certificate(_tlv(0x30, tbs + outer + _tlv(0x03, b"\x00" + signature)))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SSL Fault Lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    import ipaddress

    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


class LabPKI:
    """Root CA, an RSA and an ECC intermediate, an expired intermediate, and a leaf factory."""

    def __init__(self, aia_base_url: str, now: dt.datetime | None = None) -> None:
        self.aia_base_url = aia_base_url.rstrip("/")
        self.now = now or dt.datetime.now(dt.UTC)
        self.root = self._ca("SSL Fault Lab Root CA", issuer=None, key_type="rsa", path=None)
        self.rsa_intermediate = self._ca(
            "SSL Fault Lab RSA Intermediate", issuer=self.root, key_type="rsa", path="rsa-intermediate.crt"
        )
        self.ecc_intermediate = self._ca(
            "SSL Fault Lab ECC Intermediate", issuer=self.root, key_type="ec", path="ecc-intermediate.p7c"
        )
        self.expired_intermediate = self._ca(
            "SSL Fault Lab Expired Intermediate",
            issuer=self.root,
            key_type="ec",
            path="expired-intermediate.crt",
            not_before=self.now - 400 * DAY,
            not_after=self.now - 10 * DAY,
        )
        # A separate, untrusted hierarchy ("private CA" the clients do not know).
        self.private_root = self._ca("Private Corp Root CA", issuer=None, key_type="ec", path=None)
        self.private_intermediate = self._ca("Private Corp Issuing CA", issuer=self.private_root, key_type="ec", path=None)
        # Signed by the root with SHA-1: OpenSSL still accepts it, browsers refuse it (cert_crypto_rejected).
        sha256_signed = self._ca("SSL Fault Lab SHA-1 Intermediate", issuer=self.root, key_type="rsa", path=None)
        assert isinstance(self.root.key, rsa.RSAPrivateKey)
        self.sha1_intermediate = Issued(resign(sha256_signed.cert, self.root.key, "sha1"), sha256_signed.key)
        # Two levels under the root (root -> policy CA -> issuing CA), for chains sent out of order.
        self.policy_ca = self.sub_ca("SSL Fault Lab Policy CA", issuer=self.root, path="policy-ca.crt", path_length=1)
        self.issuing_ca = self.sub_ca("SSL Fault Lab Issuing CA", issuer=self.policy_ca, path="issuing-ca.crt")

    # -- publication -----------------------------------------------------------------

    def published(self) -> dict[str, bytes]:
        """Documents to serve at aia_base_url/<path>: DER for .crt, certs-only PKCS#7 for .p7c."""
        from cryptography.hazmat.primitives.serialization import pkcs7

        docs: dict[str, bytes] = {}
        for ca in (self.rsa_intermediate, self.ecc_intermediate, self.expired_intermediate, self.policy_ca, self.issuing_ca):
            assert ca.url is not None
            path = ca.url.rsplit("/", 1)[1]
            if path.endswith(".p7c"):
                docs[path] = pkcs7.serialize_certificates([ca.cert], serialization.Encoding.DER)
            else:
                docs[path] = ca.cert_der
        docs["root.crt"] = self.root.cert_der
        return docs

    @property
    def root_pem(self) -> bytes:
        return self.root.cert_pem

    # -- issuing -----------------------------------------------------------------------

    def _ca(
        self,
        common_name: str,
        issuer: Issued | None,
        key_type: KeyType,
        path: str | None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        key = new_key(key_type)
        subject = _name(common_name)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or self.now - 30 * DAY)
            .not_valid_after(not_after or self.now + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        signing_key = issuer.key if issuer else key
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
        cert = builder.sign(signing_key, hashes.SHA256())
        url = f"{self.aia_base_url}/{path}" if path else None
        return Issued(cert=cert, key=key, url=url)

    def issue_leaf(
        self,
        names: list[str],
        *,
        issuer: Issued | None = None,
        key_type: KeyType = "ec",
        rsa_bits: int = 2048,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        signature_hash: hashes.HashAlgorithm | None = None,
        ocsp_url: str | None = None,
        crl_url: str | None = None,
        with_aia: bool = True,
    ) -> Issued:
        """A server certificate for `names` (first is the CN), valid 90 days by default."""
        issuer = issuer or self.ecc_intermediate
        key = new_key(key_type, rsa_bits)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or self.now - DAY)
            .not_valid_after(not_after or self.now + 90 * DAY)
            .add_extension(_san(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
        )
        access: list[x509.AccessDescription] = []
        if with_aia and issuer.url:
            access.append(
                x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(issuer.url))
            )
        if ocsp_url:
            access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)))
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        if crl_url:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]
                ),
                critical=False,
            )
        # A lab CA may sign with a hash cryptography's types do not list (SHA-1 for the crypto-rejected cases).
        cert = builder.sign(issuer.key, signature_hash or hashes.SHA256())  # type: ignore[arg-type]  # SHA-1 for the rejected-crypto cases
        return Issued(cert=cert, key=key)

    def self_signed(self, names: list[str]) -> Issued:
        key = new_key("ec")
        subject = _name(names[0])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - DAY)
            .not_valid_after(self.now + 90 * DAY)
            .add_extension(_san(names), critical=False)
            .sign(key, hashes.SHA256())
        )
        return Issued(cert=cert, key=key)

    def sub_ca(
        self,
        common_name: str,
        *,
        issuer: Issued,
        path: str,
        path_length: int = 0,
        key_type: KeyType = "ec",
    ) -> Issued:
        """An intermediate published at aia_base_url/<path> whose own AIA points at its issuer.

        Unlike `_ca`, it allows a path length above 0 and carries caIssuers, so a client
        can climb from a deep intermediate to the root by AIA alone.
        """
        key = new_key(key_type)
        issuer_url = issuer.url or f"{self.aia_base_url}/root.crt"
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - 30 * DAY)
            .not_valid_after(self.now + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(issuer_url)
                        )
                    ]
                ),
                critical=False,
            )
            .sign(issuer.key, hashes.SHA256())
        )
        return Issued(cert=cert, key=key, url=f"{self.aia_base_url}/{path}")
