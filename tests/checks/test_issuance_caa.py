"""CAA (guide S1): every lab case gives exactly its fault, found where the RFC 8659 climb says."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exporter.checks import CHECKS
from exporter.checks._caa import CaaRecord, Level, evaluate, parse_issue_value, select_relevant
from exporter.checks.caa import CaaResult
from exporter.config import Config
from exporter.http.collector import render_results
from exporter.models import CheckResult, CheckStatus
from sslfault_lab.issuance import (
    CA,
    CAA_CASES,
    OTHER_CA,
    TIMEOUT_CASE,
    CaaCase,
    IssuanceLab,
    run_once,
)


def caa_target(ilab: IssuanceLab, case: CaaCase) -> dict[str, Any]:
    names = [ilab.caa_name(n) for n in case.names]
    target: dict[str, Any] = {"host": names[0].removeprefix("*."), "name": case.case, "certificate_names": names,
                              "ca_identifiers": list(case.ca_ids), "checks": ["caa"]}
    if case.method:
        target["validation_method"] = case.method
    return target


def run_caa(ilab: IssuanceLab, case: CaaCase, **resolver: Any) -> CheckResult:
    data = ilab.config_dict(caa_target(ilab, case))
    data["resolver"].update(resolver)
    return asyncio.run(run_once(Config.model_validate(data)))["caa"]


@pytest.mark.parametrize("case", CAA_CASES, ids=[c.case for c in CAA_CASES])
def test_caa_case_gives_exactly_its_fault(ilab: IssuanceLab, case: CaaCase) -> None:
    result = run_caa(ilab, case)
    assert result.status is CheckStatus.OK, result.error
    assert {f.fault for f in result.outcome.findings} == case.faults
    caa: CaaResult = result.outcome.result
    assert caa.issuance_allowed is (not case.faults)
    expected_at = ilab.caa_name(case.found_at) if case.found_at else None
    assert caa.names[0].found_at == expected_at


def test_timeout_below_the_found_set_fails_closed(ilab: IssuanceLab) -> None:
    result = run_caa(ilab, TIMEOUT_CASE, timeout="0.4s")
    [finding] = result.outcome.findings
    assert finding.fault == "caa_lookup_failed"
    assert "timeout" in finding.detail and finding.data["failed_at"] == ilab.caa_name("host.drop")


def test_detail_names_where_the_set_was_found_and_its_records(ilab: IssuanceLab) -> None:
    case = next(c for c in CAA_CASES if c.names == ("www.parent",))
    [finding] = run_caa(ilab, case).outcome.findings
    assert f"CAA at {ilab.caa_name('parent')}" in finding.detail
    assert '0 issue "pki.goog"' in finding.detail
    assert finding.data["found_at"] == ilab.caa_name("parent")
    assert finding.data["records"] == ['0 issue "pki.goog"']


def test_cname_answer_is_reported_at_the_alias(ilab: IssuanceLab) -> None:
    case = next(c for c in CAA_CASES if c.names == ("alias",))
    [finding] = run_caa(ilab, case).outcome.findings
    assert finding.data["found_at"] == ilab.caa_name("alias")
    assert finding.data["canonical_name"] == ilab.caa_name("real.other")


def test_validationmethods_detail_names_the_excluded_method(ilab: IssuanceLab) -> None:
    case = next(c for c in CAA_CASES if c.names == ("methods",) and c.method == "file")
    [finding] = run_caa(ilab, case).outcome.findings
    assert "http-01" in finding.detail and "dns-01" in finding.detail


def test_critical_detail_explains_flag_1(ilab: IssuanceLab) -> None:
    case = next(c for c in CAA_CASES if c.names == ("flag1",))
    [finding] = run_caa(ilab, case).outcome.findings
    assert "flag 1" in finding.detail and "'future'" in finding.detail


def test_case_and_account_notes_are_kept(ilab: IssuanceLab) -> None:
    case_note = run_caa(ilab, next(c for c in CAA_CASES if c.names == ("case",))).outcome.result.names[0].notes
    assert any("strict CA" in n for n in case_note)
    account = run_caa(ilab, next(c for c in CAA_CASES if c.names == ("account",))).outcome.result.names[0].notes
    assert any("ACME account https://acme-v02.api.letsencrypt.org/acme/acct/1" in n for n in account)


def _scrape(results: dict[str, CheckResult], config: Config) -> str:
    return render_results(config.resolved_targets()[0], results).decode()


def test_metric_says_whether_the_ca_may_issue(ilab: IssuanceLab) -> None:
    for names, value in ((("direct",), 1.0), (("other-ca",), 0.0)):
        case = next(c for c in CAA_CASES if c.names == names)
        config = Config.model_validate(ilab.config_dict(caa_target(ilab, case)))
        text = _scrape(asyncio.run(run_once(config)), config)
        assert f'sslfault_caa_issuance_allowed{{target="{case.case}"}} {value}' in text


def test_metric_absent_when_the_check_errored(ilab: IssuanceLab) -> None:
    case = next(c for c in CAA_CASES if c.names == ("direct",))
    config = Config.model_validate(ilab.config_dict(caa_target(ilab, case)))
    errored = CheckResult(case.case, "caa", CheckStatus.ERROR, 0.0, 0.1)
    assert "sslfault_caa_issuance_allowed{" not in _scrape({"caa": errored}, config)


def _caa_without_ca_identifiers(ilab: IssuanceLab, name: str) -> CheckResult:
    data = ilab.config_dict({"host": ilab.caa_name(name)})
    config = Config.model_validate(data)
    assert CHECKS["caa"].applies_to(config.resolved_targets()[0])
    return asyncio.run(run_once(config))["caa"]


def test_caa_without_ca_identifiers_still_finds_what_blocks_every_ca(ilab: IssuanceLab) -> None:
    """No CA configured: "may our CA issue" has no answer (no caa_forbids_issuer, no metric),
    but a critical unknown tag or a failed lookup blocks every CA and is still reported."""
    other = _caa_without_ca_identifiers(ilab, "other-ca")
    assert other.status is CheckStatus.OK and other.outcome.findings == ()
    assert "sslfault_caa_issuance_allowed{" not in _scrape({"caa": other}, Config.model_validate(
        ilab.config_dict({"host": ilab.caa_name("other-ca")})))
    critical = _caa_without_ca_identifiers(ilab, "critical")
    assert [f.fault for f in critical.outcome.findings] == ["caa_critical_unknown_tag"]
    failing = _caa_without_ca_identifiers(ilab, "host.sf-below")
    assert failing.status is CheckStatus.OK and failing.outcome.findings == ()


# -- the algorithm without DNS ---------------------------------------------------------------


def test_parse_issue_values() -> None:
    assert parse_issue_value(";").issuer == ""
    assert parse_issue_value("ca.example;").params == ()
    parsed = parse_issue_value(" ca.example ; accounturi = https://x/1 ;validationmethods=dns-01")
    assert parsed is not None and parsed.issuer == "ca.example"
    assert parsed.params == (("accounturi", "https://x/1"), ("validationmethods", "dns-01"))
    for bad in ("ca.example; policy", "ca..example", "ca.example; a=b c", "ca_example.org", "cä.example"):
        assert parse_issue_value(bad) is None, bad


def test_failure_above_the_found_set_is_irrelevant() -> None:
    found = Level("a.example", "records", (CaaRecord(0, "issue", CA),))
    above = Level("example", "error", error="SERVFAIL")
    assert select_relevant([Level("x.a.example", "empty"), found, above]).found == found
    assert select_relevant([Level("x.a.example", "error", error="timeout"), found]).failed is not None
    assert select_relevant([Level("x.example", "nxdomain"), Level("example", "nxdomain")]).failed is not None
    assert select_relevant([Level("x.example", "empty"), Level("example", "empty")]) == select_relevant([])


def test_wildcard_selection_and_additive_authorisation() -> None:
    records = [CaaRecord(0, "issue", OTHER_CA), CaaRecord(0, "issuewild", ";"), CaaRecord(0, "issue", CA)]
    assert evaluate(records, False, [CA], None).authorised == (CA,)
    wild = evaluate(records, True, [CA], None)
    assert wild.selected_tag == "issuewild" and wild.authorised == ()
    assert evaluate([CaaRecord(0, "issue", OTHER_CA)], True, [CA], None).authorised == ()
    assert not evaluate([CaaRecord(0, "iodef", "mailto:a@b.c")], True, [CA], None).restricted


def test_critical_bits_apply_to_unknown_tags_only() -> None:
    assert evaluate([CaaRecord(128, "issue", CA)], False, [CA], None).authorised == (CA,)
    assert evaluate([CaaRecord(1, "Future", "x"), CaaRecord(0, "issue", CA)], False, [CA], None).critical
    assert not evaluate([CaaRecord(2, "future", "x"), CaaRecord(0, "issue", CA)], False, [CA], None).critical


def test_case_note_compares_with_the_lower_case_identifier() -> None:
    assert evaluate([CaaRecord(0, "issue", CA)], False, ["LetsEncrypt.org."], None).notes == ()
    [note] = evaluate([CaaRecord(0, "issue", "letsencrypt.org.")], False, [CA], None).notes
    assert "strict CA" in note
