"""Hostile pages against the mixed_content and http checks: nothing may freeze, crash or pass silently.

CPU-bound cases run in a forked child with a deadline, so a regression fails within seconds instead of
hanging the suite (their inputs took from 10 seconds to hours before scanning was made linear). The
end-to-end cases run the checks against tiny servers on 127.0.0.1 that serve exactly one hostile thing.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from exporter.checks._css import MAX_CSS_CHARS, css_references, scan_css
from exporter.checks._html import _elements, parse_document
from exporter.checks._html_bounds import MAX_DEPTH, MAX_ELEMENTS, bounded_html
from exporter.checks._mixed_fetch import charset as _charset
from exporter.checks._url import Url, resolve
from exporter.checks.http import Probe, _title, judge
from exporter.checks.mixed_content import MAX_LISTED, MAX_PROBES, MAX_TEXT
from exporter.config import Config
from exporter.models import CheckStatus, ErrorKind
from exporter.net.pinned import Response
from sslfault_lab.pki import LabPKI
from tests.support.sites import INSECURE, Page, Site, Tls, make_tls
from tests.support.sites import check_on as _check
from tests.support.sites import html_page as _html
from tests.support.sites import scanned as _scanned

DEADLINE = 2.0  # seconds, for inputs that took 10 s or more before


# -- CPU bounds, checked in a child process ---------------------------------------------------


def _child(conn: Any, fn: Callable[[], object]) -> None:
    start = time.perf_counter()
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(f"{type(exc).__name__}: {exc}"[:2000])
        return
    conn.send(time.perf_counter() - start)


def within(seconds: float, fn: Callable[[], object]) -> None:
    """fn() (which asserts what it needs) must finish within `seconds`; it is killed after 5 times that."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn), daemon=True)
    proc.start()
    try:
        if not receive.poll(seconds * 5):
            pytest.fail(f"still running after {seconds * 5:g}s")
        outcome = receive.recv()
    finally:
        proc.kill()
        proc.join()
    if isinstance(outcome, str):
        pytest.fail(outcome)
    assert outcome < seconds, f"took {outcome:.2f}s"


def test_css_url_escapes_cannot_backtrack() -> None:
    """Overlapping escape rules in url() made a failed match exponential: 10 escapes took 71 s."""
    def check() -> None:
        assert css_references("a{b:url(" + "\\aaaaaa" * 14 + '"}') == []
        page = '<div style="background:url(' + "\\aaaaaa" * 14 + '&quot;)">x</div><img src="http://a.test/i.png">'
        assert [r.raw for r in parse_document(page).references] == ["http://a.test/i.png"]

    within(DEADLINE, check)


@pytest.mark.parametrize(("css", "found"), [
    ('@import "a.css";' * 16000, 16000),  # 19 s: the prefix was rescanned for every @import
    ("@import url(" * 20000, 0),  # 90 s
    ('url("' * 20000, 0),  # 15 s
    ("@font-face{" * 20000, 0),  # 5 s
], ids=["imports", "import-url", "url-quote", "font-face"])
def test_css_scanning_is_linear(css: str, found: int) -> None:
    within(DEADLINE, lambda: _assert_equal(len(css_references(css)), found))


def _assert_equal(value: object, expected: object) -> None:
    assert value == expected, value


def test_css_beyond_the_cap_is_not_examined_and_says_so() -> None:
    late = "a{}" * (MAX_CSS_CHARS // 3) + "b{background:url(http://late.test/x.png)}"
    assert scan_css(late).truncated and scan_css(late).references == ()
    document = parse_document(f"<style>{late}</style><img src='http://a.test/i.png'>")
    assert [r.raw for r in document.references] == ["http://a.test/i.png"]
    assert document.notes == (f"a <style> longer than {MAX_CSS_CHARS} characters was examined only in part",)


def test_a_css_escape_naming_a_surrogate_does_not_crash() -> None:
    (ref,) = css_references("a{background:url(http://a.test/\\d800.png)}")
    assert str(resolve(ref[0], Url("https", "page.test", None))) == "http://a.test/%EF%BF%BD.png"


def test_deep_nesting_is_walked_without_recursion() -> None:
    """A recursive walk raised RecursionError at ~1000 nested elements: the check ended "internal"."""
    document = parse_document("<img src='http://a.test/top.png'>" + "<div>" * 5000 + "<img src='http://a.test/deep.png'>")
    assert [r.raw for r in document.references] == ["http://a.test/top.png"]
    assert document.notes and "nest deeper than 512" in document.notes[0]


def test_the_walk_stops_at_its_depth_cap() -> None:
    deeper = [0]
    tree = LexborHTMLParser("<div>" * (MAX_DEPTH + 200))  # lexbor itself is still fast at this depth
    count = sum(1 for _ in _elements(tree.root, deeper))
    assert count == MAX_DEPTH + 1 and deeper == [1]  # <head>, <body> and the divs down to the cap


@pytest.mark.parametrize("html", [
    "<div>" * 200_000,  # lexbor's tree builder is quadratic in nesting: this 1 MB page froze the loop 171 s
    "".join(f"<em x={i}>" for i in range(60_000)),  # and in open formatting elements: 38 s
    "<span><div></span>" * 60_000,  # end tags the tree builder ignores do not hide the nesting
], ids=["div", "formatting", "misnested"])
def test_tree_building_stays_linear(html: str) -> None:
    def check() -> None:
        document = parse_document(html)
        assert document.notes and "nest deeper than 512 levels" in document.notes[0], document.notes

    within(DEADLINE, check)


def test_only_real_nesting_is_cut() -> None:
    assert bounded_html("<svg>" + "<path d='M0 0'/>" * 5000 + "</svg>")[1] is None  # an icon sprite: self-closed
    assert bounded_html("<ul>" + "<li><p>item" * 5000 + "</ul>")[1] is None  # end tags left out, as allowed
    assert bounded_html("<table>" + "<tr><td>cell" * 5000 + "</table>")[1] is None
    assert bounded_html("<svg>" + "<g a=x/>" * 1000)[1] is not None  # "x/" is the value: nothing self-closes
    assert bounded_html("<p>" + "<b>" * 1000)[1] is not None


def test_reopened_formatting_elements_cannot_multiply_the_tree() -> None:
    """250 closed formatting elements are reopened by every text: 8000 short paragraphs made 2 million."""
    html = "<p>" + "".join(f"<em x={i}>" for i in range(250)) + "</p>" + "<p>x</p>" * 8000
    text, note = bounded_html(html)
    assert note is not None and note.startswith(f"more than {MAX_ELEMENTS} elements")
    assert len(LexborHTMLParser(text).css("em")) <= MAX_ELEMENTS


def test_the_http_check_title_is_bounded() -> None:
    """The http check parsed up to 256 KiB with lexbor for a title: 52,000 nested divs took ~4.5 s."""
    body = b"<title>t</title>" + b"<div>" * 52_000
    response = Response("https://a.test/", 200, {"content-type": "text/html"}, body, False)
    within(DEADLINE, lambda: _assert_equal(_title(response), "t"))


# -- charsets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "codec"), [
    ("punycode", "utf-8"),  # quadratic decoding: 13 s for 450 KB
    ("idna", "utf-8"),  # UnicodeError: ended "internal"
    ("zlib", "utf-8"),  # LookupError: not a text encoding
    ("rot13", "utf-8"),
    ("undefined", "utf-8"),  # raises on any input
    ("unicode_escape", "utf-8"),
    ("ISO-8859-1", "cp1252"),  # browsers read Latin-1 labels as windows-1252 (WHATWG)
    ("shift_jis", "cp932"),
    ("x-mac-cyrillic", "mac-cyrillic"),
    ("utf-16", "utf-16-le"),
])
def test_only_real_charsets_are_used(label: str, codec: str) -> None:
    assert _charset(_labelled(label)) == codec


def _labelled(charset: str, body: bytes = b"") -> Response:
    return Response("u", 200, {"content-type": f"text/html; charset={charset}"}, body, False)


def test_real_charsets_are_kept_and_a_bom_wins() -> None:
    assert [_charset(_labelled(c)) for c in ("windows-1251", '"UTF-8"', "no-such-charset")] == ["cp1251", "utf-8", "utf-8"]
    body = b"\xff\xfe" + "<p>é</p>".encode("utf-16-le")
    assert body.decode(_charset(_labelled("utf-8", body)), "replace").endswith("<p>é</p>")


def test_a_punycode_labelled_page_decodes_in_linear_time() -> None:
    body = b"a" * 500_000 + b"-" + b"99" * 250_000
    within(DEADLINE, lambda: body.decode(_charset(_labelled("punycode", body)), "replace"))


# -- the http check without a usable plain-HTTP answer -----------------------------------------


def test_an_inconclusive_http_answer_is_judged_on_https_alone() -> None:
    target = Config.model_validate({"targets": [{"host": "a.test"}]}).resolved_targets()[0]
    https = Probe("192.0.2.1", "/", "https", 200)
    stalled = Probe("192.0.2.1", "/", "http", None, "timed out", conclusive=False)
    assert [f.fault for f in judge(target, https, stalled)] == ["hsts_missing"]


# -- end to end: tiny servers on 127.0.0.1 ----------------------------------------------------------


@pytest.fixture(scope="module")
def tls(pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(pki, tmp_path_factory.mktemp("hostile"))


async def test_a_redos_page_no_longer_freezes_the_scan(tls: Tls) -> None:
    """The reviewer's page froze the event loop for 10.8 s (the runner's timeout cannot interrupt that)."""
    page = '<div style="background:url(' + "\\aaaaaa" * 9 + '&quot;">x</div>'
    result = await _check(tls, {"/": Page(_html(page))})
    assert _scanned(result).pages[0].note is None
    assert result.duration_seconds < DEADLINE


async def test_an_unreadable_stylesheet_means_no_verdict(tls: Tls) -> None:
    """A stylesheet that timed out was read as empty: the page passed as clean."""
    pages = {"/": Page(_html("hi", '<link rel="stylesheet" href="/s.css">')),
             "/s.css": Page(b"body{background:url(http://insecure.test/bg.png)}", "text/css", delay=30)}
    result = await _check(tls, pages)
    assert result.status is CheckStatus.ERROR and result.error_kind is ErrorKind.NETWORK
    assert "1 stylesheet(s) could not be examined" in (result.error or "") and "/s.css" in (result.error or "")


async def test_an_unreadable_stylesheet_is_listed_next_to_the_findings(tls: Tls) -> None:
    pages = {"/": Page(_html(f'<script src="{INSECURE}/a.js"></script>', '<link rel="stylesheet" href="/s.css">')),
             "/s.css": Page(b"", "text/css", delay=30)}
    result = await _check(tls, pages)
    (page,) = _scanned(result).pages
    (unchecked,) = page.unchecked_stylesheets
    assert unchecked.url.endswith("/s.css") and unchecked.address == "127.0.0.1"
    assert unchecked.reason.startswith("timed out after")
    (finding,) = result.outcome.findings
    assert finding.fault == "mixed_content_blockable"
    assert "not examined: 1 stylesheet(s); see the check result" in finding.detail


@pytest.mark.parametrize("charset", ["zlib", "idna", "punycode"])
async def test_a_bogus_charset_reads_as_utf8(tls: Tls, charset: str) -> None:
    # No "-" anywhere: read as punycode, all of it would decode to garbage.
    page = Page(b"<html><body><script src='http://insecure.test/app.js'></script></body></html>",
                f"text/html; charset={charset}")
    result = await _check(tls, {"/": page})
    assert [r.url for r in _scanned(result).pages[0].resources] == ["http://insecure.test/app.js"]


async def test_a_huge_page_lists_its_first_resources_and_counts_them_all(tls: Tls) -> None:
    """58,562 listed resources made an 11.5 MB finding, stored on every run."""
    long_url = f"{INSECURE}/{'x' * 100_000}.png"
    images = "".join(f'<img src="{INSECURE}/{i}.png">' for i in range(3000))
    scripts = "".join(f'<script src="{INSECURE}/{i}.js"></script>' for i in range(60))
    result = await _check(tls, {"/": Page(_html(f'<img src="{long_url}">{images}{scripts}'))})
    found = _scanned(result)
    assert (found.upgradable, found.blockable) == (3001, 60)  # what sslfault_mixed_content_resources exports
    findings = {f.fault: f for f in result.outcome.findings}
    upgradable = findings["mixed_content_upgradable"]
    assert len(upgradable.data["resources"]) == MAX_LISTED and upgradable.data["total"] == 3001
    assert upgradable.detail.startswith("3001 images or media") and len(upgradable.detail) < 3000
    assert findings["mixed_content_blockable"].data["total"] == 60
    (page,) = found.pages
    kinds = [r.kind for r in page.resources]
    assert (kinds.count("upgradable"), kinds.count("blockable")) == (MAX_LISTED, MAX_LISTED)
    assert page.omitted == 3001 + 60 - 2 * MAX_LISTED
    assert all(len(r.url) < MAX_TEXT + 40 for r in page.resources)
    assert all(len(r["url"]) < MAX_TEXT + 40 for f in findings.values() for r in f.data["resources"])
    assert sum(r.https_works is not None for r in page.resources) <= MAX_PROBES


async def test_a_deeply_nested_page_is_scanned_up_to_the_cap(tls: Tls) -> None:
    """~1000 nested divs raised RecursionError: the check ended "internal"."""
    body = f'<script src="{INSECURE}/top.js"></script>' + "<div>" * 1000 + f'<script src="{INSECURE}/deep.js"></script>'
    result = await _check(tls, {"/": Page(_html(body))})
    (page,) = _scanned(result).pages
    assert [r.url for r in page.resources] == [f"{INSECURE}/top.js"]
    assert page.incomplete and "nest deeper than 512 levels" in page.incomplete[0]
    (finding,) = result.outcome.findings  # what was read holds a fault: reported, with what was not read
    assert "not examined: part of 1 page(s)" in finding.detail


async def test_a_page_that_cannot_be_read_is_recorded_not_dropped(tls: Tls) -> None:
    pages = {"/": Page(_html(f'<script src="{INSECURE}/a.js"></script>')), "/slow": Page(delay=30)}
    result = await _check(tls, pages, paths=["/", "/slow"])
    found = _scanned(result)
    (failed,) = found.failed
    assert failed.url.endswith("/slow") and failed.address == "127.0.0.1" and failed.reason == "timed out"
    assert [p.url.rsplit("/", 1)[-1] for p in found.pages] == [""]
    (finding,) = result.outcome.findings
    assert finding.address == "127.0.0.1" and "not examined: 1 page(s)" in finding.detail


async def test_plain_http_that_accepts_but_never_answers_is_no_verdict(tls: Tls) -> None:
    """A stalled HTTP probe was read like "nothing on port 80": a 200 served there would go unreported."""
    https = {"/": Page(_html("shop"), headers=(("Strict-Transport-Security", "max-age=31536000"),))}
    async with Site({"/": Page(_html("shop"), delay=30)}, None) as stalled:
        result = await _check(tls, https, "http", http_port=stalled.port)
    assert result.status is CheckStatus.ERROR and result.error_kind is ErrorKind.NETWORK, result
    assert "no address gave both an HTTPS and a usable plain-HTTP answer" in (result.error or "")
    async with Site({}, None) as closed:
        port = closed.port  # closed again below: nothing listens there
    refused = await _check(tls, https, "http", http_port=port)
    assert refused.status is CheckStatus.OK and refused.outcome.findings == ()
