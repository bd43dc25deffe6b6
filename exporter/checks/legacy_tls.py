"""Legacy protocols: does the server still complete a TLS 1.0 or TLS 1.1 handshake?

Each probe offers exactly one old version with OpenSSL's security level 0 (only on
that probe's own context), since OpenSSL 3 refuses TLS 1.0/1.1 at the default level.
Before trusting a "no", we prove this machine can speak those versions at all with an
in-memory handshake; if it cannot, the check reports "unsupported", never "no fault".
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import asyncio
import datetime as dt
import functools
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from exporter.checks.http import tls_addresses
from exporter.target import Target
from exporter.errors import UnsupportedProbe
from exporter.checks.base import CheckPlugin, NoSettings
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.net.tls import ConnectStatus, handshake

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

LEGACY_VERSIONS: tuple[tuple[str, str], ...] = (("TLS 1.0", "TLSv1"), ("TLS 1.1", "TLSv1_1"))


@dataclass(frozen=True)
class AddressLegacy:
    address: str
    accepted: tuple[str, ...]  # e.g. ("TLS 1.0", "TLS 1.1")


@dataclass(frozen=True)
class LegacyTlsResult:
    addresses: tuple[AddressLegacy, ...]


def _version(attr: str) -> ssl.TLSVersion:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is the point here
        return getattr(ssl.TLSVersion, attr)  # type: ignore[no-any-return]


def legacy_client_context(attr: str) -> ssl.SSLContext:
    """A context of its own (never the shared capture context) offering exactly one legacy version."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 at higher levels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _version(attr)
        ctx.maximum_version = _version(attr)
    return ctx


def _self_signed_files(directory: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # small and fast: a local test only
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy-tls self-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def _memory_handshake(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext) -> str | None:
    """Handshake two contexts through memory BIOs; the negotiated version, or raise."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(20):
        finished = 0
        for side, out, peer in ((client, c_out, s_in), (server, s_out, c_in)):
            try:
                side.do_handshake()
                finished += 1
            except ssl.SSLWantReadError:
                pass
            if out.pending:
                peer.write(out.read())
        if finished == 2:
            return client.version()
    raise ssl.SSLError("the in-memory handshake did not finish")


@functools.cache
def local_support_problem() -> str | None:
    """Why this machine cannot offer TLS 1.0/1.1, or None when it can (checked once per process)."""
    if not (ssl.HAS_TLSv1 and ssl.HAS_TLSv1_1):
        return f"{ssl.OPENSSL_VERSION} was built without TLS 1.0/1.1"
    with tempfile.TemporaryDirectory(prefix="sslfault-legacy-") as directory:
        cert_file, key_file = _self_signed_files(directory)
        for label, attr in LEGACY_VERSIONS:
            try:
                server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                server.set_ciphers("DEFAULT:@SECLEVEL=0")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    server.minimum_version = _version(attr)
                server.load_cert_chain(cert_file, key_file)
                _memory_handshake(legacy_client_context(attr), server)
            except (ssl.SSLError, ValueError, OSError) as exc:
                return f"{ssl.OPENSSL_VERSION} cannot complete a {label} handshake here ({exc})"
    return None


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    problem = await asyncio.to_thread(local_support_problem)
    if problem:

        raise UnsupportedProbe(f"cannot judge legacy TLS: {problem}")
    addresses = await tls_addresses(ctx)
    per_address = await asyncio.gather(*(_probe_address(target, ctx, a) for a in addresses))
    findings = [
        Finding(FaultId.TLS_LEGACY_PROTOCOL, f"the server completes a {' and a '.join(r.accepted)} handshake", r.address,
                {"versions": list(r.accepted)})
        for r in per_address if r.accepted
    ]
    return CheckOutcome(tuple(findings), LegacyTlsResult(tuple(per_address)))


async def _probe_address(target: Target, ctx: ProbeContext, address: str) -> AddressLegacy:
    handshakes = await asyncio.gather(*(
        handshake(address, target.port, ctx.default_sni(), connect_timeout=target.timeout * 0.3,
                  handshake_timeout=target.timeout * 0.3, context=legacy_client_context(attr))
        for _, attr in LEGACY_VERSIONS))
    for hs in handshakes:
        if hs.status is ConnectStatus.HANDSHAKE_TIMEOUT:
            # Silence is not a refusal: a server (or middlebox) that stalls legacy hellos gives no verdict.
            raise TimeoutError(f"{address}: {hs.error}")
        if hs.status not in (ConnectStatus.OK, ConnectStatus.HANDSHAKE_FAILED):
            # Could not even connect this time: no verdict, rather than a false "refuses TLS 1.0".
            raise OSError(f"{address}: {hs.error}")
    return AddressLegacy(address, tuple(label for (label, _), hs in zip(LEGACY_VERSIONS, handshakes, strict=True)
                                        if hs.status is ConnectStatus.OK))


PLUGIN = CheckPlugin[NoSettings, LegacyTlsResult](
    name="legacy_tls",
    summary="the server still completes a TLS 1.0 or TLS 1.1 handshake",
    run=run,
    result_type=LegacyTlsResult,
    faults=frozenset({FaultId.TLS_LEGACY_PROTOCOL, FaultId.TLS_MODERN_PROTOCOL_UNSUPPORTED,
                      FaultId.TLS_INSECURE_CIPHER, FaultId.TLS_WEAK_CIPHER}),
)
