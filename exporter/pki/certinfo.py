"""Facts and faults about one certificate, shared by the TLS check and the file linter."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning

from exporter.models import FaultId, Finding

UTC = dt.UTC
E = TypeVar("E", bound=x509.ExtensionType)

# CA/Browser Forum BR 6.3.2 (and ballot SC-081) over time: notBefore on/after -> (amount, unit).
# Before 2012-07-01 there was no cap.
LIFETIME_SCHEDULE: tuple[tuple[dt.datetime, int, str], ...] = (
    (dt.datetime(2029, 3, 15, tzinfo=UTC), 47, "days"),
    (dt.datetime(2027, 3, 15, tzinfo=UTC), 100, "days"),
    (dt.datetime(2026, 3, 15, tzinfo=UTC), 200, "days"),
    (dt.datetime(2020, 9, 1, tzinfo=UTC), 398, "days"),
    (dt.datetime(2018, 3, 1, tzinfo=UTC), 825, "days"),
    (dt.datetime(2015, 4, 1, tzinfo=UTC), 39, "months"),
    (dt.datetime(2012, 7, 1, tzinfo=UTC), 60, "months"),
)
REJECTED_HASHES = {"sha1", "md5", "md2", "md4"}  # browsers refuse these signatures outright
MIN_RSA_BITS, REJECTED_RSA_BITS, MIN_EC_BITS = 2048, 1024, 256


@contextmanager
def quiet() -> Iterator[None]:
    """Silence cryptography's deprecation warnings (several Mozilla roots have non-positive serials)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


def serial_of(cert: x509.Certificate) -> int:
    with quiet():
        return cert.serial_number


def extension(cert: x509.Certificate, kind: type[E]) -> E | None:
    """An extension's value; None when absent or unparsable (the path checks report malformed ones)."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except Exception:  # noqa: BLE001 - malformed extension: treated as absent, judged elsewhere
        return None


def signature_valid(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`issuer`'s key signed `cert`, with any hash (MD5 and SHA-1 too: cryptography's own
    verify_directly_issued_by refuses them, OpenSSL does not) and any common key type."""
    try:
        key = issuer.public_key()
        algorithm = cert.signature_hash_algorithm
        params: Any = cert.signature_algorithm_parameters
        signature, data = cert.signature, cert.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey) and isinstance(algorithm, hashes.HashAlgorithm):
            pad = params if isinstance(params, (padding.PSS, padding.PKCS1v15)) else padding.PKCS1v15()
            key.verify(signature, data, pad, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            key.verify(signature, data, params)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)) and algorithm is None:
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey) and isinstance(algorithm, hashes.HashAlgorithm):
            key.verify(signature, data, algorithm)
        else:
            return False
    except Exception:  # noqa: BLE001 - undecodable signature or key: not self-signed
        return False
    return True


@dataclass(frozen=True, slots=True)
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
    except Exception:  # noqa: BLE001 - malformed SAN: no names, so no host matches
        return ()
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(names)


def is_self_signed(cert: x509.Certificate) -> bool:
    """Subject equals issuer and its own key verifies its signature."""
    return cert.subject == cert.issuer and signature_valid(cert, cert)


def summarize(cert: x509.Certificate) -> CertSummary:
    return CertSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(serial_of(cert), "x"),
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
    if cns:
        value = cns[0].value
        return f"CN={value if isinstance(value, str) else value.hex()}"
    return cert.subject.rfc4514_string() or "(empty subject)"


def _add_months(when: dt.datetime, months: int) -> dt.datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def lifetime_cap(not_before: dt.datetime) -> tuple[dt.timedelta, str] | None:
    """The CA/B Forum maximum in force at `not_before`, and how the rule words it; None before 2012-07-01."""
    for start, amount, unit in LIFETIME_SCHEDULE:
        if not_before >= start:
            if unit == "days":
                return dt.timedelta(days=amount), f"{amount} days"
            return _add_months(not_before, amount) - not_before, f"{amount} months"
    return None


def lifetime_finding(cert: x509.Certificate, public: bool, private_max_days: int | None = None,
                     address: str | None = None) -> Finding | None:
    """Over the cap in force at notBefore (public chains), or over the operator's cap for a private CA."""
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    lifetime = not_after - not_before + dt.timedelta(seconds=1)  # BR: the period is inclusive
    if public:
        cap = lifetime_cap(not_before)
        if cap is None or lifetime <= cap[0]:
            return None
        rule = (f"publicly trusted certificates issued from {not_before:%Y-%m-%d} may be valid at most {cap[1]} "
                "(CA/Browser Forum Baseline Requirements 6.3.2)")
    elif private_max_days is not None:
        if lifetime <= dt.timedelta(days=private_max_days):
            return None
        rule = f"the configured maximum for certificates of a private CA is {private_max_days} days"
    else:
        return None
    days = lifetime.total_seconds() / 86400
    return Finding(FaultId.CERT_LIFETIME_EXCEEDS_POLICY, f"{describe(cert)} is valid {days:.0f} days; {rule}",
                   address, {"lifetime_days": round(days, 2)})


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


def crypto_findings(cert: x509.Certificate, role: str = "", address: str | None = None) -> list[Finding]:
    """MD5/SHA-1 signatures and RSA under 1024 bits: refused by browsers (cert_crypto_rejected). RSA under
    2048 bits and EC under 256: below the CA/B minimum (cert_weak_crypto). `role`: "intermediate " etc."""
    rejected: list[str] = []
    weak: list[str] = []
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - unknown or malformed algorithm: reported as unknown
        algorithm = None
    # A self-signed certificate's own signature is never checked by clients (roots may be SHA-1).
    if isinstance(algorithm, hashes.HashAlgorithm) and algorithm.name.lower() in REJECTED_HASHES \
            and not is_self_signed(cert):
        rejected.append(f"{algorithm.name.upper()} signature")
    try:
        key = cert.public_key()
    except Exception:  # noqa: BLE001 - unsupported or malformed key: reported as unknown
        key = None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < REJECTED_RSA_BITS:
        rejected.append(f"RSA key of {key.key_size} bits")
    elif isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        weak.append(f"RSA key of {key.key_size} bits")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        weak.append(f"EC key of {key.curve.key_size} bits")
    if isinstance(key, dsa.DSAPublicKey):
        weak.append("DSA key")
    findings = []
    if rejected:
        findings.append(Finding(FaultId.CERT_CRYPTO_REJECTED,
                                f"{role}{describe(cert)}: {', '.join(rejected)} (browsers refuse it)", address))
    if weak:
        findings.append(Finding(FaultId.CERT_WEAK_CRYPTO, f"{role}{describe(cert)}: {', '.join(weak)}", address))
    return findings


# -- per certificate, once: a served certificate is the same bytes run after run (and, behind a load
# balancer, target after target), so what follows from those bytes alone is kept for the next time.
_SEEN_CERTIFICATES = 2048


@functools.lru_cache(maxsize=_SEEN_CERTIFICATES)
def load_der(der: bytes) -> x509.Certificate:
    """The parsed certificate (ValueError when it cannot be parsed; failures are not kept)."""
    return x509.load_der_x509_certificate(der)


@functools.lru_cache(maxsize=_SEEN_CERTIFICATES)
def summary_of(der: bytes) -> CertSummary:
    return summarize(load_der(der))


@functools.lru_cache(maxsize=_SEEN_CERTIFICATES)
def crypto_findings_of(der: bytes, role: str = "") -> tuple[Finding, ...]:
    """crypto_findings without an address (give it with dataclasses.replace)."""
    return tuple(crypto_findings(load_der(der), role))

