"""Static discovery for the mixed-content check: WHATWG URL resolution, srcset, CSS, HTML, classes."""

from __future__ import annotations

import pytest

from exporter.checks._css import css_references, srcset_urls
from exporter.checks._html import parse_document, upgrades_insecure_requests
from exporter.checks._url import parse_url, resolve
from exporter.checks.mixed_content import classify
from tests.support.url_cases import BASE, NOT_WEB, RESOLUTION_CASES


@pytest.mark.parametrize(("ref", "expected"), RESOLUTION_CASES)
def test_resolution_follows_whatwg(ref: str, expected: str) -> None:
    assert str(resolve(ref, BASE)) == expected


@pytest.mark.parametrize("ref", NOT_WEB)
def test_non_http_and_invalid_urls_resolve_to_nothing(ref: str) -> None:
    assert resolve(ref, BASE) is None


def test_an_http_base_makes_relative_urls_insecure() -> None:
    base = parse_url("http://assets.test/base/")
    assert base is not None
    assert str(resolve("rel.png", base)) == "http://assets.test/base/rel.png"
    assert str(resolve("http:img.png", base)) == "http://assets.test/base/img.png"  # same scheme: relative


def test_https_form_keeps_explicit_ports_and_maps_80_to_443() -> None:
    assert str(parse_url("http://a.test/x").https()) == "https://a.test/x"
    assert str(parse_url("http://a.test:8080/x").https()) == "https://a.test:8080/x"


def test_srcset_candidates() -> None:
    assert srcset_urls("a.png 1x, b.png 2x,c.png") == ["a.png", "b.png", "c.png"]
    assert srcset_urls(" http://a/x.png 480w,\n http://a/y.png 800w ") == ["http://a/x.png", "http://a/y.png"]
    assert srcset_urls("a.png, b.png (x, y) 3x, c.png") == ["a.png", "b.png", "c.png"]
    assert srcset_urls("") == []


def test_css_imports_fonts_and_images() -> None:
    css = """@charset "utf-8"; @import url(http://a/x.css); @import "b.css" screen;
    /* url(http://commented/out.png) */
    body { background: url( "http://i/a.png" ) }
    @font-face { font-family: F; src: url(http://f/x.woff2) format("woff2") }
    .e { background-image: url(http\\3a //esc/e.png) }
    @import "late.css";"""
    assert css_references(css) == [
        ("http://a/x.css", "stylesheet"), ("b.css", "stylesheet"),  # a late @import is ignored by browsers
        ("http://f/x.woff2", "font"), ("http://i/a.png", "image"), ("http://esc/e.png", "image"),
    ]


def test_document_references() -> None:
    html = """<html><head><base href="http://first/"><base href="http://second/">
    <meta http-equiv="Content-Security-Policy" content="upgrade-insecure-requests">
    <link rel="stylesheet alternate" href="s.css"><link rel="preload" as="image" href="p.png">
    <link rel="preload" href="no-as.js"><link rel="dns-prefetch" href="http://d/">
    <script type="text/template" src="t.js"></script><script type="module" src="m.js"></script></head>
    <body><noscript><img src="n.png"></noscript><template><img src="t.png"></template>
    <picture><source srcset="s1.png 1x, s2.png 2x"><img src="p-img.png"></picture>
    <video poster="poster.png"><source src="v.mp4"><track src="t.vtt"></video>
    <input type="image" src="i.png"><object data="o.swf"></object><form action="http://f/post"></form>
    <div style="background:url(d.png)"></div></body></html>"""
    document = parse_document(html)
    assert document.base_href == "http://first/"
    assert upgrades_insecure_requests(list(document.csp_meta))
    found = [(r.raw, r.role) for r in document.references]
    assert found == [
        ("s.css", "stylesheet"), ("p.png", "image"), ("m.js", "script"),
        ("s1.png", "imageset"), ("s2.png", "imageset"), ("p-img.png", "imageset"),
        ("poster.png", "image"), ("v.mp4", "media"), ("t.vtt", "track"), ("i.png", "image"),
        ("o.swf", "object"), ("http://f/post", "form"), ("d.png", "image"),
    ]
    assert document.stylesheets == ("s.css",)


def test_meta_csp_counts_only_in_head() -> None:
    body_meta = '<body><meta http-equiv="content-security-policy" content="upgrade-insecure-requests"></body>'
    assert parse_document(body_meta).csp_meta == ()
    assert upgrades_insecure_requests(["default-src 'self'; Upgrade-Insecure-Requests"])
    assert upgrades_insecure_requests(["default-src https:, upgrade-insecure-requests"])
    assert not upgrades_insecure_requests(["block-all-mixed-content", ""])


@pytest.mark.parametrize(("url", "role", "kind"), [
    ("http://a.test/x.png", "image", "upgradable"),
    ("http://a.test/x.mp4", "media", "upgradable"),
    ("http://a.test/x.js", "script", "blockable"),
    ("http://a.test/x.png", "imageset", "blockable"),
    ("http://a.test/favicon.ico", "favicon", "blockable"),
    ("http://a.test/post", "form", "form"),
    ("https://a.test/x.js", "script", None),
    ("http://127.0.0.1/x.js", "script", None),  # loopback is potentially trustworthy
    ("http://127.0.0.1/x.png", "image", "upgradable"),  # ...but Chromium still flags images from it
    ("http://app.localhost/x.js", "script", None),
    ("http://192.0.2.1/x.png", "image", "upgradable"),  # an IP is never auto-upgraded, still flagged
])
def test_classification(url: str, role: str, kind: str | None) -> None:
    parsed = parse_url(url)
    assert parsed is not None
    assert classify(parsed, role) == kind
