"""The http check against the web lab: HTTP vs HTTPS per address, 5xx, redirects, HSTS, the status metric."""

from __future__ import annotations

import asyncio

import pytest

from exporter.checks.http import HttpResult, Probe, hsts_active, judge
from exporter.cli.diagnose import diagnose
from exporter.config import Config
from exporter.engine.runner import run_first_target
from exporter.http.collector import render_results
from exporter.models import CheckResult
from sslfault_lab.web import HTTP_CASES, WebLab


async def _results(config: Config) -> dict[str, CheckResult]:
    return await run_first_target(config)


def _report(web: WebLab, name: str, **target: object) -> dict:
    return asyncio.run(diagnose(web.config(name, **target)))


@pytest.mark.parametrize("name", list(HTTP_CASES))
def test_each_case_yields_exactly_its_faults(web: WebLab, name: str) -> None:
    case = web.cases[name]
    report = _report(web, name)
    assert {f["id"] for f in report["faults"]} == set(case.faults), report["faults"]
    assert report["checks"]["http"]["status"] == "ok", report["checks"]
    assert all(f["address"] == web.addresses[case.host] for f in report["faults"])


def test_mismatch_detail_names_both_status_codes(web: WebLab) -> None:
    faults = {f["id"]: f for f in _report(web, "web-404")["faults"]}
    assert "HTTP answers 200 but HTTPS answers 404" in faults["https_status_mismatch"]["detail"]
    assert faults["https_status_mismatch"]["data"] == {"path": "/", "http_status": 200, "https_status": 404}
    redirected = _report(web, "web-404-redirect")["faults"][0]
    assert f"301 (redirect to https://web-404-redirect.lab.test:{web.port}/)" in redirected["detail"]


def test_two_200_pages_that_differ_are_called_different_sites(web: WebLab) -> None:
    fault = _report(web, "web-two-sites")["faults"][0]
    assert "different sites" in fault["detail"] and "'Old shop'" in fault["detail"]
    same = _report(web, "web-content")["faults"][0]
    assert same["data"]["different_sites"] is None


def test_every_configured_path_is_compared(web: WebLab) -> None:
    report = _report(web, "web-404", paths=["/", "/shop/"])
    mismatches = [f for f in report["faults"] if f["id"] == "https_status_mismatch"]
    assert sorted(f["data"]["path"] for f in mismatches) == ["/", "/shop/"]


def test_status_codes_are_exported_per_scheme(web: WebLab) -> None:
    config = web.config("web-404")
    results = asyncio.run(_results(config))
    result = results["http"].outcome.result
    assert isinstance(result, HttpResult) and (result.http_status, result.https_status) == (200, 404)
    text = _scrape(results, config)
    assert 'sslfault_http_status_code{scheme="http",target="web-404"} 200.0' in text
    assert 'sslfault_http_status_code{scheme="https",target="web-404"} 404.0' in text


def test_no_http_listener_exports_only_https(web: WebLab) -> None:
    config = web.config("web-no-http")
    text = _scrape(asyncio.run(_results(config)), config)
    assert 'sslfault_http_status_code{scheme="https",target="web-no-http"} 200.0' in text
    assert 'scheme="http",target="web-no-http"' not in text


def _scrape(results: dict[str, CheckResult], config: Config) -> str:
    return render_results(config.resolved_targets()[0], results).decode()


@pytest.mark.parametrize(("value", "active"), [
    ("max-age=31536000", True), ("max-age=300; includeSubDomains; preload", True), ('MAX-AGE="60"', True),
    ("max-age=0", False), ("includeSubDomains", False), ("", False), (None, False), ("max-age=abc", False),
])
def test_hsts_header_parsing(value: str | None, active: bool) -> None:
    assert hsts_active(value) is active


def test_a_redirect_to_another_host_is_not_http_success(web: WebLab) -> None:
    target = web.config("web-ok").resolved_targets()[0]
    https = Probe("192.0.2.1", "/", "https", 404)
    elsewhere = Probe("192.0.2.1", "/", "http", 301, location="https://www.other.test/")
    assert [f.fault for f in judge(target, https, elsewhere)] == []
    relative = Probe("192.0.2.1", "/", "http", 302, location=f"https://{target.host}/login")
    assert [f.fault for f in judge(target, https, relative)] == ["https_status_mismatch"]
    no_answer = Probe("192.0.2.1", "/", "http", None, error="connection refused")
    assert [f.fault for f in judge(target, https, no_answer)] == []


@pytest.mark.parametrize("paths", [[], ["shop"], ["//other.test/"], ["/a b"]])
def test_paths_must_be_plain_absolute_paths(paths: list[str]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="paths"):
        Config.model_validate({"targets": [{"host": "shop.test", "paths": paths}]})


def test_paths_default_to_the_root_and_can_be_set_per_target_or_default() -> None:
    config = Config.model_validate({"defaults": {"paths": ["/index.html"]},
                                    "targets": [{"host": "a.test"}, {"host": "b.test", "paths": ["/", "/shop?x=1"]}]})
    assert [t.paths for t in config.resolved_targets()] == [("/index.html",), ("/", "/shop?x=1")]
    assert Config.model_validate({"targets": [{"host": "a.test"}]}).resolved_targets()[0].paths == ("/",)
