"""The status page over HTTP, on a synthetic store: filters, sorting, language, escaping, 404s."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from exporter.catalog.faults import get_fault
from exporter.checks.chain import AddressChain, ChainResult
from exporter.checks.dns import DnsResult
from exporter.checks.reachability import AddressReach, ReachabilityResult
from exporter.checks.tls import AddressTls, TlsResult
from exporter.config import Config
from exporter.daemon.daemon import Daemon
from exporter.engine.store import ResultsStore
from exporter.http.keys import DAEMON
from exporter.http.statuspage import register
from exporter.models import CheckOutcome, CheckResult, CheckStatus, ErrorKind, Finding
from exporter.pki.certinfo import CertSummary

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
DAY = 86400.0
HOSTILE = '<script>alert("n")</script>&x'
HOSTILE_DETAIL = "served CN=<img src=x onerror=alert(1)> \"quoted\" 'single'"


def _results(name: str, address: str, now: float, *, findings: tuple[tuple[str, str, str], ...] = (),
             leaf_days: float | None = None, chain_days: float | None = None, reach: str = "ok",
             subject: str = "CN=example") -> dict[str, CheckResult]:
    """dns/reachability/tls/chain results for one address; findings are (check, fault, detail)."""

    def result(check: str, value: Any, error: bool = False) -> CheckResult:
        found = tuple(Finding(f, d, address) for c, f, d in findings if c == check)
        if error:
            return CheckResult(name, check, CheckStatus.ERROR, now, 0.01, CheckOutcome(found),
                               ErrorKind.DEPENDENCY, "no address completed a TLS handshake")
        return CheckResult(name, check, CheckStatus.OK, now, 0.01, CheckOutcome(found, value))

    out = {
        "dns": result("dns", DnsResult((address,), ())),
        "reachability": result("reachability", ReachabilityResult((AddressReach(address, reach, 0.001, 0.002),))),
    }
    if leaf_days is None:
        out["tls"] = result("tls", None, error=True)
        return out
    leaf = CertSummary(subject, "CN=Test CA", "01", "ab" * 32, "EC-P256", now - 30 * DAY, now + leaf_days * DAY,
                       False, ("example",))
    out["tls"] = result("tls", TlsResult((AddressTls(address, "TLSv1.3", "TLS_AES_128_GCM_SHA256", leaf, None),)))
    chain_after = now + (chain_days if chain_days is not None else leaf_days) * DAY
    out["chain"] = result("chain", ChainResult((AddressChain(address, 2, True, chain_after,
                                                             (subject, "CN=Test CA")),)))
    return out


def _store() -> ResultsStore:
    names = ["expired", "soon", "chain", "healthy", "down", "waiting", HOSTILE]
    config = Config.model_validate({"targets": [
        {"host": f"host{i}.example", "name": n} for i, n in enumerate(names)
    ]})
    targets = {t.name: t for t in config.resolved_targets()}
    store = ResultsStore()
    store.set_targets(targets.values())
    now = time.time()
    fleet = {
        "expired": _results("expired", "192.0.2.1", now, leaf_days=-10,
                            findings=(("tls", "cert_expired", "expired 10 days ago"),)),
        "soon": _results("soon", "192.0.2.2", now, leaf_days=5,
                         findings=(("tls", "cert_expiring_soon", "expires in 5 days"),)),
        "chain": _results("chain", "192.0.2.3", now, leaf_days=90, chain_days=20,
                          findings=(("chain", "chain_contains_root", "root sent"),)),
        "healthy": _results("healthy", "192.0.2.4", now, leaf_days=200),
        "down": _results("down", "192.0.2.5", now, reach="refused",
                         findings=(("reachability", "tcp_connect_refused", "connection refused"),)),
        HOSTILE: _results(HOSTILE, "192.0.2.6", now, leaf_days=40, subject="CN=<b>bold</b>",
                          findings=(("tls", "cert_hostname_mismatch", HOSTILE_DETAIL),)),
    }
    for name, results in fleet.items():
        store.record(targets[name], results)
    store.record(targets["expired"], fleet["expired"])  # two runs in its probe log
    return store


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    # Only what the pages read: the store and (no) scheduler; a stand-in, not a started daemon.
    app[DAEMON] = cast(Daemon, SimpleNamespace(store=_store(), scheduler=SimpleNamespace(next_run_timestamp=lambda name: None)))
    register(app)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _get(client: TestClient[Any, Any], path: str, **headers: str) -> tuple[int, str, Any]:
    response = await client.get(path, headers=headers)
    return response.status, await response.text(), response.headers


def _rows(page: str) -> list[str]:
    return [row.css_first("a.tname").text() for row in HTMLParser(page).css("tr.target")]


async def test_overview_lists_every_target_worst_first(client: TestClient[Any, Any]) -> None:
    status, page, headers = await _get(client, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    # Worst severity first; within it the soonest expiry, unknown expiry last.
    assert _rows(page) == ["expired", HOSTILE, "down", "soon", "chain", "waiting", "healthy"]
    tree = HTMLParser(page)
    status_of = {r.css_first("a.tname").text(): r.attributes["data-status"] for r in tree.css("tr.target")}
    assert status_of == {"expired": "critical", HOSTILE: "critical", "down": "critical", "soon": "warning",
                         "chain": "info", "waiting": "pending", "healthy": "ok"}
    for fault in ("cert_expired", "cert_expiring_soon", "chain_contains_root", "tcp_connect_refused"):
        assert f'<code class="fid">{fault}</code>' in page
    assert get_fault("cert_expired").remedy_en in page
    assert "could not judge" in page and "tls (dependency)" in page  # down: the tls check errored
    assert "7 of 7 targets" in page
    # Last and next check, and per-address results.
    row = next(r for r in tree.css("tr.target") if r.attributes["data-status"] == "warning")
    assert "ago" in row.css_first("td.when").text()
    assert "192.0.2.2" in row.css_first("td.addr-cell").text() and "TLSv1.3" in row.css_first("td.addr-cell").text()
    assert "never" in next(r for r in tree.css("tr.target") if r.attributes["data-status"] == "pending").text()


async def test_nothing_is_loaded_from_elsewhere(client: TestClient[Any, Any]) -> None:
    for path in ("/", "/targets/expired"):
        _, page, _ = await _get(client, path)
        tree = HTMLParser(page)
        urls = [n.attributes.get(a) or "" for n in tree.css("[src], [href]") for a in ("src", "href")]
        assert urls and all(u.startswith("/") for u in urls if u), urls
        assert "@import" not in page and "fonts.googleapis" not in page


@pytest.mark.parametrize(("query", "expected"), [
    ("severity=critical", {"expired", "down", HOSTILE}),
    ("severity=warning&severity=info", {"soon", "chain"}),
    ("severity=warning,ok", {"soon", "healthy"}),
    ("severity=pending", {"waiting"}),
    ("fault=cert_expired", {"expired"}),
    ("fault=cert_hostname_mismatch", {HOSTILE}),
    ("fault=no_such_fault", set()),
    ("expiry=expired", {"expired"}),
    ("expiry=30", {"expired", "soon"}),
    ("expiry=90", {"expired", "soon", HOSTILE, "chain"}),
    ("expiry=unknown", {"down", "waiting"}),
    ("q=EXPIR", {"expired", "soon"}),  # name or fault id
    ("q=host3.example", {"healthy"}),
    ("severity=critical&expiry=30", {"expired"}),
    ("severity=bogus&expiry=soonish&sort=nope", {"expired", "soon", "chain", "healthy", "down", "waiting", HOSTILE}),
    ("expiry=%C2%B2&order=sideways&lang=fr", {"expired", "soon", "chain", "healthy", "down", "waiting", HOSTILE}),
    ("expiry=6", {"expired", "soon"}),  # any number of days, not only the menu's
])
async def test_filters_by_query_parameters(client: TestClient[Any, Any], query: str, expected: set[str]) -> None:
    status, page, _ = await _get(client, "/?" + query)
    assert status == 200
    assert set(_rows(page)) == expected
    assert f"{len(expected)} of 7 targets" in page
    if not expected:
        assert "No target matches the filter." in page


async def test_filter_form_keeps_its_state(client: TestClient[Any, Any]) -> None:
    _, page, _ = await _get(client, "/?severity=critical&fault=cert_expired&expiry=30&sort=expiry&order=desc&q=ex")
    tree = HTMLParser(page)
    form = tree.css_first("form.filters")
    assert form.attributes["method"] == "get" and form.attributes["action"] == "/"
    checked = [i.attributes["value"] for i in form.css("input[name=severity]") if "checked" in i.attributes]
    assert checked == ["critical"]
    assert form.css_first("select[name=fault] option[selected]").attributes["value"] == "cert_expired"
    assert form.css_first("select[name=expiry] option[selected]").attributes["value"] == "30"
    assert form.css_first("select[name=sort] option[selected]").attributes["value"] == "expiry"
    assert "checked" in form.css_first("input[name=order]").attributes
    assert form.css_first("input[name=q]").attributes["value"] == "ex"


@pytest.mark.parametrize(("query", "expected"), [
    ("sort=expiry", ["expired", "soon", HOSTILE, "chain", "healthy", "down", "waiting"]),
    ("sort=expiry&order=desc", ["waiting", "down", "healthy", "chain", HOSTILE, "soon", "expired"]),
    ("sort=name", sorted(["expired", "soon", "chain", "healthy", "down", "waiting", HOSTILE])),
    ("sort=name&order=desc", sorted(["expired", "soon", "chain", "healthy", "down", "waiting", HOSTILE])[::-1]),
    # Grouped by the worst fault id, targets without faults last.
    ("sort=fault", ["expired", "soon", HOSTILE, "chain", "down", "waiting", "healthy"]),
    ("sort=severity", ["expired", HOSTILE, "down", "soon", "chain", "waiting", "healthy"]),
])
async def test_sorts_by_query_parameters(client: TestClient[Any, Any], query: str, expected: list[str]) -> None:
    _, page, _ = await _get(client, "/?" + query)
    assert _rows(page) == expected


async def test_column_headers_sort_and_toggle_direction(client: TestClient[Any, Any]) -> None:
    _, page, _ = await _get(client, "/?sort=expiry&severity=critical")
    links = {a.text().strip(" ▲▼"): a.attributes["href"] for a in HTMLParser(page).css("table.targets th a")}
    assert links["Expiry"] == "/?severity=critical&sort=expiry&order=desc"  # current column: reverse it
    assert links["Target"] == "/?severity=critical&sort=name"


@pytest.mark.parametrize(("accept", "lang"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("fr-FR, zh-TW;q=0.5", "zh"),
    ("en;q=0.2, zh;q=0.7", "zh"),
    ("de", "en"),
    ("", "en"),
    ("zh;q=bogus, en", "en"),
])
async def test_language_follows_accept_language(client: TestClient[Any, Any], accept: str, lang: str) -> None:
    _, page, headers = await _get(client, "/", **({"Accept-Language": accept} if accept else {}))
    remedy = get_fault("cert_expired").remedy_zh if lang == "zh" else get_fault("cert_expired").remedy_en
    assert remedy in page
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
    assert headers["Vary"] == "Accept-Language"
    if lang == "zh":
        assert "严重" in page and "处理办法" in page and get_fault("cert_expired").remedy_en not in page


async def test_language_toggle_overrides_the_browser_and_sticks(client: TestClient[Any, Any]) -> None:
    _, page, _ = await _get(client, "/?severity=critical&lang=zh", **{"Accept-Language": "en"})
    assert get_fault("cert_expired").remedy_zh in page and '<html lang="zh-CN">' in page
    tree = HTMLParser(page)
    toggle = {a.text(): a.attributes["href"] for a in tree.css("nav.lang a")}
    assert toggle == {"EN": "/?severity=critical&lang=en", "中文": "/?severity=critical&lang=zh"}
    assert tree.css_first("form.filters input[name=lang]").attributes["value"] == "zh"
    assert tree.css_first("a.tname[href='/targets/expired?lang=zh']") is not None
    _, page, _ = await _get(client, "/?lang=en", **{"Accept-Language": "zh-CN"})
    assert get_fault("cert_expired").remedy_en in page and '<html lang="en">' in page


async def test_hostile_names_and_details_are_escaped(client: TestClient[Any, Any]) -> None:
    for path in ("/", "/?lang=zh", "/targets/" + quote(HOSTILE, safe="")):
        status, page, _ = await _get(client, path)
        assert status == 200
        assert HOSTILE not in page and "<img" not in page and "<b>bold" not in page
        assert html_escape(HOSTILE) in page
        tree = HTMLParser(page)
        scripts = [s.attributes.get("src") for s in tree.css("script")]
        assert scripts == ["/static/statuspage.js?v=" + __import__("exporter").__version__]
        assert not [n for n in tree.css("*") if any(a.startswith("on") for a in n.attributes)]
        assert HOSTILE in tree.body.text()  # the browser shows the name as text
    _, page, _ = await _get(client, "/")
    assert f'href="/targets/{quote(HOSTILE, safe="")}"' in page


async def test_timeline_is_inline_svg_of_known_expiries(client: TestClient[Any, Any]) -> None:
    _, page, _ = await _get(client, "/")
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == 2  # a wide and a narrow drawing; CSS shows one
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed, so escaped
        ns = "{http://www.w3.org/2000/svg}" if root.tag.startswith("{") else ""
        names = [t.text for t in root.iter(f"{ns}text") if t.get("class") == "name"]
        assert len(names) == 5 and names[0] == "expired" and "down" not in names and "waiting" not in names
        labels = [t.text for t in root.iter(f"{ns}text") if t.get("class") == "days"]
        assert labels[0] == "-10 d" and "20 d · chain" in labels  # chain: the intermediate runs out first
    assert "chain: expires in 20 d" in page.replace("Chain: ", "chain: ")
    _, page, _ = await _get(client, "/?severity=pending")
    assert "<svg" not in page and "No certificate expiry known" in page


async def test_target_page_has_detail_json_and_probe_log(client: TestClient[Any, Any]) -> None:
    status, page, _ = await _get(client, "/targets/expired")
    assert status == 200
    tree = HTMLParser(page)
    assert tree.css_first("h1").text().startswith("expired")
    assert get_fault("cert_expired").remedy_en in page
    assert "192.0.2.1" in tree.css_first("table.stack").text()
    detail = json.loads(tree.css_first("pre.json").text())
    assert detail["name"] == "expired" and detail["report"]["faults"][0]["id"] == "cert_expired"
    assert {"results", "log", "checks", "addresses"} <= set(detail)
    log_rows = tree.css("table.log tbody tr")
    assert len(log_rows) == len(detail["log"]) == 2
    assert "cert_expired@192.0.2.1" in log_rows[0].text()
    _, page, _ = await _get(client, "/targets/expired?lang=zh")
    assert get_fault("cert_expired").remedy_zh in page and "最近探测" in page
    assert 'href="/?lang=zh"' in page  # the way back keeps the language


async def test_target_page_escapes_the_json(client: TestClient[Any, Any]) -> None:
    _, page, _ = await _get(client, "/targets/" + quote(HOSTILE, safe=""))
    detail = json.loads(HTMLParser(page).css_first("pre.json").text())
    assert detail["name"] == HOSTILE and detail["faults"][0]["detail"] == HOSTILE_DETAIL


@pytest.mark.parametrize("name", ["nope", "<svg onload=alert(1)>", "a/b"])
async def test_unknown_target_is_404(client: TestClient[Any, Any], name: str) -> None:
    status, page, headers = await _get(client, "/targets/" + quote(name, safe=""))
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert "No such target" in page and html_escape(name) in page and "<svg onload" not in page


async def test_static_files(client: TestClient[Any, Any]) -> None:
    for name, kind in (("statuspage.css", "text/css"), ("statuspage.js", "text/javascript")):
        response = await client.get(f"/static/{name}")
        assert response.status == 200 and response.headers["Content-Type"].startswith(kind)
        body = await response.text()
        assert "http://" not in body and "https://" not in body  # nothing fetched from the internet
    for bad in ("/static/nope.css", "/static/..%2Fstatuspage.py", "/static/%2E%2E%2Fweb.py"):
        assert (await client.get(bad)).status == 404


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
