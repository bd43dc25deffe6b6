"""TLS configurations browsers refuse, one server each: legacy-only protocols, insecure and weak
cipher suites, a server that demands a client certificate.

Attaches to a running `Lab` on addresses .246-.253 of its /24 and the lab's shared port. Every
server holds an RSA leaf for its own name (RSA, so static-RSA and DHE-RSA suites can be served),
issued by the lab's RSA intermediate. OpenSSL runs at security level 0 where a case needs it
(TLS 1.0/1.1, NULL and anonymous suites, a 1024-bit DH group: the RFC 2409 Oakley group 2).
OpenSSL refuses to serve DH groups under 1024 bits even at level 0, so no lab server has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exporter.config import Config
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab, LabThread
from sslfault_lab.servers import (
    READ_TIMEOUT,
    HttpResponse,
    HttpSite,
    TcpService,
    TlsIdentity,
    TlsService,
    bind_tcp,
    stop_all,
)

FIRST_OCTET = 246
_OAKLEY = {
    1024: "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3"
          "CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5"
          "AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000")
CHECKS = ("reachability", "tls", "chain", "legacy_tls")
WEB_CHECKS = ("http", "mixed_content")


@dataclass(frozen=True)
class TlsCase:
    name: str
    description: str
    versions: tuple[str, str]  # minimum, maximum (ssl.TLSVersion names)
    ciphers: str = "DEFAULT"
    dh_bits: int | None = None
    client_auth: bool = False
    faults: frozenset[str] = frozenset()
    checks: tuple[str, ...] = CHECKS


CASES: tuple[TlsCase, ...] = (
    TlsCase("tls10-only", "speaks TLS 1.0 and nothing newer", ("TLSv1", "TLSv1"),
            faults=frozenset({"tls_modern_protocol_unsupported", "tls_legacy_protocol"})),
    TlsCase("tls11-only", "speaks TLS 1.1 and nothing newer", ("TLSv1_1", "TLSv1_1"),
            faults=frozenset({"tls_modern_protocol_unsupported", "tls_legacy_protocol"})),
    TlsCase("null-only", "offers only NULL suites (no encryption): no browser can connect", ("TLSv1_2", "TLSv1_2"),
            "eNULL", faults=frozenset({"tls_insecure_cipher", "tls_handshake_failed"})),
    TlsCase("anon-too", "a good suite, and anonymous ones next to it", ("TLSv1_2", "TLSv1_2"),
            "ECDHE-RSA-AES128-GCM-SHA256:AECDH-AES128-SHA", faults=frozenset({"tls_insecure_cipher"})),
    TlsCase("dhe-1024", "DHE with a 1024-bit group", ("TLSv1_2", "TLSv1_2"), "DHE-RSA-AES128-GCM-SHA256", 1024,
            faults=frozenset({"tls_weak_cipher"})),
    TlsCase("static-rsa", "static RSA key exchange only: no forward secrecy", ("TLSv1_2", "TLSv1_2"),
            "AES128-GCM-SHA256:AES256-SHA256", faults=frozenset({"tls_weak_cipher"})),
    TlsCase("cbc-only", "CBC suites only: no AEAD", ("TLSv1_2", "TLSv1_2"), "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA",
            faults=frozenset({"tls_weak_cipher"})),
    TlsCase("client-cert", "demands a client certificate", ("TLSv1_2", "TLSv1_3"), client_auth=True,
            faults=frozenset({"tls_client_cert_required"}), checks=CHECKS + WEB_CHECKS),
    # The request travels encrypted in TLS 1.3: nothing in clear text shows it.
    TlsCase("client-cert-tls13", "demands a client certificate, TLS 1.3 only", ("TLSv1_3", "TLSv1_3"),
            client_auth=True, faults=frozenset({"tls_client_cert_required"}), checks=CHECKS + WEB_CHECKS),
)


def _version(name: str) -> ssl.TLSVersion:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(ssl.TLSVersion, name)  # type: ignore[no-any-return]  # getattr on an enum by name


def dh_params_pem(bits: int) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # finite-field DH is deprecated: serving a weak group is the point
        numbers = dh.DHParameterNumbers(int(_OAKLEY[bits], 16), 2)
        return numbers.parameters().parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate (issued by a client CA of its own) and its key, as files."""

    ca_file: str
    cert_file: str
    key_file: str


def client_identity(directory: Path, now: dt.datetime) -> ClientIdentity:
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    ca = (x509.CertificateBuilder().subject_name(name("SSL Fault Lab Client CA")).issuer_name(name("SSL Fault Lab Client CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("sslfault probe")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {"client-ca.pem": ca.public_bytes(serialization.Encoding.PEM),
             "client.pem": leaf.public_bytes(serialization.Encoding.PEM),
             "client.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())}
    for file, data in files.items():
        (directory / file).write_bytes(data)
    return ClientIdentity(*(str(directory / f) for f in files))


def case_context(case: TlsCase, identity: TlsIdentity, directory: Path, client: ClientIdentity) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(f"{case.ciphers}:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version, ctx.maximum_version = _version(case.versions[0]), _version(case.versions[1])
    ctx.load_cert_chain(identity.chain_file, identity.key_file)
    if case.dh_bits:
        params = directory / f"dh{case.dh_bits}.pem"
        params.write_bytes(dh_params_pem(case.dh_bits))
        ctx.load_dh_params(str(params))
    if case.client_auth:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client.ca_file)
    return ctx


class TlsConfigLab:
    """The TLS-configuration servers next to one running Lab. Build with `await start_tls_config_lab(lab)`."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.port = lab.port
        self.addresses: dict[str, str] = {}  # case name -> address
        self.client: ClientIdentity
        self._services: list[TlsService] = []
        self._dir = Path(lab.workdir, "tls-configs")

    def host(self, name: str) -> str:
        return self.lab.host(name)

    def target(self, name: str, **extra: Any) -> dict[str, Any]:
        case = next(c for c in CASES if c.name == name)
        return {"host": self.host(name), "port": self.port, "http_port": 1, "checks": list(case.checks)} | extra

    def config(self, name: str, **extra: Any) -> Config:
        data = lab_config_dict(self.lab)
        data["targets"] = [{"name": name, **self.target(name, **extra)}]
        return Config.model_validate(data)

    def exporter_targets(self) -> dict[str, tuple[dict[str, Any], frozenset[str]]]:
        """Target name -> (exporter target, faults it must show), for the demo and the alerting e2e test.

        The TLS checks only: the web checks of the client-certificate case end without a verdict (that
        is their point, proven in the tests), which the demo would show as an erroring check."""
        return {f"tls: {c.name}": (self.target(c.name, checks=list(CHECKS)), c.faults) for c in CASES}

    async def start(self) -> TlsConfigLab:
        self._dir.mkdir(exist_ok=True)
        sockets = {c.name: bind_tcp(self.lab.address(FIRST_OCTET + i), self.port) for i, c in enumerate(CASES)}
        try:
            contexts = await asyncio.to_thread(self._build)
            for case in CASES:
                site = HttpSite(default=HttpResponse(200, f"<title>{case.name}</title>".encode(), "text/html",
                                                     (HSTS,)))
                service = _Service(contexts[case.name], site)
                self._services.append(service)
                sock = sockets.pop(case.name)
                self.addresses[case.name] = sock.getsockname()[0]
                await service.start(sock)
        finally:
            for sock in sockets.values():
                sock.close()
        for name, address in self.addresses.items():
            self.lab.dns.update(self.host(name), [("A", 60, address)])
        return self

    def _build(self) -> dict[str, ssl.SSLContext]:
        pki = self.lab.pki
        self.client = client_identity(self._dir, pki.now)
        contexts = {}
        for case in CASES:
            leaf = pki.issue_leaf([self.host(case.name)], issuer=pki.rsa_intermediate, key_type="rsa")
            chain, key = self._dir / f"{case.name}.chain.pem", self._dir / f"{case.name}.key.pem"
            chain.write_bytes(leaf.cert_pem + pki.rsa_intermediate.cert_pem)
            key.write_bytes(leaf.key_pem)
            contexts[case.name] = case_context(case, TlsIdentity(str(chain), str(key)), self._dir, self.client)
        return contexts

    async def stop(self) -> None:
        await stop_all(list(self._services))
        self._services = []
        for name in self.addresses:
            with contextlib.suppress(Exception):
                self.lab.dns.update(self.host(name), [])


class _Service(TlsService):
    """A TlsService with a ready-made server context (no SNI table)."""

    def __init__(self, context: ssl.SSLContext, site: HttpSite) -> None:
        TcpService.__init__(self)
        self.site = site
        self.handshake_timeout = READ_TIMEOUT
        self.context = context
        self._sni = {}


async def start_tls_config_lab(lab: Lab) -> TlsConfigLab:
    """Add the TLS-configuration servers to a running lab (call on the lab's loop)."""
    return await TlsConfigLab(lab).start()


@contextlib.contextmanager
def tls_config_lab_thread() -> Iterator[TlsConfigLab]:
    """A lab without TLS scenarios plus these servers, on its own thread (for tests)."""
    thread = LabThread(specs=())
    lab = thread.start()
    try:
        yield thread.call(lambda: start_tls_config_lab(lab))
    finally:
        thread.stop()
