"""Revocation: is the served leaf revoked? OCSP when its AIA names a responder, else its CRL.

Responses are believed only when signed by the leaf's issuer or by a responder
certificate that issuer delegated (EKU OCSPSigning). CRLs are verified against the
issuer, size-capped and cached until their nextUpdate. A leaf with neither an OCSP
URL nor a CRL is not a fault: many CAs (Let's Encrypt since 2025) run no OCSP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, SignatureAlgorithmOID

from exporter.checks.base import CheckPlugin, NoSettings
from exporter.errors import DependencyError, InvalidResponse
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.net.http import read_capped
from exporter.pki.aia import ca_issuers_urls
from exporter.pki.certinfo import describe
from exporter.pki.verify import issued
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

OCSP_MAX_BYTES = 64 * 1024
CRL_MAX_BYTES = 10 * 1024 * 1024
CRL_MIN_TTL, CRL_MAX_TTL, CRL_FAILURE_TTL = 60.0, 86400.0, 300.0
CLOCK_SKEW = dt.timedelta(minutes=5)


class RevocationError(InvalidResponse):
    """No trustworthy answer (forged or malformed response, unusable CRL).

    The runner files it under "protocol": the remote side answered, but with nothing
    we may believe. It must never turn into "not revoked".
    """


@dataclass(frozen=True, slots=True)
class LeafStatus:
    addresses: tuple[str, ...]
    serial: str
    method: str  # ocsp, crl, none
    status: str  # good, revoked, unknown, not_checked
    source: str | None = None  # the responder or CRL URL
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RevocationResult:
    leaves: tuple[LeafStatus, ...]


def _urls(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(OCSP responder URLs, CRL distribution point URLs), http(s) only."""
    ocsp_urls: list[str] = []
    crl_urls: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP
                     and isinstance(d.access_location, x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    except Exception as exc:  # noqa: BLE001 - cryptography raises many kinds for malformed extensions
        raise RevocationError(f"the certificate's extensions cannot be parsed: {exc}") from None
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_urls = [n.value for p in points for n in (p.full_name or ())
                    if isinstance(n, x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    except Exception as exc:  # noqa: BLE001 - cryptography raises many kinds for malformed extensions
        raise RevocationError(f"the certificate's extensions cannot be parsed: {exc}") from None
    web = ("http://", "https://")
    return [u for u in ocsp_urls if u.lower().startswith(web)], [u for u in crl_urls if u.lower().startswith(web)]


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    served: dict[bytes, tuple[list[str], tuple[bytes, ...]]] = {}  # leaf -> (addresses, a chain sent with it)
    for hs in await ctx.served_handshakes():
        served.setdefault(hs.chain_der[0], ([], hs.chain_der))[0].append(hs.address)
    statuses = await asyncio.gather(*(_leaf_status(ctx, tuple(a), chain) for a, chain in served.values()))
    findings = [Finding(FaultId.CERT_REVOKED, s.detail, a, {"serial": s.serial, "source": s.source})
                for s in statuses if s.status == "revoked" for a in s.addresses]
    return CheckOutcome(tuple(findings), RevocationResult(tuple(statuses)))


async def _leaf_status(ctx: ProbeContext, addresses: tuple[str, ...], chain: tuple[bytes, ...]) -> LeafStatus:
    try:
        leaf = x509.load_der_x509_certificate(chain[0])
    except ValueError as exc:
        raise RevocationError(f"the server's certificate cannot be parsed: {exc}") from None
    serial = f"{leaf.serial_number:x}"
    ocsp_urls, crl_urls = _urls(leaf)
    if not ocsp_urls and not crl_urls:
        return LeafStatus(addresses, serial, "none", "not_checked", None, "no OCSP responder and no CRL named")
    issuer = await _issuer(ctx, leaf, chain)
    errors: list[str] = []
    for url in ocsp_urls:
        try:
            status, when, reason = await _ask_ocsp(ctx, url, leaf, issuer)
        except (TimeoutError, RevocationError, ValueError, aiohttp.ClientError, OSError) as exc:
            errors.append(f"OCSP {url}: {exc or type(exc).__name__}")
            continue
        if status != "unknown":
            return _status(addresses, leaf, "ocsp", status, url, when, reason)
        errors.append(f"OCSP {url}: the responder does not know this certificate")
    for url in crl_urls:
        try:
            crl = await _crl(ctx, url, issuer)
        except (TimeoutError, RevocationError, ValueError, aiohttp.ClientError, OSError) as exc:
            errors.append(f"CRL {url}: {exc or type(exc).__name__}")
            continue
        entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
        if entry is None:
            return _status(addresses, leaf, "crl", "good", url, None, None)
        return _status(addresses, leaf, "crl", "revoked", url, entry.revocation_date_utc, _crl_reason(entry))
    raise RevocationError("; ".join(errors))  # never read as "not revoked"


def _status(addresses: tuple[str, ...], leaf: x509.Certificate, method: str, status: str, url: str,
            when: dt.datetime | None, reason: str | None) -> LeafStatus:
    detail = f"{describe(leaf)}: {status} according to {url}"
    if status == "revoked":
        detail = (f"{describe(leaf)} was revoked{f' on {when:%Y-%m-%d %H:%M} UTC' if when else ''}"
                  f"{f' ({reason})' if reason else ''} according to {url}")
    return LeafStatus(addresses, f"{leaf.serial_number:x}", method, status, url, detail)


def _crl_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except x509.ExtensionNotFound:
        return None


async def _issuer(ctx: ProbeContext, leaf: x509.Certificate, chain: tuple[bytes, ...]) -> x509.Certificate:
    """The leaf's issuer: from what the server sent, else from its AIA caIssuers URL."""
    for der in chain[1:]:
        cert = x509.load_der_x509_certificate(der)
        if issued(leaf, cert):
            return cert
    for url in ca_issuers_urls(leaf):
        try:  # the fetcher (and its cache) the chain check uses
            found = next((c for c in await ctx.issuers_at(url) if issued(leaf, c)), None)
        except Exception:  # noqa: BLE001 - a broken AIA URL is data: try the next one
            continue
        if found is not None:
            return found
    raise DependencyError(f"the issuer of {describe(leaf)} is unknown: cannot check revocation")


# -- OCSP ------------------------------------------------------------------------------------


async def _ask_ocsp(
    ctx: ProbeContext, url: str, leaf: x509.Certificate, issuer: x509.Certificate
) -> tuple[str, dt.datetime | None, str | None]:
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    timeout = aiohttp.ClientTimeout(total=ctx.target.timeout * 0.5)
    async with ctx.resources.session.post(
        url, data=request.public_bytes(Encoding.DER), headers={"Content-Type": "application/ocsp-request"},
        timeout=timeout,
    ) as resp:
        body, truncated = await read_capped(resp, OCSP_MAX_BYTES)
        if resp.status != 200 or truncated:
            raise RevocationError(f"HTTP {resp.status}" if resp.status != 200 else "response too large")
    response = ocsp.load_der_ocsp_response(body)
    single = verify_ocsp_response(response, leaf, issuer, ctx.now())
    if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason.name if single.revocation_reason else None
        return "revoked", single.revocation_time_utc, reason
    return ("good" if single.certificate_status is ocsp.OCSPCertStatus.GOOD else "unknown"), None, None


def verify_ocsp_response(
    response: ocsp.OCSPResponse, leaf: x509.Certificate, issuer: x509.Certificate, now: dt.datetime
) -> ocsp.OCSPSingleResponse:
    """The single response about `leaf`, after checking who signed it and that it is current."""
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationError(f"responder answered {response.response_status.name}")
    single = next((s for s in response.responses if _same_cert_id(s, leaf, issuer)), None)
    if single is None:
        raise RevocationError("the response does not cover this certificate")
    signer = _authorised_signer(response, issuer, now)
    try:
        verify_signature(signer.public_key(), response.signature, response.tbs_response_bytes,
                         response.signature_hash_algorithm, response.signature_algorithm_oid)
    except InvalidSignature:
        raise RevocationError("the response's signature does not verify (forged or corrupted)") from None
    if single.this_update_utc > now + CLOCK_SKEW:
        raise RevocationError(f"the response is dated in the future ({single.this_update_utc:%Y-%m-%d %H:%M})")
    if single.next_update_utc is not None and single.next_update_utc < now - CLOCK_SKEW:
        raise RevocationError(f"the response is stale (nextUpdate {single.next_update_utc:%Y-%m-%d %H:%M})")
    return single


def _same_cert_id(single: ocsp.OCSPSingleResponse, leaf: x509.Certificate, issuer: x509.Certificate) -> bool:
    if single.serial_number != leaf.serial_number:
        return False
    expected = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, single.hash_algorithm).build()
    return (single.issuer_key_hash, single.issuer_name_hash) == (expected.issuer_key_hash, expected.issuer_name_hash)


def _key_hash(cert: x509.Certificate) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _authorised_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime) -> x509.Certificate:
    """The issuer itself, or a responder certificate it issued for OCSP signing (RFC 6960 4.2.2.2)."""

    def named(cert: x509.Certificate) -> bool:
        if response.responder_name is not None:
            return response.responder_name == cert.subject
        return response.responder_key_hash == _key_hash(cert)

    if named(issuer):
        return issuer
    for cert in response.certificates:
        if named(cert) and issued(cert, issuer) and _ocsp_signing(cert) \
                and cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return cert
    raise RevocationError("the response is signed by a responder the issuer did not authorise")


def _ocsp_signing(cert: x509.Certificate) -> bool:
    try:
        return ExtendedKeyUsageOID.OCSP_SIGNING in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False


def verify_signature(key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None,
                     oid: x509.ObjectIdentifier | None = None) -> None:
    """Raises InvalidSignature unless `key` signed `data`."""
    if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if oid == SignatureAlgorithmOID.RSASSA_PSS:
            pad = padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO)
        key.verify(signature, data, pad, algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        key.verify(signature, data)
    else:
        raise InvalidSignature(f"unsupported signer key {type(key).__name__}")


# -- CRL --------------------------------------------------------------------------------------


async def _crl(ctx: ProbeContext, url: str, issuer: x509.Certificate) -> x509.CertificateRevocationList:
    cache, key = ctx.resources.crl_cache, f"{url} {issuer.fingerprint(hashes.SHA256()).hex()}"
    cached = cache.get(key)
    if isinstance(cached, str):
        raise RevocationError(cached)
    if cached is not None:
        return cast(x509.CertificateRevocationList, cached)  # the cache holds CRLs or failure texts
    try:
        crl, size = await _download_crl(ctx, url, issuer)
    except RevocationError as exc:
        cache.put(key, str(exc), CRL_FAILURE_TTL)
        raise
    next_update = crl.next_update_utc
    ttl = (next_update - ctx.now()).total_seconds() if next_update else CRL_MIN_TTL
    cache.put(key, crl, min(max(ttl, CRL_MIN_TTL), CRL_MAX_TTL), weight=size)
    return crl


async def _download_crl(
    ctx: ProbeContext, url: str, issuer: x509.Certificate
) -> tuple[x509.CertificateRevocationList, int]:
    timeout = aiohttp.ClientTimeout(total=ctx.target.timeout * 0.5)
    async with ctx.resources.session.get(url, timeout=timeout, allow_redirects=True, max_redirects=3) as resp:
        body, truncated = await read_capped(resp, CRL_MAX_BYTES)
        if resp.status != 200:
            raise RevocationError(f"HTTP {resp.status}")
    if truncated:
        raise RevocationError(f"larger than {CRL_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        crl = x509.load_der_x509_crl(body)
    except ValueError:
        try:
            crl = x509.load_pem_x509_crl(body)
        except ValueError:
            raise RevocationError("not a CRL (DER or PEM)") from None
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]  # any CA key type; a wrong one is a refused CRL
        raise RevocationError("the CRL is not signed by the certificate's issuer")
    return crl, len(body)


PLUGIN = CheckPlugin[NoSettings, RevocationResult](
    name="revocation",
    summary="the leaf's OCSP responder (else its CRL) does not say revoked",
    run=run,
    result_type=RevocationResult,
    faults=frozenset({FaultId.CERT_REVOKED}),
)
