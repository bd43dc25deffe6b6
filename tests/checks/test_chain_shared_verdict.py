"""A chain verdict is shared by every address sending the same certificates; what depends on more than
those certificates (how many were sent beyond the examined ones) must not be shared with it."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from exporter.checks import chain
from exporter.config import Config
from exporter.engine.context import ProbeContext, Resources
from exporter.models import FaultId
from exporter.net.tls import ConnectStatus, Handshake
from exporter.pki.paths import MAX_SERVED
from tests.support.labs import run_async


def _self_signed() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "shared.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


def test_a_longer_chain_with_the_same_examined_certificates_is_counted_as_sent() -> None:
    der = _self_signed()
    config = Config.model_validate({"targets": [{"name": "t", "host": "shared.test"}]})
    target = config.resolved_targets()[0]
    sent = {"127.0.0.1": MAX_SERVED + 1, "127.0.0.2": MAX_SERVED + 9}

    async def go() -> dict[str, chain.ChainResult]:
        resources = Resources(config)
        results = {}
        try:
            for address, count in sent.items():
                ctx = ProbeContext(target, resources)
                hs = Handshake(address, 443, "shared.test", ConnectStatus.OK, (der,) * count, "TLSv1.3")

                async def served(hs: Handshake = hs) -> list[Handshake]:
                    return [hs]

                ctx.served_handshakes = served  # type: ignore[method-assign]  # what a server sent, as is
                outcome = await chain.run(target, chain.NoSettings(), ctx)
                assert isinstance(outcome.result, chain.ChainResult)
                results[address] = outcome.result
                extra = [f.detail for f in outcome.findings if f.fault is FaultId.CHAIN_EXTRA_CERTS]
                assert any(f"sends {count} certificates" in d for d in extra), (address, extra)
        finally:
            await resources.close()
        return results

    results = run_async(go())
    assert [r.addresses[0].served for r in results.values()] == list(sent.values())


def test_one_blob_made_of_a_chain_is_not_given_that_chain_s_verdict() -> None:
    # [leaf, issuer] and [leaf || issuer] hash the same when the certificates are simply concatenated.
    leaf, other = _self_signed(), _self_signed()
    config = Config.model_validate({"targets": [{"name": "t", "host": "shared.test"}]})
    target = config.resolved_targets()[0]

    async def go() -> list[list[str]]:
        resources = Resources(config)
        seen = []
        try:
            for address, sent in (("127.0.0.1", (leaf, other)), ("127.0.0.2", (leaf + other,))):
                ctx = ProbeContext(target, resources)
                hs = Handshake(address, 443, "shared.test", ConnectStatus.OK, sent, "TLSv1.3")

                async def served(hs: Handshake = hs) -> list[Handshake]:
                    return [hs]

                ctx.served_handshakes = served  # type: ignore[method-assign]  # what a server sent, as is
                outcome = await chain.run(target, chain.NoSettings(), ctx)
                seen.append([f.detail for f in outcome.findings if f.fault is FaultId.CERT_UNTRUSTED])
        finally:
            await resources.close()
        return seen

    first, second = run_async(go())
    assert any("cannot be parsed" in d for d in second), second
