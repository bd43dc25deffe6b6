"""The status page in a real browser: headless Chromium on `sslfault serve` watching the fault lab.

Asserts on the DOM Chromium rendered (after its scripts ran) and saves screenshots to
test-artifacts/ (desktop, phone, Chinese, a target page) for a person to look at.
Skipped when Debian's chromium is not installed (scripts/install-system-deps.sh installs it).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from exporter.catalog.faults import get_fault
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from tests.support.processes import ROOT, http_get, start_exporter, stop_process, wait_for

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--disable-extensions", "--mute-audio"]


def chromium(url: str, *args: str, lang: str = "en-US") -> str:
    """Run Chromium once with a fresh profile; returns its stdout (the DOM for --dump-dom)."""
    profile = tempfile.mkdtemp(prefix="sslfault-chromium-")
    try:
        proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--accept-lang={lang}", *args, url],
                              capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dom(url: str, lang: str = "en-US") -> LexborHTMLParser:
    return LexborHTMLParser(chromium(url, "--dump-dom", lang=lang))


def screenshot(url: str, name: str, size: tuple[int, int], lang: str = "en-US") -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    chromium(url, f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", lang=lang)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == size
    assert len(data) > 20_000, f"{path} looks blank ({len(data)} bytes)"
    return path


@pytest.fixture(scope="module")
def served(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("statuspage-browser")
    proc, base = start_exporter(lab_config_dict(lab, interval="5m", timeout="3s"), workdir)
    try:
        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 60, "every lab target probed once (/-/ready)")
        yield base
    finally:
        stop_process(proc)


RANKS = {"critical": 3, "warning": 2, "info": 1, "ok": 0}


def _worst(faults: tuple[str, ...] | list[str]) -> str:
    return max((str(get_fault(f).severity) for f in faults), key=RANKS.__getitem__, default="ok")


def test_browser_renders_every_lab_target_with_faults_and_severity(served: str, lab: Lab) -> None:
    tree = dom(f"{served}/")
    assert tree.css_first("html").attributes.get("class") == "js"  # our script ran without errors
    assert tree.css_first("html").attributes["lang"] == "en"
    rows = {r.css_first("a.tname").text(): r for r in tree.css("tr.target")}
    assert set(rows) == set(lab.scenarios)
    for name, scenario in lab.scenarios.items():
        row = rows[name]
        shown = {c.text() for c in row.css("code.fid")}
        assert set(scenario.expected_faults) <= shown, (name, shown)
        # The row's severity is the worst of the faults it shows (checks beyond the lab's expectations may add some).
        assert row.attributes["data-status"] == _worst(sorted(shown)), (name, shown)
        assert row.css_first("span.badge").text() == row.attributes["data-status"]
        assert RANKS[row.attributes["data-status"]] >= RANKS[_worst(scenario.expected_faults)], name
        assert "ago" in row.css_first("td.when").text()
    # Remedies in English; the expired target says so; the timeline is drawn.
    assert get_fault("chain_incomplete").remedy_en in rows["leaf-only"].text()
    assert "expired" in rows["expired"].css_first("td.expiry").text()
    assert lab.scenarios["multi"].addresses[1] in rows["multi"].css_first("td.addr-cell").text()
    names = [t.text() for t in tree.css("svg.timeline.wide text.name")]
    assert set(names[:3]) == {"expired", "expired-intermediate", "multi"}  # soonest (here: past) expiry first


def test_browser_filters_without_javascript_state(served: str) -> None:
    tree = dom(f"{served}/?severity=warning&sort=expiry")
    names = [r.css_first("a.tname").text() for r in tree.css("tr.target")]
    assert names and names[0] == "expiring"
    assert {r.attributes["data-status"] for r in tree.css("tr.target")} == {"warning"}
    tree = dom(f"{served}/?fault=cert_expired")
    assert sorted(r.css_first("a.tname").text() for r in tree.css("tr.target")) == ["expired", "multi"]


def test_browser_language_from_accept_language_and_toggle(served: str) -> None:
    tree = dom(f"{served}/", lang="zh-CN,zh")
    assert tree.css_first("html").attributes["lang"] == "zh-CN"
    assert get_fault("chain_incomplete").remedy_zh in tree.body.text()
    tree = dom(f"{served}/?lang=zh")  # the toggle beats an English browser
    text = tree.body.text()
    assert tree.css_first("html").attributes["lang"] == "zh-CN"
    assert "严重" in text and "处理办法" in text and get_fault("cert_expired").remedy_zh in text
    assert get_fault("cert_expired").remedy_en not in text
    assert tree.css_first("nav.lang a.current").text() == "中文"


def test_browser_target_page_shows_json_and_probe_log(served: str) -> None:
    tree = dom(f"{served}/targets/leaf-only")
    assert tree.css_first("h1").text().startswith("leaf-only")
    assert "chain_incomplete" in tree.css_first("pre.json").text()
    assert "chain_incomplete@" in tree.css_first("table.log").text()
    assert get_fault("chain_incomplete").remedy_en in tree.body.text()


def test_browser_screenshots(served: str) -> None:
    paths = [
        screenshot(f"{served}/", "statuspage.png", (1280, 2000)),
        screenshot(f"{served}/", "statuspage-phone.png", (390, 1600)),
        screenshot(f"{served}/?lang=zh", "statuspage-phone-zh.png", (390, 1600), lang="zh-CN"),
        screenshot(f"{served}/targets/multi", "statuspage-target.png", (1280, 1600)),
    ]
    assert all(p.is_file() for p in paths)
