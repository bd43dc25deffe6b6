"""The legacy_tls check: TLS 1.0/1.1 acceptance, and "cannot judge" rather than a false "no fault"."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from exporter.checks import legacy_tls
from exporter.cli.diagnose import diagnose
from exporter.config import Config
from exporter.net.tls import ConnectStatus, Handshake, capture_context
from sslfault_lab.web import WebLab


def _report(config: Config) -> dict[str, Any]:
    return asyncio.run(diagnose(config))


def test_this_machine_can_offer_legacy_versions() -> None:
    # The lab and the check need it; if this fails, the other tests here are not meaningful.
    assert legacy_tls.local_support_problem() is None


def test_a_server_accepting_tls_1_0_is_reported(web: WebLab) -> None:
    if not web.legacy_supported:
        pytest.skip("this OpenSSL cannot serve TLS 1.0, so the lab has no legacy server")
    report = _report(web.config("tls10"))
    (fault,) = report["faults"]
    assert fault["id"] == "tls_legacy_protocol" and fault["address"] == web.addresses[web.cases["tls10"].host]
    assert fault["data"] == {"versions": ["TLS 1.0", "TLS 1.1"]}
    assert "TLS 1.0" in fault["detail"]


def test_a_modern_server_is_not_reported(web: WebLab) -> None:
    report = _report(web.config("tls-modern"))
    assert report["faults"] == [] and report["checks"]["legacy_tls"]["status"] == "ok"


def test_a_machine_without_legacy_tls_cannot_judge(web: WebLab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(legacy_tls, "local_support_problem", lambda: "OpenSSL built without TLS 1.0")
    report = _report(web.config("tls10" if web.legacy_supported else "tls-modern"))
    check = report["checks"]["legacy_tls"]
    assert (check["status"], check["error"]) == ("error", "unsupported") and report["faults"] == []
    assert "OpenSSL built without TLS 1.0" in check["message"]


def test_a_failed_connect_is_no_verdict(web: WebLab, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(address: str, port: int, sni: str | None, **_: object) -> Handshake:
        return Handshake(address, port, sni, ConnectStatus.REFUSED, error="connection refused")

    monkeypatch.setattr(legacy_tls, "handshake", refused)
    check = _report(web.config("tls-modern"))["checks"]["legacy_tls"]
    assert (check["status"], check["error"]) == ("error", "network")


def test_probe_contexts_leave_the_shared_capture_context_alone() -> None:
    shared = capture_context()
    before = (shared.minimum_version, shared.maximum_version)
    ctx = legacy_tls.legacy_client_context("TLSv1")
    assert ctx is not shared and (shared.minimum_version, shared.maximum_version) == before
    assert ctx.maximum_version == ctx.minimum_version and ctx.maximum_version < ssl.TLSVersion.TLSv1_2
