"""A scan cut short is not a clean scan (issue 11 §4): an insecure script placed after each cap or loop
makes the check "could not judge", unless what was read already holds a fault; real servers on 127.0.0.1."""

from __future__ import annotations

import pytest

from exporter.checks._css import MAX_CSS_CHARS
from exporter.checks._html_bounds import MAX_NESTING
from exporter.checks.mixed_content import MAX_STYLESHEETS
from exporter.models import CheckResult, CheckStatus, ErrorKind
from sslfault_lab.pki import LabPKI
from tests.support.sites import INSECURE, Page, Tls, check_on, html_page, make_tls

BODY_CAP = 2 * MAX_CSS_CHARS  # limits.max_body_bytes in these tests: above the CSS cap
SCRIPT = f'<script src="{INSECURE}/late.js"></script>'
EARLY = f'<img src="{INSECURE}/early.png">'


@pytest.fixture(scope="module")
def tls(pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(pki, tmp_path_factory.mktemp("caps"))


def _css(body: str) -> Page:
    return Page(body.encode(), "text/css")


def _redirect(to: str) -> Page:
    return Page(b"moved", "text/plain", 301, (("Location", to),))


# Each case: pages whose insecure script lies past one cap, and the words the error must hold.
CASES: dict[str, tuple[dict[str, Page], str]] = {
    "html body cap": ({"/": Page(html_page("<p>" + "x" * BODY_CAP + "</p>" + SCRIPT))}, "body cut at"),
    "nesting cap": ({"/": Page(html_page("<div>" * (MAX_NESTING + 10) + SCRIPT))}, "nest deeper than"),
    "<style> size cap": ({"/": Page(html_page("", "<style>" + "a{}" * (MAX_CSS_CHARS // 3 + 1)
                                               + f"b{{background:url({INSECURE}/late.png)}}</style>"))},
                         "examined only in part"),
    "stylesheet body cap": ({"/": Page(html_page("", '<link rel="stylesheet" href="/big.css">')),
                             "/big.css": _css("a{}" * (BODY_CAP // 3 + 1) + f"@import url({INSECURE}/late.css);")},
                            "big.css: body cut"),
    "stylesheet size cap": ({"/": Page(html_page("", '<link rel="stylesheet" href="/long.css">')),
                             "/long.css": _css("a{}" * (MAX_CSS_CHARS // 3 + 1) + f"b{{background:url({INSECURE}/x.png)}}")},
                            "long.css: only the first"),
    "stylesheet count cap": ({"/": Page(html_page("", "".join(f'<link rel="stylesheet" href="/{i}.css">'
                                                             for i in range(MAX_STYLESHEETS + 1)))),
                              **{f"/{i}.css": _css("") for i in range(MAX_STYLESHEETS)},
                              f"/{MAX_STYLESHEETS}.css": _css(f"@import url({INSECURE}/late.css);")},
                             f"beyond the first {MAX_STYLESHEETS}"),
    "page redirects to itself": ({"/": _redirect("/")}, "redirects in a loop"),
    "redirect chain too long": ({"/": _redirect("/1"), "/1": _redirect("/2"), "/2": _redirect("/3"),
                                 "/3": _redirect("/4"), "/4": Page(html_page(SCRIPT))}, "more than 3 redirects"),
}


def _limits() -> dict[str, int]:
    return {"max_body_bytes": BODY_CAP}


@pytest.mark.parametrize("case", list(CASES))
async def test_an_insecure_load_past_a_cap_is_no_verdict(tls: Tls, case: str) -> None:
    pages, words = CASES[case]
    result = await check_on(tls, pages, limits=_limits())
    assert (result.status, result.error_kind) == (CheckStatus.ERROR, ErrorKind.INCOMPLETE), result
    assert words in (result.error or ""), result.error


@pytest.mark.parametrize("case", [c for c in CASES if "redirect" not in c])
async def test_a_fault_read_before_the_cap_is_reported(tls: Tls, case: str) -> None:
    pages, _ = CASES[case]
    page = pages["/"]
    pages = {**pages, "/": Page(page.body.replace(b"<body>", f"<body>{EARLY}".encode(), 1), page.ctype)}
    result = await check_on(tls, pages, limits=_limits())
    assert result.status is CheckStatus.OK, result.error
    (finding,) = result.outcome.findings
    assert finding.fault == "mixed_content_upgradable" and "not examined: part of 1 page(s)" in finding.detail


async def test_the_same_pages_without_the_caps_find_the_script(tls: Tls) -> None:
    """Control: the late script is found when nothing is cut (so the cases above test the caps)."""
    result: CheckResult = await check_on(tls, {"/": Page(html_page("<p>x</p>" + SCRIPT))}, limits=_limits())
    assert [f.fault for f in result.outcome.findings] == ["mixed_content_blockable"]


async def test_http_compare_cap_changes_no_verdict(tls: Tls) -> None:
    """The http check compares sizes of bodies read up to 256 KiB: a cut body is not compared, not judged on."""
    from exporter.checks.http import Probe, _different_sites

    https = Probe("192.0.2.1", "/", "https", 200, title="t", size=256 * 1024, truncated=True)
    http = Probe("192.0.2.1", "/", "http", 200, title="t", size=1000)
    assert _different_sites(https, http) is None
