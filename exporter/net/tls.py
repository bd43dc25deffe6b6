"""Capture what a server sends in a TLS handshake, without trusting it.

TCP connect and TLS handshake are separate steps so a failure can be named:
refused, timed out, or handshake failed. Verification is off on purpose: the
chain is judged later with cryptography.x509.verification, so expired and
untrusted certificates are still captured and exported.
"""

from __future__ import annotations

import _ssl
import asyncio
import enum
import errno
import functools
import socket
import ssl
import time
import warnings
from dataclasses import dataclass

from exporter.net.guard import check_destination

_ENCODING_DER: int = _ssl.ENCODING_DER  # not re-exported by ssl in 3.11


class ConnectStatus(enum.StrEnum):
    OK = "ok"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    HANDSHAKE_FAILED = "handshake_failed"
    HANDSHAKE_TIMEOUT = "handshake_timeout"  # connected, but the handshake never finished


@dataclass(frozen=True)
class Handshake:
    """The outcome of one connection attempt to one address with one SNI."""

    address: str
    port: int
    sni: str | None
    status: ConnectStatus
    chain_der: tuple[bytes, ...] = ()  # exactly as sent, leaf first
    version: str | None = None
    cipher: str | None = None
    error: str | None = None
    connect_seconds: float = 0.0
    handshake_seconds: float = 0.0
    # The server sent a CertificateRequest (TLS 1.2 or 1.3); None: not known (the handshake failed).
    cert_requested: bool | None = None


LEGACY_NAMES = ("TLSv1", "TLSv1.1")  # as ssl.SSLObject.version() names them


_HANDSHAKE_RECORD, _CERTIFICATE_REQUEST = 22, 13  # TLS content type and handshake message type
_REQUESTED_ATTR = "sslfault_cert_requested"


def _note_certificate_request(conn: object, direction: str, version: int, content_type: int, msg_type: int,
                              data: bytes) -> None:
    """OpenSSL's message callback: marks the connection whose server asked for a client certificate.

    It sees TLS 1.3's encrypted handshake messages after decryption, so one handshake tells what a
    separate clear-text TLS 1.2 probe used to, for TLS 1.3-only servers too."""
    if content_type == _HANDSHAKE_RECORD and msg_type == _CERTIFICATE_REQUEST and direction == "read" and conn is not None:
        setattr(conn, _REQUESTED_ATTR, True)


def _watch_certificate_requests(ctx: ssl.SSLContext) -> bool:
    # The C-level setter passes raw integers; ssl.SSLContext's own wrapper would build three enums per
    # TLS message. It is private (a debugging hook since 3.8): without it, the clear-text probe is used.
    hook = getattr(_ssl._SSLContext, "_msg_callback", None)
    if hook is None:
        return False
    hook.__set__(ctx, _note_certificate_request)
    return True


CERT_REQUEST_VISIBLE = hasattr(_ssl._SSLContext, "_msg_callback")


def new_capture_context(client_cert: str | None = None, client_key: str | None = None,
                        minimum: str = "TLSv1", maximum: str | None = None) -> ssl.SSLContext:
    """A client context that accepts any certificate so broken chains can be captured.

    It offers TLS 1.0 up to 1.3 at OpenSSL's security level 0, so a server that speaks only a
    legacy version (or has a weak key) still hands over its certificate, to be judged and reported
    as legacy or weak instead of "handshake failed"; the server picks its highest version, so
    modern servers negotiate as usual. `client_cert`/`client_key`: presented when asked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 and small keys at higher levels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # offering legacy versions is the point here
        ctx.minimum_version = getattr(ssl.TLSVersion, minimum.replace("TLSv1.", "TLSv1_"))
        if maximum:
            ctx.maximum_version = getattr(ssl.TLSVersion, maximum.replace("TLSv1.", "TLSv1_"))
    ctx.set_alpn_protocols(["http/1.1"])
    _watch_certificate_requests(ctx)
    if client_cert and client_key:
        ctx.load_cert_chain(client_cert, client_key)
    return ctx


@functools.lru_cache(maxsize=1)
def capture_context() -> ssl.SSLContext:
    """The shared capture context without a client certificate (built once, never modified)."""
    return new_capture_context()


@functools.lru_cache(maxsize=1)
def tls12_capture_context() -> ssl.SSLContext:
    """The capture context capped at TLS 1.2: a key too small for TLS 1.3's RSA-PSS signatures (RSA-512)
    makes the server fail a 1.3 handshake, yet it still serves its certificate over 1.2."""
    return new_capture_context(maximum="TLSv1.2")


@functools.lru_cache(maxsize=1)
def modern_context() -> ssl.SSLContext:
    """Like the capture context, but TLS 1.2 and later only: does the server speak a current version?"""
    return new_capture_context(minimum="TLSv1.2")


def _served_chain(ssl_object: ssl.SSLObject) -> tuple[bytes, ...]:
    getter = getattr(ssl_object, "get_unverified_chain", None)  # public from 3.13
    if getter is None:
        getter = ssl_object._sslobj.get_unverified_chain  # type: ignore[attr-defined]  # private before 3.13, public after
    chain = getter() or []
    return tuple(c.public_bytes(_ENCODING_DER) if not isinstance(c, bytes) else c for c in chain)


async def _connect(address: str, port: int, timeout: float) -> socket.socket:
    check_destination(address)  # an on-demand probe never connects inside the network
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):  # not wait_for: no task per connect
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def handshake(
    address: str,
    port: int,
    sni: str | None,
    connect_timeout: float,
    handshake_timeout: float,
    context: ssl.SSLContext | None = None,
) -> Handshake:
    """Connect to address:port, handshake with `sni` (None: send no SNI), return what was seen."""
    start = time.monotonic()
    try:
        sock = await _connect(address, port, connect_timeout)
    except TimeoutError:
        return Handshake(address, port, sni, ConnectStatus.TIMEOUT,
                         error=f"no answer to TCP connect within {connect_timeout:g}s (packets dropped?)",
                         connect_seconds=time.monotonic() - start)
    except ConnectionRefusedError:
        return Handshake(address, port, sni, ConnectStatus.REFUSED, error="connection refused (nothing listening)",
                         connect_seconds=time.monotonic() - start)
    except OSError as exc:
        status = ConnectStatus.REFUSED if exc.errno == errno.ECONNRESET else ConnectStatus.UNREACHABLE
        return Handshake(address, port, sni, status, error=f"connect failed: {exc.strerror or exc}",
                         connect_seconds=time.monotonic() - start)
    connected = time.monotonic()
    writer = None
    status = ConnectStatus.HANDSHAKE_FAILED
    try:
        async with asyncio.timeout(handshake_timeout + 0.5):
            _, writer = await asyncio.open_connection(
                sock=sock,
                ssl=context or capture_context(),
                server_hostname=sni or "",
                ssl_handshake_timeout=handshake_timeout,
            )
        ssl_object = writer.get_extra_info("ssl_object")
        cipher = ssl_object.cipher()
        return Handshake(
            address, port, sni, ConnectStatus.OK,
            chain_der=_served_chain(ssl_object),
            version=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
            connect_seconds=connected - start,
            handshake_seconds=time.monotonic() - connected,
            cert_requested=getattr(ssl_object, _REQUESTED_ATTR, False) if CERT_REQUEST_VISIBLE else None,
        )
    except TimeoutError:
        error = f"TLS handshake did not complete within {handshake_timeout:g}s"
        status = ConnectStatus.HANDSHAKE_TIMEOUT
    except ssl.SSLError as exc:
        error = f"TLS error: {exc.reason or exc}"
    except ConnectionResetError:
        error = "connection reset during the TLS handshake"
    except ConnectionAbortedError as exc:
        # asyncio aborts a handshake that exceeds ssl_handshake_timeout with this error.
        if "longer than" in str(exc):
            error, status = f"TLS handshake did not complete within {handshake_timeout:g}s", ConnectStatus.HANDSHAKE_TIMEOUT
        else:
            error = f"connection aborted during the TLS handshake: {exc}"
    except (OSError, EOFError) as exc:
        error = f"connection closed during the TLS handshake: {exc or type(exc).__name__}"
    finally:
        if writer is not None:
            writer.transport.abort()  # no close_notify dance with a possibly hostile server
        else:
            sock.close()
    return Handshake(address, port, sni, status, error=error,
                     connect_seconds=connected - start, handshake_seconds=time.monotonic() - connected)
