"""The pki package's parts: lifetime schedule, crypto verdicts, roots loader, AIA fetcher and completion."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from exporter.models import FaultId
from exporter.net.http import fetch
from exporter.pki.aia import AiaError, IssuerFetcher, ca_issuers_urls
from exporter.pki.certinfo import crypto_findings, lifetime_cap, lifetime_finding
from exporter.pki.paths import judge_served
from exporter.pki.roots import TrustStore, load_ca_file, load_pem_bundle, system_roots
from exporter.pki.verify import Problem, judge
from tests.support.certmaker import NOW, leaf, make

UTC = dt.UTC
D = dt.timedelta(days=1)
S = dt.timedelta(seconds=1)


def _dated(start: dt.datetime, length: dt.timedelta) -> object:
    return leaf("life.test", make("Life CA"), not_before=start, not_after=start + length - S)


@pytest.mark.parametrize("start,length,flagged", [
    (dt.datetime(2011, 5, 1, tzinfo=UTC), 10 * 365 * D, False),  # before the first cap (2012-07-01)
    (dt.datetime(2014, 1, 10, tzinfo=UTC), 4 * 365 * D, False),  # issue 11: 4 years in 2014 broke no rule
    (dt.datetime(2014, 1, 10, tzinfo=UTC), (dt.datetime(2019, 1, 10, tzinfo=UTC) - dt.datetime(2014, 1, 10,
                                                                                                tzinfo=UTC)), False),
    (dt.datetime(2014, 1, 10, tzinfo=UTC), (dt.datetime(2019, 1, 11, tzinfo=UTC) - dt.datetime(2014, 1, 10,
                                                                                                tzinfo=UTC)), True),
    (dt.datetime(2016, 6, 1, tzinfo=UTC), 40 * 31 * D, True),  # over 39 months
    (dt.datetime(2019, 1, 1, tzinfo=UTC), 825 * D, False),  # inclusive: exactly 825 days fits
    (dt.datetime(2019, 1, 1, tzinfo=UTC), 826 * D, True),
    (dt.datetime(2021, 1, 1, tzinfo=UTC), 398 * D, False),
    (dt.datetime(2021, 1, 1, tzinfo=UTC), 399 * D, True),
    (dt.datetime(2026, 3, 15, tzinfo=UTC), 201 * D, True),
    (dt.datetime(2027, 3, 15, tzinfo=UTC), 100 * D, False),
    (dt.datetime(2029, 3, 15, tzinfo=UTC), 48 * D, True),
])
def test_lifetime_cap_in_force_at_not_before(start: dt.datetime, length: dt.timedelta, flagged: bool) -> None:
    cert = _dated(start, length).cert
    assert (lifetime_finding(cert, public=True) is not None) is flagged
    assert lifetime_finding(cert, public=False) is None  # private roots: not the CA/B rules


def test_lifetime_months_are_calendar_months() -> None:
    cap = lifetime_cap(dt.datetime(2016, 1, 31, tzinfo=UTC))
    assert cap is not None and cap[1] == "39 months"
    assert cap[0] == dt.datetime(2019, 4, 30, tzinfo=UTC) - dt.datetime(2016, 1, 31, tzinfo=UTC)
    assert lifetime_cap(dt.datetime(2012, 6, 30, tzinfo=UTC)) is None


def test_private_cap_is_the_operators() -> None:
    cert = _dated(NOW, 90 * D).cert
    assert lifetime_finding(cert, public=False, private_max_days=90) is None
    finding = lifetime_finding(cert, public=False, private_max_days=30)
    assert finding is not None and "configured maximum" in finding.detail


def test_crypto_rejected_and_weak() -> None:
    rsa_ca = make("Crypto CA", key_kind="rsa2048")

    def ids(cert: object) -> list[str]:
        return [str(f.fault) for f in crypto_findings(cert)]

    assert ids(leaf("a.test", rsa_ca, hash_name="sha1").cert) == [FaultId.CERT_CRYPTO_REJECTED]
    assert ids(leaf("a.test", rsa_ca, hash_name="md5").cert) == [FaultId.CERT_CRYPTO_REJECTED]
    assert ids(leaf("a.test", rsa_ca, key_kind="rsa512").cert) == [FaultId.CERT_CRYPTO_REJECTED]
    assert ids(leaf("a.test", rsa_ca, key_kind="rsa1024").cert) == [FaultId.CERT_WEAK_CRYPTO]
    assert ids(leaf("a.test", rsa_ca, key_kind="rsa2048").cert) == []
    # A self-signed root's own SHA-1 signature is never checked by clients: not a fault.
    assert ids(make("SHA1 Root", key_kind="rsa2048", hash_name="sha1").cert) == []


def test_system_roots_load_quietly() -> None:
    system_roots.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roots = system_roots()
    assert len(roots) > 100
    assert not [w for w in caught if issubclass(w.category, CryptographyDeprecationWarning)]


def test_ca_files_strict_and_bundles_tolerant(tmp_path: Path) -> None:
    good = make("File Root").pem
    assert len(load_pem_bundle(good + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + good)) == 2
    (tmp_path / "bad.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError):
        load_ca_file(str(tmp_path / "bad.pem"))
    der = make("DER Root").cert.public_bytes(serialization.Encoding.DER)
    (tmp_path / "root.der").write_bytes(der)
    assert len(load_ca_file(str(tmp_path / "root.der"))) == 1


def test_public_and_private_anchors() -> None:
    public, private = make("Public Root"), make("Private Root")
    trust = TrustStore(public=(public.cert,), private=(private.cert,))
    assert judge(leaf("p.test", public).cert, (), trust, NOW).public
    verdict = judge(leaf("q.test", private).cert, (), trust, NOW)
    assert verdict.trusted and not verdict.public


# -- AIA: a real HTTP server on loopback -------------------------------------------------------


class Aia:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.docs: dict[str, bytes] = {}
        self.base = ""


@pytest.fixture()
async def aia() -> AsyncIterator[Aia]:
    state = Aia()

    async def serve(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        state.hits[name] = state.hits.get(name, 0) + 1
        if name not in state.docs:
            return web.Response(status=404)
        return web.Response(body=state.docs[name])

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    state.base = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


async def _download(url: str, max_bytes: int) -> bytes:
    async with aiohttp.ClientSession() as session:
        response = await fetch(session, url, timeout=5, max_bytes=max_bytes)
    if response.status != 200:
        raise AiaError(f"HTTP {response.status}")
    return response.body


async def test_fetcher_caches_successes_and_failures(aia: Aia) -> None:
    ca = make("AIA CA")
    aia.docs["ca.crt"] = ca.cert.public_bytes(serialization.Encoding.DER)
    fetcher = IssuerFetcher()
    for _ in range(3):
        assert await fetcher.fetch(f"{aia.base}/ca.crt", _download) == (ca.cert,)
    for _ in range(3):
        with pytest.raises(OSError):
            await fetcher.fetch(f"{aia.base}/missing.crt", _download)
    assert aia.hits == {"ca.crt": 1, "missing.crt": 1}


async def test_fetcher_bounds(aia: Aia) -> None:
    many = [make(f"Bundle {i}").cert for i in range(20)]
    aia.docs["many.p7c"] = pkcs7.serialize_certificates(many, serialization.Encoding.DER)
    aia.docs["huge.crt"] = b"0" * 100_000
    fetcher = IssuerFetcher(max_entries=2, max_certs=8)
    assert len(await fetcher.fetch(f"{aia.base}/many.p7c", _download)) == 8
    with pytest.raises(Exception, match="larger than|body larger"):
        await fetcher.fetch(f"{aia.base}/huge.crt", _download)
    with pytest.raises(AiaError, match="HTTP 404"):
        await fetcher.fetch(f"{aia.base}/nothing.crt", _download)
    assert len(fetcher.cache) <= 2


async def test_completion_names_the_missing_issuer(aia: Aia) -> None:
    root = make("Completion Root")
    issuing = make("Completion Issuing", root)
    aia.docs["issuing.crt"] = issuing.cert.public_bytes(serialization.Encoding.DER)
    end = leaf("complete.test", issuing, aia_url=f"{aia.base}/issuing.crt")
    assert ca_issuers_urls(end.cert) == [f"{aia.base}/issuing.crt"]
    fetcher = IssuerFetcher()
    judgement = await judge_served([end.cert], TrustStore(private=(root.cert,)), NOW,
                                   lambda url: fetcher.fetch(url, _download), 4)
    assert judgement.incomplete and judgement.verdict.trusted
    assert judgement.served.issues[0].problem is Problem.NO_ISSUER
    assert judgement.completion is not None and judgement.completion.fetched[0] == (
        issuing.cert, f"{aia.base}/issuing.crt")
    # Without fetching, nothing is completed (and nothing is fetched).
    offline = await judge_served([end.cert], TrustStore(private=(root.cert,)), NOW, fetcher.fetch, 0)
    assert not offline.incomplete and not offline.verdict.anchored


def test_look_alike_issuers_stay_bounded_and_openssl_like() -> None:
    """Twelve same-name CAs without key identifiers: OpenSSL takes the first one sent and fails on its
    signature; the verdict says so, and notes the path browsers would find."""
    root = make("Pile Root")
    pile = [make("Pile CA", root, ski=False, aki="none") for _ in range(12)]
    end = leaf("pile.test", pile[-1], aki="none")
    started = time.monotonic()
    verdict = judge(end.cert, [c.cert for c in pile], TrustStore(private=(root.cert,)), NOW)
    assert time.monotonic() - started < 2
    assert not verdict.trusted and verdict.issues[0].problem is Problem.BAD_SIGNATURE
    assert any("another path is trusted" in note for note in verdict.notes)


async def test_strict_profile_differences_are_only_a_note() -> None:
    """A private CA whose basicConstraints are not critical: trusted; cryptography's strict
    web-PKI profile refuses it, which appears as a note and nothing else."""
    root = make("Lenient Root", bc_critical=False)
    issuing = make("Lenient Issuing", root, bc_critical=False, ku=None)
    end = leaf("lenient.test", issuing)

    async def no_fetch(url: str) -> tuple[()]:
        raise AssertionError("nothing is missing: no AIA fetch")

    judgement = await judge_served([end.cert, issuing.cert], TrustStore(private=(root.cert,)), NOW, no_fetch, 4)
    assert judgement.verdict.trusted and not judgement.verdict.issues
    assert any("strict" in note for note in judgement.verdict.notes), judgement.verdict.notes
