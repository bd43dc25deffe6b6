"""`sslfault diagnose` with the issuance flags, against the issuance lab."""

from __future__ import annotations

import json

import pytest

from exporter.checks.caa import CaaSettings
from exporter.checks.dns_validation import DnsValidationSettings
from exporter.checks.file_validation import FileValidationSettings
from exporter.cli import build_parser, main
from exporter.cli.diagnose import diagnose_config
from sslfault_lab.issuance import CA, FILE_TOKEN, TXT_NEW, IssuanceLab
from sslfault_lab.lab import Lab


def lab_args(ilab: IssuanceLab, host: str) -> list[str]:
    lab = ilab.lab
    return ["diagnose", host, "--port", str(lab.port), "--nameserver", lab.nameserver,
            "--ca-file", lab.root_ca_file, "--authoritative-port", str(lab.port), "--http-port", str(ilab.http_port),
            "--timeout", "4s", "--json"]


def test_flags_become_target_keys() -> None:
    args = build_parser()[0].parse_args([
        "diagnose", "shop.example.com", "--ca-identifier", "letsencrypt.org", "--ca-identifier", "pki.goog",
        "--wildcard", "--certificate-name", "api.example.com", "--dns-validation-value", "v1",
        "--dns-validation-record", "_acme.shop.example.com", "--file-validation-token", "tok",
        "--http-port", "8080", "--authoritative-port", "5353",
    ])
    config = diagnose_config(args)
    target = config.resolved_targets()[0]
    assert target.settings_for("caa", CaaSettings).ca_identifiers == ("letsencrypt.org", "pki.goog")
    assert target.issuance_names == ("shop.example.com", "*.shop.example.com", "api.example.com")
    dns = target.settings_for("dns_validation", DnsValidationSettings).dns_validation
    assert dns is not None and dns.record == "_acme.shop.example.com"
    file = target.settings_for("file_validation", FileValidationSettings).file_validation
    assert file is not None and file.token == "tok"
    assert target.http_port == 8080 and config.resolver.authoritative_port == 5353


def test_record_without_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "shop.example.com", "--dns-validation-record", "_x.shop.example.com"]) == 2
    assert "--dns-validation-value" in capsys.readouterr().err


def test_diagnose_reports_caa_fault_with_remedy(ilab: IssuanceLab, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(lab_args(ilab, ilab.caa_name("www.parent")) + ["--ca-identifier", CA, "--check", "caa"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    [fault] = report["faults"]
    assert fault["id"] == "caa_forbids_issuer" and fault["remedy"]["en"] and fault["remedy"]["zh"]
    assert fault["data"]["found_at"] == ilab.caa_name("parent")


def test_diagnose_reports_txt_and_file_faults(ilab: IssuanceLab, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(lab_args(ilab, ilab.txt_host("txt-partial")) + [
        "--dns-validation-value", TXT_NEW, "--check", "dns_validation"])
    assert code == 1
    assert [f["id"] for f in json.loads(capsys.readouterr().out)["faults"]] == ["dns_validation_record_missing"]
    code = main(lab_args(ilab, ilab.file_host("file-redirect")) + [
        "--file-validation-token", FILE_TOKEN, "--check", "file_validation"])
    assert code == 1
    assert [f["id"] for f in json.loads(capsys.readouterr().out)["faults"]] == ["file_validation_redirect"]


def test_full_diagnose_of_a_healthy_issuance_host(ilab: IssuanceLab, capsys: pytest.CaptureFixture[str]) -> None:
    """Every check at once (TLS and web ones included) on a host whose validation file is served."""
    flags = ["--ca-identifier", CA, "--file-validation-token", FILE_TOKEN]
    code = main(lab_args(ilab, ilab.file_host("file-ok")) + flags)
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and not [f for f in report["faults"] if f["severity"] == "critical"], report
    mine = {"caa", "file_validation", "domain_review"}
    assert mine <= set(report["checks"])
    assert all(report["checks"][name]["status"] == "ok" for name in mine), report["checks"]
    assert not [f for f in report["faults"] if f["id"].startswith(("caa", "file_validation", "domain_review"))]


def test_diagnose_fail_on_warning_gates_an_expiring_certificate(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """cert_expiring_soon is a warning: exit 0 by default, 1 with --fail-on warning (as the alerts warn)."""
    args = ["diagnose", lab.host("expiring"), "--port", str(lab.port), "--nameserver", lab.nameserver,
            "--ca-file", lab.root_ca_file, "--check", "dns", "--check", "reachability", "--check", "tls", "--json"]
    assert main(args) == 0
    assert {f["id"] for f in json.loads(capsys.readouterr().out)["faults"]} == {"cert_expiring_soon"}
    assert main([*args, "--fail-on", "warning"]) == 1
