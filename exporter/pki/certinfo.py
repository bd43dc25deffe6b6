"""Facts and faults about one certificate, shared by the TLS check and the file linter."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from exporter.models import FaultId, Finding

UTC = dt.timezone.utc

# CA/Browser Forum BR 6.3.2 (ballot SC-081): notBefore on/after date -> max days.
LIFETIME_CAPS: tuple[tuple[dt.datetime, int], ...] = (
    (dt.datetime(2029, 3, 15, tzinfo=UTC), 47),
    (dt.datetime(2027, 3, 15, tzinfo=UTC), 100),
    (dt.datetime(2026, 3, 15, tzinfo=UTC), 200),
    (dt.datetime(1970, 1, 1, tzinfo=UTC), 398),
)
WEAK_HASHES = {"sha1", "md5", "md2", "md4"}


@dataclass(frozen=True)
class CertSummary:
    """Plain facts for metrics and reports (no live objects, so it serialises)."""

    subject: str
    issuer: str
    serial: str
    fingerprint_sha256: str
    key_type: str  # "RSA-2048", "EC-P256", "Ed25519"...
    not_before: float  # unix seconds
    not_after: float
    self_signed: bool
    names: tuple[str, ...]  # DNS and IP SANs


def key_type(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name.replace('secp', 'P').replace('r1', '').replace('prime256v1', 'P256')}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def key_family(cert: x509.Certificate) -> str:
    """'RSA' or 'ECC' as CAs name their intermediates."""
    return "RSA" if key_type(cert).startswith("RSA") else "ECC"


def san_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    except Exception:  # noqa: BLE001 - a malformed or unsupported SAN (x400Address...): no usable names
        return ()
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(names)


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # noqa: BLE001 - any failure means "not self-signed"
        return False
    return True


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s name and key signed `cert`."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001 - wrong key, unsupported algorithm: not its issuer
        return False
    return True


def summarize(cert: x509.Certificate) -> CertSummary:
    return CertSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        fingerprint_sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        key_type=key_type(cert),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        self_signed=is_self_signed(cert),
        names=san_names(cert),
    )


def describe(cert: x509.Certificate) -> str:
    """Short human name: the CN if any, else the whole subject."""
    cns = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return f"CN={cns[0].value}" if cns else cert.subject.rfc4514_string() or "(empty subject)"


def max_lifetime_days(not_before: dt.datetime) -> int:
    for start, days in LIFETIME_CAPS:
        if not_before >= start:
            return days
    return LIFETIME_CAPS[-1][1]


def validity_findings(
    cert: x509.Certificate, now: dt.datetime, warning_days: float, address: str | None = None
) -> list[Finding]:
    """Expired, not yet valid, expiring soon: judged on the leaf itself, not on trust."""
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    name = describe(cert)
    if not_after < now:
        days = (now - not_after).total_seconds() / 86400
        return [Finding(FaultId.CERT_EXPIRED, f"{name} expired {not_after:%Y-%m-%d %H:%M} UTC ({days:.0f} days ago)", address)]
    if not_before > now:
        return [Finding(FaultId.CERT_NOT_YET_VALID, f"{name} is valid only from {not_before:%Y-%m-%d %H:%M} UTC", address)]
    left = (not_after - now).total_seconds() / 86400
    if left < warning_days:
        return [
            Finding(FaultId.CERT_EXPIRING_SOON,
                f"{name} expires {not_after:%Y-%m-%d %H:%M} UTC, in {left:.1f} days (threshold {warning_days:g})",
                address,
            )
        ]
    return []


def policy_findings(cert: x509.Certificate, address: str | None = None) -> list[Finding]:
    """Lifetime over the CA/B Forum cap, and weak signature or key."""
    findings: list[Finding] = []
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    cap = max_lifetime_days(not_before)
    lifetime = not_after - not_before + dt.timedelta(seconds=1)  # BR: the period is inclusive
    if not is_self_signed(cert) and lifetime > dt.timedelta(days=cap):
        findings.append(
            Finding(FaultId.CERT_LIFETIME_EXCEEDS_POLICY,
                f"{describe(cert)} is valid {lifetime.total_seconds() / 86400:.0f} days; certificates issued from "
                f"{not_before:%Y-%m-%d} may be valid at most {cap} days",
                address,
            )
        )
    weak: list[str] = []
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - unknown algorithm: not ours to judge here
        algorithm = None
    if isinstance(algorithm, hashes.HashAlgorithm) and algorithm.name.lower() in WEAK_HASHES:
        weak.append(f"{algorithm.name.upper()} signature")
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        weak.append(f"RSA key of {key.key_size} bits")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        weak.append(f"EC key of {key.curve.key_size} bits")
    if isinstance(key, dsa.DSAPublicKey):
        weak.append("DSA key")
    if weak:
        findings.append(Finding(FaultId.CERT_WEAK_CRYPTO, f"{describe(cert)}: {', '.join(weak)}", address))
    return findings
