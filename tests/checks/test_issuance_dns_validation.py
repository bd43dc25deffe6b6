"""DNS-TXT validation (guide S1, S6): each authoritative server and each resolver asked directly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exporter.checks import CHECKS
from exporter.checks.dns_validation import DnsValidationResult
from exporter.config import Config
from exporter.models import CheckResult, CheckStatus
from exporter.net.authoritative import find_zone_servers
from exporter.net.dns import make_resolver
from sslfault_lab.issuance import (
    ACME_DELEGATED_HOST,
    ACME_DELEGATED_TOKEN,
    ACME_HOST,
    ACME_TOKENS,
    NS1,
    NS2,
    STALE,
    TXT_CASES,
    TXT_CNAME_CASE,
    TXT_NEW,
    TXT_OK,
    IssuanceLab,
    TxtCase,
    run_once,
)


def txt_config(ilab: IssuanceLab, host: str, value: str, **validation: Any) -> Config:
    target = {"host": ilab.txt_host(host), "dns_validation": {"value": value, **validation},
              "checks": ["dns_validation"]}
    return Config.model_validate(ilab.config_dict(target))


def run_txt(config: Config) -> CheckResult:
    result = asyncio.run(run_once(config))["dns_validation"]
    assert result.status is CheckStatus.OK, result.error
    return result


@pytest.mark.parametrize("case", TXT_CASES, ids=[c.case for c in TXT_CASES])
def test_txt_case_gives_exactly_its_fault(ilab: IssuanceLab, case: TxtCase) -> None:
    result = run_txt(txt_config(ilab, case.host, case.value))
    assert {f.fault for f in result.outcome.findings} == case.faults


def test_every_authoritative_server_and_resolver_is_asked(ilab: IssuanceLab) -> None:
    result: DnsValidationResult = run_txt(txt_config(ilab, "txt-ok", TXT_OK)).outcome.result
    assert result.zone == f"issuance.{ilab.lab.domain}"
    assert sorted(v.address for v in result.authoritative) == [ilab.address(NS1), ilab.address(NS2)]
    assert sorted(v.address for v in result.recursive) == sorted([ilab.lab.dns_address, ilab.address(STALE)])
    assert all(v.status == "match" for v in result.authoritative + result.recursive)


def test_missing_names_the_authoritative_servers(ilab: IssuanceLab) -> None:
    """Guide S6: the operator must see which DNS host does not serve the record."""
    [finding] = run_txt(txt_config(ilab, "txt-partial", TXT_NEW)).outcome.findings
    assert f"ns2.issuance.{ilab.lab.domain} ({ilab.address(NS2)})" in finding.detail
    assert f"ns1.issuance.{ilab.lab.domain} ({ilab.address(NS1)})" in finding.detail
    assert "absent at 1 of 2" in finding.detail
    assert finding.data["name_servers"].count("issuance") == 2


def test_mismatch_reports_what_was_found(ilab: IssuanceLab) -> None:
    [finding] = run_txt(txt_config(ilab, "txt-wrong", TXT_NEW)).outcome.findings
    assert "'lab-txt-token-old'" in finding.detail and repr(TXT_NEW) in finding.detail


def test_not_propagated_names_the_stale_resolver(ilab: IssuanceLab) -> None:
    [finding] = run_txt(txt_config(ilab, "txt-stale", TXT_NEW)).outcome.findings
    assert ilab.stale_resolver in finding.detail and "'lab-txt-token-old'" in finding.detail


def test_quotes_typed_into_the_value_are_pointed_out(ilab: IssuanceLab) -> None:
    [finding] = run_txt(txt_config(ilab, "txt-ok", f'"{TXT_OK}" ')).outcome.findings
    assert finding.fault == "dns_validation_record_mismatch"
    assert "quotes or spaces" in finding.detail


def test_custom_record_name(ilab: IssuanceLab) -> None:
    config = txt_config(ilab, "elsewhere", TXT_NEW, record=f"_dnsauth.txt-stale.issuance.{ilab.lab.domain}.")
    assert {f.fault for f in run_txt(config).outcome.findings} == {"dns_validation_not_propagated"}


def test_cname_into_another_zone_is_followed(ilab: IssuanceLab) -> None:
    data = ilab.config_dict({"host": ilab.txt_host(TXT_CNAME_CASE.host), "checks": ["dns_validation"],
                             "dns_validation": {"value": TXT_CNAME_CASE.value}})
    data["resolver"]["nameservers"] = [ilab.lab.nameserver]  # the stale server is no real resolver
    result = run_txt(Config.model_validate(data))
    assert result.outcome.findings == ()
    view: DnsValidationResult = result.outcome.result
    assert view.queried == f"_dnsauth.txt-cname.{ilab.lab.domain}"
    assert [v.address for v in view.authoritative] == [ilab.lab.dns_address]


def test_no_answer_from_any_authoritative_server_is_an_error(ilab: IssuanceLab) -> None:
    data = ilab.config_dict({"host": ilab.txt_host("txt-ok"), "checks": ["dns_validation"],
                             "dns_validation": {"value": TXT_OK}}, timeout="2s")
    data["resolver"].update(authoritative_port=1, timeout="0.3s")  # nothing answers there
    result = asyncio.run(run_once(Config.model_validate(data)))["dns_validation"]
    assert result.status is CheckStatus.ERROR and "no authoritative server" in (result.error or "")


def test_find_zone_servers_climbs_to_the_delegated_zone(ilab: IssuanceLab) -> None:
    host, port = ilab.lab.nameserver.split(":")
    resolver = make_resolver([(host, int(port))], 2.0)
    zone = asyncio.run(find_zone_servers(resolver, f"_dnsauth.a.b.issuance.{ilab.lab.domain}"))
    assert zone.zone == f"issuance.{ilab.lab.domain}"
    assert [(s.name, s.addresses) for s in zone.servers] == [
        (f"ns1.issuance.{ilab.lab.domain}", (ilab.address(NS1),)),
        (f"ns2.issuance.{ilab.lab.domain}", (ilab.address(NS2),)),
    ]


def test_dns_validation_applies_only_when_configured(ilab: IssuanceLab) -> None:
    target = Config.model_validate(ilab.config_dict({"host": ilab.txt_host("txt-ok")})).resolved_targets()[0]
    assert not CHECKS["dns_validation"].applies_to(target)
    assert CHECKS["dns_validation"].applies_to(txt_config(ilab, "txt-ok", TXT_OK).resolved_targets()[0])


@pytest.mark.parametrize("token", ACME_TOKENS)
def test_acme_challenge_record_with_two_tokens(ilab: IssuanceLab, token: str) -> None:
    """dns-01 for a name and its wildcard: two TXT values at once; each order's value is found."""
    host = ilab.txt_host(ACME_HOST)
    result = run_txt(txt_config(ilab, ACME_HOST, token, record=f"_acme-challenge.{host}"))
    assert result.outcome.findings == ()
    view: DnsValidationResult = result.outcome.result
    assert view.record == f"_acme-challenge.{host}"
    assert all(v.status == "match" for v in view.authoritative)


def test_acme_challenge_from_an_earlier_order_is_a_mismatch(ilab: IssuanceLab) -> None:
    host = ilab.txt_host(ACME_HOST)
    result = run_txt(txt_config(ilab, ACME_HOST, "token-of-the-next-order", record=f"_acme-challenge.{host}"))
    assert {f.fault for f in result.outcome.findings} == {"dns_validation_record_mismatch"}
    assert ACME_TOKENS[0] in result.outcome.findings[0].detail


def test_acme_challenge_delegated_by_cname_is_followed(ilab: IssuanceLab) -> None:
    """_acme-challenge CNAMEd to an acme-dns zone: the value is read where the CNAME points."""
    host = ilab.txt_host(ACME_DELEGATED_HOST)
    data = ilab.config_dict({"host": host, "checks": ["dns_validation"],
                             "dns_validation": {"value": ACME_DELEGATED_TOKEN, "record": f"_acme-challenge.{host}"}})
    data["resolver"]["nameservers"] = [ilab.lab.nameserver]  # the stale server is no real resolver
    result = run_txt(Config.model_validate(data))
    assert result.outcome.findings == ()
    view: DnsValidationResult = result.outcome.result
    assert view.queried != view.record and view.queried.endswith(ilab.lab.domain)
