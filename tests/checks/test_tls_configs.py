"""TLS configurations browsers refuse (issue 11 §2), against real servers on loopback: legacy-only
protocols, NULL / anonymous / DHE-1024 / static-RSA / CBC-only suites, a client certificate demanded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.cli.diagnose import diagnose
from exporter.config import Config
from sslfault_lab.tls_configs import CASES, TlsCase, TlsConfigLab, tls_config_lab_thread


@pytest.fixture(scope="module")
def tlab() -> Iterator[TlsConfigLab]:
    with tls_config_lab_thread() as started:
        yield started


def _report(config: Config) -> dict[str, Any]:
    return asyncio.run(diagnose(config))


def _faults(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in report["faults"]}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_configuration_gives_exactly_its_faults(tlab: TlsConfigLab, case: TlsCase) -> None:
    report = _report(tlab.config(case.name))
    assert set(_faults(report)) == set(case.faults), report["faults"]
    assert all(f["address"] == tlab.addresses[case.name] for f in report["faults"])
    assert report["checks"]["legacy_tls"]["status"] == "ok", report["checks"]["legacy_tls"]


@pytest.mark.parametrize("name", ["tls10-only", "tls11-only"])
def test_a_legacy_only_server_still_has_its_certificate_judged(tlab: TlsConfigLab, name: str) -> None:
    report = _report(tlab.config(name))
    checks = report["checks"]
    assert {checks[c]["status"] for c in ("reachability", "tls", "chain")} == {"ok"}, checks
    faults = _faults(report)
    version = "TLS 1.0" if name == "tls10-only" else "TLS 1.1"
    assert faults["tls_legacy_protocol"]["data"] == {"versions": [version]}
    assert f"only {version}" in faults["tls_modern_protocol_unsupported"]["detail"]


def test_null_only_names_the_suite(tlab: TlsConfigLab) -> None:
    faults = _faults(_report(tlab.config("null-only")))
    detail = faults["tls_insecure_cipher"]["detail"]
    assert "NULL" in detail and "no encryption" in detail
    assert faults["tls_insecure_cipher"]["data"]["suites"]


@pytest.mark.parametrize(("name", "fault", "text"), [
    ("anon-too", "tls_insecure_cipher", "AECDH-AES128-SHA (no server authentication (anonymous)"),
    ("dhe-1024", "tls_weak_cipher", "1024-bit DH group"),
    ("static-rsa", "tls_weak_cipher", "static RSA key exchange only"),
    ("cbc-only", "tls_weak_cipher", "no AEAD suite"),
])
def test_weak_configurations_name_what_is_weak(tlab: TlsConfigLab, name: str, fault: str, text: str) -> None:
    faults = _faults(_report(tlab.config(name)))
    assert text in faults[fault]["detail"], faults


@pytest.mark.parametrize("name", ["client-cert", "client-cert-tls13"])
def test_client_certificate_demanded_and_none_configured(tlab: TlsConfigLab, name: str) -> None:
    report = _report(tlab.config(name))
    assert set(_faults(report)) == {"tls_client_cert_required"}
    for check in ("http", "mixed_content"):
        assert (report["checks"][check]["status"], report["checks"][check]["error"]) == ("error", "client_cert"), \
            report["checks"][check]


@pytest.mark.parametrize("name", ["client-cert", "client-cert-tls13"])
def test_client_certificate_configured(tlab: TlsConfigLab, name: str) -> None:
    report = _report(tlab.config(name, client_cert=tlab.client.cert_file, client_key=tlab.client.key_file))
    assert report["faults"] == [] or {f["id"] for f in report["faults"]} <= {"http_not_redirected"}, report["faults"]
    assert {report["checks"][c]["status"] for c in ("reachability", "tls", "chain", "http", "mixed_content")} \
        == {"ok"}, report["checks"]


def test_diagnose_takes_a_client_certificate(tlab: TlsConfigLab) -> None:
    import subprocess
    import sys
    from pathlib import Path

    lab = tlab.lab
    base = [sys.executable, "-m", "exporter", "diagnose", tlab.host("client-cert"), "--port", str(tlab.port),
            "--nameserver", lab.nameserver, "--ca-file", lab.root_ca_file, "--check", "reachability",
            "--check", "http", "--http-port", "1", "--json"]
    root = Path(__file__).resolve().parents[2]
    without = subprocess.run(base, capture_output=True, text=True, cwd=root, timeout=60, check=False)
    assert '"tls_client_cert_required"' in without.stdout and '"client_cert"' in without.stdout, without.stdout
    with_cert = subprocess.run([*base, "--client-cert", tlab.client.cert_file, "--client-key", tlab.client.key_file],
                               capture_output=True, text=True, cwd=root, timeout=60, check=False)
    assert with_cert.returncode == 0 and "tls_client_cert_required" not in with_cert.stdout, with_cert.stdout
    only_cert = subprocess.run([*base, "--client-cert", tlab.client.cert_file], capture_output=True, text=True,
                               cwd=root, timeout=60, check=False)
    assert only_cert.returncode == 2 and "give client_cert and client_key together" in only_cert.stderr


def test_a_client_key_that_does_not_match_is_a_config_error(tlab: TlsConfigLab, tmp_path: Any) -> None:
    from exporter.config import ConfigError, parse_config

    other_key = next(Path(tlab.client.cert_file).parent.glob("*.key.pem"))
    text = (f"targets:\n  - host: {tlab.host('client-cert')}\n    client_cert: {tlab.client.cert_file}\n"
            f"    client_key: {other_key}\n")
    with pytest.raises(ConfigError, match="cannot be used together"):
        parse_config(text, "c.yaml")
    missing = f"defaults:\n  client_cert: {tmp_path}/nope.pem\n  client_key: {tlab.client.key_file}\n"
    with pytest.raises(ConfigError, match="does not exist"):
        parse_config(missing, "c.yaml")
