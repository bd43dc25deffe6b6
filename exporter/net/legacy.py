"""Offering exactly one legacy TLS version (1.0 or 1.1), and proving this machine can.

Each legacy probe gets a context of its own at OpenSSL's security level 0 (OpenSSL 3
refuses TLS 1.0/1.1 at higher levels). Before a "no" from a server is trusted, an in-memory
handshake proves this machine can speak those versions at all.
"""

from __future__ import annotations

import datetime as dt
import functools
import ssl
import tempfile
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

LEGACY_VERSIONS: tuple[tuple[str, str], ...] = (("TLS 1.0", "TLSv1"), ("TLS 1.1", "TLSv1_1"))


def _version(attr: str) -> ssl.TLSVersion:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is the point here
        return getattr(ssl.TLSVersion, attr)  # type: ignore[no-any-return]  # getattr on an enum by name


@functools.lru_cache(maxsize=4)
def legacy_client_context(attr: str) -> ssl.SSLContext:
    """A context of its own (never the shared capture context) offering exactly one legacy version;
    built once per version and never modified after (a new SSLContext per probe cost ~4% of a round)."""
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
    now = dt.datetime.now(dt.UTC)
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


def local_support_known() -> bool:
    """Whether local_support_problem() has its (cached) answer already."""
    return local_support_problem.cache_info().currsize > 0


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
