"""The mixed_content check against the web lab: one page per row of the specs table."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.checks.mixed_content import MixedContentResult, PageScan
from exporter.config import Config
from exporter.engine.runner import run_first_target
from exporter.engine.store import ResultsStore
from exporter.http.collector import FaultCollector
from exporter.models import CheckResult, CheckStatus
from sslfault_lab.web import PAGES, WebLab
from sslfault_lab.web_content import MixedPage


async def _results(config: Config) -> dict[str, CheckResult]:
    return await run_first_target(config)


def scan(web: WebLab, name: str, **target: object) -> tuple[CheckResult, MixedContentResult]:
    result = asyncio.run(_results(web.config(name, **target)))["mixed_content"]
    assert result.status is CheckStatus.OK, result.error
    assert isinstance(result.outcome.result, MixedContentResult)
    return result, result.outcome.result


def expected(web: WebLab, page: MixedPage, urls: tuple[str, ...]) -> set[str]:
    return {page.render(u, web.values()) for u in urls}


def kinds(found: MixedContentResult, kind: str) -> set[str]:
    return {r.url for p in found.pages for r in p.resources if r.kind == kind}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_each_page_yields_exactly_its_faults_and_urls(web: WebLab, page: MixedPage) -> None:
    result, found = scan(web, page.name)
    assert {f.fault for f in result.outcome.findings} == set(web.cases[page.name].faults)
    assert kinds(found, "blockable") == expected(web, page, page.blockable)
    assert kinds(found, "upgradable") == expected(web, page, page.upgradable)
    assert kinds(found, "form") == expected(web, page, page.forms)
    assert {r.url for p in found.pages for r in p.upgraded} == expected(web, page, page.upgraded_by_policy)
    assert (found.blockable, found.upgradable) == (len(page.blockable), len(page.upgradable))


def test_findings_list_each_url_with_its_element_and_remedy(web: WebLab) -> None:
    result, _ = scan(web, "mc-remedy")
    (finding,) = result.outcome.findings
    by_url = {r["url"]: r for r in finding.data["resources"]}
    works = by_url[f"http://assets.lab.test:{web.port}/works.png"]
    broken = by_url[f"http://plain-assets.lab.test:{web.port}/broken.png"]
    assert works["https_works"] is True and works["remedy"].startswith("change the link to https://assets.lab.test")
    assert broken["https_works"] is False and broken["remedy"].startswith("host it yourself")
    assert by_url[f"http://assets.lab.test:{web.port}/no-head.png"]["https_works"] is True  # GET after HEAD's 405
    assert works["element"] == "img src" and finding.address is None
    assert "works.png (img src): change the link" in finding.detail
    assert "broken.png (img src): host it yourself" in finding.detail


def test_stylesheet_findings_say_where_they_were_found(web: WebLab) -> None:
    _, found = scan(web, "mc-css")
    nested = next(r for p in found.pages for r in p.resources if r.url.endswith("/nested.css"))
    assert nested.element == "site.css @import" and nested.found_in.endswith("/site.css")


def test_upgrade_policy_reports_broken_upgrades_not_mixed_content(web: WebLab) -> None:
    result, found = scan(web, "mc-uir-header")
    assert result.outcome.findings == ()
    (page,) = found.pages
    assert page.upgrade_policy and page.resources == ()
    broken = {r.url for r in page.upgraded if r.https_works is False}
    assert broken == {f"http://plain-assets.lab.test:{web.port}/uir-broken.png"}


def test_pages_that_are_not_200_html_are_noted_not_errors(web: WebLab) -> None:
    result, found = scan(web, "mc-clean", paths=["/", "/missing", "/app.js"])
    notes = {p.url.rsplit("/", 1)[-1]: p.note for p in found.pages}
    assert notes == {"": None, "missing": "HTTPS answers 404: nothing scanned", "app.js": "not an HTML page"}
    assert result.outcome.findings == ()


def test_metric_counts_distinct_insecure_urls_by_kind(web: WebLab) -> None:
    config = web.config("mc-base")
    results = asyncio.run(_results(config))
    store = ResultsStore()
    target = config.resolved_targets()[0]
    store.set_targets([target])
    store.record(target, results)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FaultCollector(store))
    text = generate_latest(registry).decode()
    assert 'sslfault_mixed_content_resources{kind="blockable",target="mc-base"} 1.0' in text
    assert 'sslfault_mixed_content_resources{kind="upgradable",target="mc-base"} 1.0' in text


def test_page_scans_are_plain_data(web: WebLab) -> None:
    """Results are kept serialisable (a state file will store them)."""
    _, found = scan(web, "mc-upgradable")
    assert all(isinstance(p, PageScan) and isinstance(p.url, str) for p in found.pages)


def test_findings_carry_the_address_only_when_addresses_differ() -> None:
    from exporter.checks.mixed_content import Resource, _findings

    script = Resource("http://a.test/x.js", "script src", "blockable", "https://site.test/")
    other = Resource("http://a.test/y.js", "script src", "blockable", "https://site.test/")

    def page(address: str, *found: Resource) -> PageScan:
        return PageScan("https://site.test/", address, 200, False, found, ())

    same = _findings("blockable", [page("192.0.2.1", script), page("192.0.2.2", script)], complete=True)
    assert [f.address for f in same] == [None]
    differ = _findings("blockable", [page("192.0.2.1", script), page("192.0.2.2", other)], complete=True)
    assert sorted(f.address or "" for f in differ) == ["192.0.2.1", "192.0.2.2"]
    partial = _findings("blockable", [page("192.0.2.1", script)], complete=False)
    assert [f.address for f in partial] == ["192.0.2.1"]
    assert _findings("upgradable", [page("192.0.2.1", script)], complete=True) == []
