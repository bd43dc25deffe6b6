"""The HTTPS page the http and mixed_content checks both read is fetched once per run of a target (issue 14),
and each check still reads it up to its own cap, waits for it as long as before and judges it by its own
rules; real servers on 127.0.0.1 count the requests."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.checks.http import COMPARE_MAX_BYTES, HttpResult
from exporter.checks.mixed_content import PAGE_SHARE
from exporter.engine.runner import run_first_target
from exporter.models import CheckResult, CheckStatus, ErrorKind
from sslfault_lab.pki import LabPKI
from tests.support.sites import INSECURE, Page, Site, Tls, html_page, make_tls, scanned, site_config

BOTH = ["http", "mixed_content"]


@pytest.fixture(scope="module")
def tls(pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(pki, tmp_path_factory.mktemp("shared"))


async def _runs(tls: Tls, pages: dict[str, Page], runs: int = 1, checks: list[str] | None = None,
                **target: Any) -> tuple[list[dict[str, CheckResult]], Site, Site]:
    """`runs` runs of one target on a TLS site serving `pages`, its plain HTTP port redirecting to it."""
    async with Site(pages, tls.context) as https:
        moved = Page(b"", "text/plain", 301, (("Location", f"https://127.0.0.1:{https.port}/"),))
        async with Site({"/": moved}, None) as http:
            config = site_config(tls, https.port, "http", checks=checks or BOTH, http_port=http.port, **target)
            results = [await run_first_target(config) for _ in range(runs)]
    return results, https, http


def _http(result: CheckResult) -> HttpResult:
    assert result.status is CheckStatus.OK, result.error
    assert isinstance(result.outcome.result, HttpResult)
    return result.outcome.result


async def test_the_page_both_checks_read_is_fetched_once_per_run(tls: Tls) -> None:
    page = Page(html_page(f'<img src="{INSECURE}/a.png">'), headers=(("Strict-Transport-Security", "max-age=9"),))
    (first, second), https, http = await _runs(tls, {"/": page}, runs=2)
    for results in (first, second):
        assert _http(results["http"]).https_status == 200
        assert [f.fault for f in results["mixed_content"].outcome.findings] == ["mixed_content_upgradable"]
    # Per run: the page once (it was twice, once per check), the implicit favicon once; plain HTTP once.
    assert https.requests.count("/") == 2, https.requests
    assert sorted(https.requests) == ["/", "/", "/favicon.ico", "/favicon.ico"]
    assert http.requests == ["/", "/"]


async def test_each_check_still_has_its_own_request_when_alone(tls: Tls) -> None:
    """Control: one check alone reads the page once too (so the count above is the sharing's)."""
    for check in BOTH:
        _, https, _ = await _runs(tls, {"/": Page(html_page(""))}, checks=[check])
        assert https.requests.count("/") == 1, (check, https.requests)


async def test_each_check_reads_the_shared_page_up_to_its_own_cap(tls: Tls) -> None:
    """The http check compares up to COMPARE_MAX_BYTES; mixed_content reads up to max_body_bytes, and
    finds a script placed past the http check's cap: both from the one request."""
    filler = "x" * (COMPARE_MAX_BYTES + 1000)
    page = Page(html_page(f"<p>{filler}</p><script src=\"{INSECURE}/late.js\"></script>"))
    (results,), https, _ = await _runs(tls, {"/": page}, limits={"max_body_bytes": 4 * COMPARE_MAX_BYTES})
    probe = next(p for p in _http(results["http"]).probes if p.scheme == "https")
    assert (probe.size, probe.truncated, probe.title) == (COMPARE_MAX_BYTES, True, "t")
    scan = scanned(results["mixed_content"])
    assert [f.fault for f in results["mixed_content"].outcome.findings] == ["mixed_content_blockable"]
    assert scan.pages[0].incomplete == ()  # read in full: nothing cut
    assert https.requests.count("/") == 1


async def test_each_check_waits_for_the_shared_page_as_long_as_before(tls: Tls) -> None:
    """A page slower than mixed_content's share of the timeout but within the http check's: the http check
    judges it, mixed_content times out, as each did with a request of its own."""
    timeout = 5.0
    page = Page(html_page(""), delay=timeout * (PAGE_SHARE + 0.1), headers=(("Strict-Transport-Security", "max-age=9"),))
    (results,), https, _ = await _runs(tls, {"/": page}, timeout=timeout)
    assert _http(results["http"]).https_status == 200
    mixed = results["mixed_content"]
    assert (mixed.status, mixed.error_kind) == (CheckStatus.ERROR, ErrorKind.TIMEOUT), mixed
    assert https.requests.count("/") == 1
