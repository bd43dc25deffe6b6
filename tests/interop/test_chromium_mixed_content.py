"""Chromium as the reference: the scanner must report the same insecure URLs, page by page.

Headless Chromium loads every lab mixed-content page (lab names mapped to the lab's
loopback addresses, since Chromium trusts http://127.0.0.1 and would not flag it) and
its console says, per insecure URL, "blocked", "automatically upgraded" or (forms)
"targets an insecure endpoint". Pages cover forms posting to http: (`mc-form`), favicons named
over http: (`mc-blockable`), a named https: favicon and the implicit /favicon.ico and a
stylesheet whose https: URLs redirect to http: (`mc-icon-redirect`, `mc-redirects`): the browser
reports the redirect target, and so must the scanner. Known disagreement, by design: an image a
script inserts (`mc-script`) is seen by the browser, never by a static scanner.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from exporter.checks.mixed_content import MixedContentResult
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from sslfault_lab.web import PAGES, WebLab
from tests.support.url_cases import BASE, NOT_WEB, RESOLUTION_CASES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (scripts/install-system-deps.sh installs it as root)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--ignore-certificate-errors", "--remote-debugging-port=0",
         # Pages load in parallel windows: keep hidden ones from deferring their media loads.
         "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"]
SETTLE_SECONDS = 2.0  # quiet time after the load event for late loads (fonts, backgrounds, favicons)
PAGE_TIMEOUT = 15.0
_INSECURE_URL = re.compile(r"'(http://[^']+)'")


class DevTools:
    """Just enough of the Chrome DevTools Protocol: commands, and events per session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif "sessionId" in data:
                self.events.setdefault(data["sessionId"], []).append(data)

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, PAGE_TIMEOUT)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


@contextlib.asynccontextmanager
async def chromium(host_rules: str) -> AsyncIterator[DevTools]:
    """A headless Chromium of our own (fresh profile and HOME), driven over DevTools."""
    home = tempfile.mkdtemp(prefix="sslfault-chromium-")
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, *FLAGS, f"--user-data-dir={home}/profile", f"--host-resolver-rules={host_rules}", "about:blank",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": home})
    try:
        port_file = os.path.join(home, "profile", "DevToolsActivePort")
        for _ in range(200):
            lines = open(port_file).read().split("\n") if os.path.exists(port_file) else []
            if len(lines) >= 2 and lines[1]:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("Chromium did not open its DevTools port")
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"ws://127.0.0.1:{lines[0]}{lines[1]}", max_msg_size=0)
            tools = DevTools(ws)
            try:
                yield tools
            finally:
                await tools.close()
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        shutil.rmtree(home, ignore_errors=True)


async def open_tab(tools: DevTools, url: str = "about:blank") -> tuple[str, str]:
    target = (await tools.send("Target.createTarget", {"url": "about:blank", "newWindow": True}))["targetId"]
    session = (await tools.send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
    for method in ("Page.enable", "Log.enable"):
        await tools.send(method, session=session)
    if url != "about:blank":
        await tools.send("Page.navigate", {"url": url}, session=session)
    return target, session


async def console_verdicts(tools: DevTools, url: str) -> dict[str, str]:
    """Insecure URL -> blockable / upgradable / form, from Chromium's "Mixed Content" console messages."""
    target, session = await open_tab(tools, url)
    loop = asyncio.get_running_loop()
    deadline, quiet_since, seen = loop.time() + PAGE_TIMEOUT, loop.time(), 0
    while loop.time() < deadline:
        events = tools.events.get(session, [])
        loaded = any(e.get("method") == "Page.loadEventFired" for e in events)
        if len(events) != seen:
            seen, quiet_since = len(events), loop.time()
        if loaded and loop.time() - quiet_since >= SETTLE_SECONDS:
            break
        await asyncio.sleep(0.05)
    await tools.send("Target.closeTarget", {"targetId": target})
    verdicts: dict[str, str] = {}
    for event in tools.events.get(session, []):
        text = event.get("params", {}).get("entry", {}).get("text", "")
        match = _INSECURE_URL.search(text) if text.startswith("Mixed Content:") else None
        if match is None:
            continue
        kind = "blockable" if "has been blocked" in text else "form" if "contains a form" in text else "upgradable"
        if verdicts.get(match.group(1)) != "blockable":  # the preload scanner may ask first; the block is final
            verdicts[match.group(1)] = kind
    return verdicts


def scanner_verdicts(web: WebLab, name: str) -> dict[str, str]:
    config = web.config(name)

    async def scan() -> MixedContentResult:
        resources = Resources(config)
        try:
            result = (await run_target(config.resolved_targets()[0], resources))["mixed_content"]
        finally:
            await resources.close()
        assert isinstance(result.outcome.result, MixedContentResult), result.error
        return result.outcome.result

    found = asyncio.run(scan())
    return {r.url: r.kind for page in found.pages for r in page.resources}


@pytest.fixture(scope="module")
def browser_view(web: WebLab) -> dict[str, Any]:
    """Every page loaded in parallel tabs of one Chromium, plus its URL parser's answers."""
    rules = ", ".join(f"MAP {host} {address}" for host, address in web.addresses.items())
    cases = [[ref, str(BASE)] for ref, _ in RESOLUTION_CASES] + [[ref, str(BASE)] for ref in NOT_WEB]
    script = (f"JSON.stringify({json.dumps(cases)}.map(([r, b]) => {{ try {{ const u = new URL(r, b); u.hash = '';"
              " return /^https?:$/.test(u.protocol) ? u.href : null } catch (e) { return null } }))")

    async def browse() -> dict[str, Any]:
        async with chromium(rules) as tools:
            pages = await asyncio.gather(*(console_verdicts(tools, web.url(p.name)) for p in PAGES))
            _, session = await open_tab(tools)
            parsed = await tools.send("Runtime.evaluate", {"expression": script, "returnByValue": True}, session)
        return {"pages": dict(zip([p.name for p in PAGES], pages, strict=True)),
                "urls": json.loads(parsed["result"]["value"])}

    return asyncio.run(browse())


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_scanner_reports_what_chromium_reports(web: WebLab, browser_view: dict[str, Any], page: Any) -> None:
    browser = browser_view["pages"][page.name]
    scanner = scanner_verdicts(web, page.name)
    script_only = {page.render(u, web.values()) for u in page.script_only}
    # Named disagreement: script-inserted loads exist only at run time (mc-script).
    assert script_only <= set(browser), f"{page.name}: Chromium should see the script-inserted {script_only}"
    for template, chromium_kind in page.chromium_differs.items():
        url = page.render(template, web.values())
        assert browser.get(url) == chromium_kind, f"{page.name}: Chromium no longer says {chromium_kind} for {url}"
        browser[url] = "upgradable" if template in page.upgradable else "blockable"  # what specs.md says
    assert scanner == {u: k for u, k in browser.items() if u not in script_only}, (page.name, browser, scanner)


def test_every_page_but_the_clean_and_policy_ones_has_mixed_content(browser_view: dict[str, Any]) -> None:
    """Guards against a silently broken browser run (e.g. nothing loaded: every set empty)."""
    empty = {name for name, verdicts in browser_view["pages"].items() if not verdicts}
    assert empty == {"mc-clean", "mc-uir-header", "mc-uir-meta"}


def test_url_resolution_matches_chromium(browser_view: dict[str, Any]) -> None:
    expected = [want for _, want in RESOLUTION_CASES] + [None] * len(NOT_WEB)
    assert browser_view["urls"] == expected
