"""File validation (guide S1): http and https on every address, no redirect followed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exporter.checks import CHECKS
from exporter.checks.file_validation import PLUGIN, FileValidationResult, validation_urls
from exporter.config import Config
from exporter.models import CheckResult, CheckStatus
from sslfault_lab.issuance import FILE_CASES, FILE_TOKEN, WEB_OK, FileCase, IssuanceLab, run_once


def file_config(ilab: IssuanceLab, host: str, token: str = FILE_TOKEN, **validation: Any) -> Config:
    target = {"host": ilab.file_host(host), "port": ilab.lab.port, "checks": ["file_validation"],
              "file_validation": {"token": token, **validation}}
    return Config.model_validate(ilab.config_dict(target))


def run_file(config: Config) -> CheckResult:
    result = asyncio.run(run_once(config))["file_validation"]
    assert result.status is CheckStatus.OK, result.error
    return result


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.case for c in FILE_CASES])
def test_file_case_gives_exactly_its_faults(ilab: IssuanceLab, case: FileCase) -> None:
    result = run_file(file_config(ilab, case.host))
    found = {(f.fault, f.data["scheme"], f.address) for f in result.outcome.findings}
    assert found == {(fault, scheme, ilab.address(octet)) for fault, scheme, octet in case.faults}
    fetched = {(v.scheme, v.address) for v in result.outcome.result.fetches}
    assert fetched == {(s, ilab.address(o)) for s in ("http", "https") for o in case.octets}


def test_redirect_detail_gives_the_location(ilab: IssuanceLab) -> None:
    [finding] = run_file(file_config(ilab, "file-redirect")).outcome.findings
    assert "301" in finding.detail and finding.data["location"].startswith("https://file-redirect.")


def test_mismatch_shows_the_body(ilab: IssuanceLab) -> None:
    findings = run_file(file_config(ilab, "file-wrong")).outcome.findings
    assert all("lab-file-token-from-an-older-order" in f.detail for f in findings)


def test_wrong_path_gets_the_sites_redirect_and_home_page(ilab: IssuanceLab) -> None:
    """http redirects every other path; https answers every path with its home page: 200, not the token."""
    result = run_file(file_config(ilab, "file-ok", path="/.well-known/pki-validation/other.txt"))
    found = {(f.fault, f.data["scheme"], f.data["status"]) for f in result.outcome.findings}
    assert found == {("file_validation_redirect", "http", 301), ("file_validation_mismatch", "https", 200)}
    assert "'welcome'" in next(f.detail for f in result.outcome.findings if f.data["scheme"] == "https")


def test_token_is_compared_trimmed(ilab: IssuanceLab) -> None:
    result = run_file(file_config(ilab, "file-ok", token=f"  {FILE_TOKEN}\n"))
    view: FileValidationResult = result.outcome.result
    assert result.outcome.findings == () and all(v.status == 200 for v in view.fetches)


def test_urls_keep_the_host_name_and_ports(ilab: IssuanceLab) -> None:
    target = file_config(ilab, "file-ok").resolved_targets()[0]
    host = ilab.file_host("file-ok")
    config = PLUGIN.settings_of(target).file_validation
    assert config is not None
    assert validation_urls(target, config) == [
        ("http", f"http://{host}:{ilab.http_port}/.well-known/pki-validation/fileauth.txt"),
        ("https", f"https://{host}:{ilab.lab.port}/.well-known/pki-validation/fileauth.txt"),
    ]
    assert ilab.address(WEB_OK) in {v.address for v in run_file(file_config(ilab, "file-ok")).outcome.result.fetches}


def test_unresolvable_host_is_an_error_not_a_fault(ilab: IssuanceLab) -> None:
    result = asyncio.run(run_once(file_config(ilab, "no-such-host")))["file_validation"]
    assert result.status is CheckStatus.ERROR and result.error_kind == "dependency"


def test_file_validation_applies_only_when_configured(ilab: IssuanceLab) -> None:
    target = Config.model_validate(ilab.config_dict({"host": ilab.file_host("file-ok")})).resolved_targets()[0]
    assert not CHECKS["file_validation"].applies_to(target)
