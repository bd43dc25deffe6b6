"""The revocation check: OCSP (signed by the issuer or a delegated responder), CRL, caching, forgeries."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from exporter.checks import revocation
from exporter.checks.revocation import RevocationError, RevocationResult, verify_ocsp_response
from exporter.cli.diagnose import diagnose
from exporter.config import Config
from exporter.engine.context import ProbeContext, Resources
from exporter.engine.runner import run_target
from exporter.models import CheckStatus
from sslfault_lab.pki import DAY, Issued, LabPKI
from sslfault_lab.web import REVOCATION_CASES, WebLab
from sslfault_lab.web_content import ocsp_responder_cert, self_signed_as


def _report(config: Config) -> dict[str, Any]:
    return asyncio.run(diagnose(config))


@pytest.mark.parametrize("name", [*REVOCATION_CASES, "rev-none"])
def test_each_case_yields_exactly_its_faults(web: WebLab, name: str) -> None:
    case = web.cases[name]
    report = _report(web.config(name))
    assert {f["id"] for f in report["faults"]} == set(case.faults), report["faults"]
    status = report["checks"]["revocation"]
    assert (status["status"] == "error") is case.error, status


def test_revoked_detail_names_time_reason_and_source(web: WebLab) -> None:
    for name, source in (("rev-ocsp-revoked", "/direct"), ("rev-crl-revoked", "/ecc.crl")):
        (fault,) = _report(web.config(name))["faults"]
        assert "was revoked on" in fault["detail"] and source in fault["detail"], fault
        assert fault["address"] == web.addresses[web.cases[name].host]
    (ocsp_fault,) = _report(web.config("rev-ocsp-revoked"))["faults"]
    assert "(key_compromise)" in ocsp_fault["detail"]


def test_a_forged_ocsp_answer_is_never_read_as_good(web: WebLab) -> None:
    report = _report(web.config("rev-ocsp-forged"))
    check = report["checks"]["revocation"]
    assert (check["status"], check["error"]) == ("error", "protocol")
    assert "signature does not verify" in check["message"]


def test_methods_are_recorded(web: WebLab) -> None:
    seen = {}
    for name in ("rev-ocsp-good", "rev-crl-good", "rev-none"):
        result = asyncio.run(_run(web.config(name)))
        assert result.status is CheckStatus.OK and isinstance(result.outcome.result, RevocationResult)
        (leaf,) = result.outcome.result.leaves
        seen[name] = (leaf.method, leaf.status)
    assert seen == {"rev-ocsp-good": ("ocsp", "good"), "rev-crl-good": ("crl", "good"),
                    "rev-none": ("none", "not_checked")}


async def _run(config: Config):
    resources = Resources(config)
    try:
        return (await run_target(config.resolved_targets()[0], resources))["revocation"]
    finally:
        await resources.close()


def test_crl_is_cached_until_next_update(web: WebLab, monkeypatch: pytest.MonkeyPatch) -> None:
    downloads: list[str] = []
    real = revocation._download_crl

    async def counting(ctx, url, issuer):
        downloads.append(url)
        return await real(ctx, url, issuer)

    monkeypatch.setattr(revocation, "_download_crl", counting)
    config = web.config("rev-crl-revoked")

    async def twice() -> None:
        resources = Resources(config)
        try:
            for _ in range(2):
                result = (await run_target(config.resolved_targets()[0], resources))["revocation"]
                assert [f.fault for f in result.outcome.findings] == ["cert_revoked"]
        finally:
            await resources.close()

    asyncio.run(twice())
    assert len(downloads) == 1


def test_an_oversized_crl_is_refused(web: WebLab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation, "CRL_MAX_BYTES", 64)
    config = web.config("rev-crl-good")

    async def fetch() -> None:
        resources = Resources(config)
        try:
            ctx = ProbeContext(config.resolved_targets()[0], resources)
            with pytest.raises(RevocationError, match="larger than"):
                await revocation._crl(ctx, f"http://crl.lab.test:{web.port}/ecc.crl", web.lab.pki.ecc_intermediate.cert)
        finally:
            await resources.close()

    asyncio.run(fetch())


# -- who may sign an OCSP response (unit) ---------------------------------------------------


def _response(pki: LabPKI, leaf: Issued, signer: Issued, *, certs: tuple[Issued, ...] = (),
              next_update: dt.timedelta = DAY, by_hash: bool = False) -> ocsp.OCSPResponse:
    issuer = pki.ecc_intermediate.cert
    builder = ocsp.OCSPResponseBuilder().add_response(
        leaf.cert, issuer, hashes.SHA1(), ocsp.OCSPCertStatus.GOOD, pki.now - DAY, pki.now + next_update, None, None)
    encoding = ocsp.OCSPResponderEncoding.HASH if by_hash else ocsp.OCSPResponderEncoding.NAME
    builder = builder.responder_id(encoding, signer.cert)
    if certs:
        builder = builder.certificates([c.cert for c in certs])
    return builder.sign(signer.key, hashes.SHA256())


@pytest.fixture(scope="module")
def leaf(web: WebLab) -> Issued:
    return web.lab.pki.issue_leaf(["unit.lab.test"])


def test_issuer_and_delegated_responder_signatures_are_accepted(web: WebLab, leaf: Issued) -> None:
    pki = web.lab.pki
    issuer = pki.ecc_intermediate
    delegate = ocsp_responder_cert(issuer, pki.now)
    for response in (_response(pki, leaf, issuer), _response(pki, leaf, issuer, by_hash=True),
                     _response(pki, leaf, delegate, certs=(delegate,), by_hash=True)):
        single = verify_ocsp_response(response, leaf.cert, issuer.cert, pki.now)
        assert single.certificate_status is ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("case", ["stranger", "no-eku", "other-ca", "stale", "other-cert"])
def test_untrustworthy_ocsp_responses_are_rejected(web: WebLab, leaf: Issued, case: str) -> None:
    pki = web.lab.pki
    issuer = pki.ecc_intermediate
    if case == "stranger":  # claims the issuer's name, signed with another key
        response = _response(pki, leaf, self_signed_as(issuer.cert.subject, pki.now))
        message = "does not verify"
    elif case == "no-eku":  # a certificate from the issuer, but not one for OCSP signing
        plain = pki.issue_leaf(["not-a-responder.lab.test"])
        response = _response(pki, leaf, plain, certs=(plain,))
        message = "did not authorise"
    elif case == "other-ca":  # an OCSP signer, but delegated by a different CA
        other = ocsp_responder_cert(pki.rsa_intermediate, pki.now)
        response = _response(pki, leaf, other, certs=(other,))
        message = "did not authorise"
    elif case == "stale":
        response = _response(pki, leaf, issuer, next_update=-DAY / 2)
        message = "stale"
    else:
        response = _response(pki, pki.issue_leaf(["someone-else.lab.test"]), issuer)
        message = "does not cover"
    with pytest.raises(RevocationError, match=message):
        verify_ocsp_response(response, leaf.cert, issuer.cert, pki.now)


def test_urls_are_read_from_the_certificate(web: WebLab) -> None:
    pki = web.lab.pki
    cert = pki.issue_leaf(["u.lab.test"], ocsp_url="http://ocsp.test/", crl_url="http://crl.test/a.crl").cert
    assert revocation._urls(cert) == (["http://ocsp.test/"], ["http://crl.test/a.crl"])
    assert revocation._urls(pki.issue_leaf(["n.lab.test"]).cert) == ([], [])
    assert isinstance(cert, x509.Certificate)
