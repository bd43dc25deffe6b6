"""Mixed content (guide S7): HTTPS pages that load sub-resources over http://.

Each configured path is fetched over HTTPS from every address (capped, time-bounded),
parsed statically, and every sub-resource URL is resolved and classified the way
Chromium does (see ../shared/specs.md). For each insecure URL the https: form is tried
so the report can say "change the link" or "host it yourself".
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import ssl
from dataclasses import dataclass, replace

import aiohttp
from cryptography.hazmat.primitives.serialization import Encoding

from exporter.checks._html import (
    Document,
    Reference,
    Url,
    css_references,
    parse_document,
    resolve,
    upgrades_insecure_requests,
)
from exporter.checks.http import Response, pinned_get, tls_addresses
from exporter.config import Target
from exporter.context import ProbeContext, Resources
from exporter.models import CheckOutcome, Finding
from exporter.net.http import read_capped

UPGRADABLE_ROLES = {"image", "media"}  # Chromium auto-upgrades these; everything else is blocked
MAX_REDIRECTS = 3
# Shares of the target's timeout for the three sequential phases; together under 1 so the
# check reaches a verdict before the runner's deadline.
PAGE_SHARE, STYLESHEET_SHARE, PROBE_SHARE = 0.4, 0.2, 0.3
PROBE_TIMEOUT = 3.0
MAX_STYLESHEETS = 10
MAX_PROBES = 24
PROBE_CONCURRENCY = 8
SHOWN_IN_DETAIL = 5


@dataclass(frozen=True)
class Resource:
    url: str  # the insecure URL as a browser would request it
    element: str  # what references it, e.g. "img src", "style.css @import"
    kind: str  # blockable, upgradable, form (a form posts there: a warning, not a load)
    found_in: str  # page or stylesheet URL
    https_works: bool | None = None  # None: not tried
    remedy: str = ""


@dataclass(frozen=True)
class PageScan:
    url: str
    address: str
    status: int | None
    upgrade_policy: bool  # CSP upgrade-insecure-requests: http: loads are rewritten, not mixed
    resources: tuple[Resource, ...]  # insecure references (kind says which)
    upgraded: tuple[Resource, ...]  # what the policy upgraded; broken if https_works is False
    note: str | None = None


@dataclass(frozen=True)
class MixedContentResult:
    pages: tuple[PageScan, ...]
    blockable: int  # distinct insecure URLs, for sslfault_mixed_content_resources
    upgradable: int


def classify(url: Url, role: str) -> str | None:
    """blockable / upgradable / form, or None when the load is not mixed content."""
    if not url.insecure:
        return None
    if role == "form":
        return "form"
    if _loopback(url.host):
        # Potentially trustworthy: Chromium loads scripts from it, but still warns on images.
        return "upgradable" if role in UPGRADABLE_ROLES else None
    return "upgradable" if role in UPGRADABLE_ROLES else "blockable"


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def run(target: Target, ctx: ProbeContext) -> CheckOutcome:
    addresses = await tls_addresses(ctx)
    outcomes = await asyncio.gather(*(_scan(ctx, a, p) for a in addresses for p in target.paths),
                                    return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if len(failed) == len(outcomes):
        raise failed[0]  # no page could be read at all: no verdict
    # Pages that could be read are judged; findings then carry their address (see _findings).
    scans = await _with_remedies(ctx, [o for o in outcomes if isinstance(o, PageScan)])
    resources = {(r.url, r.kind): r for s in scans for r in s.resources}
    count = {k: sum(1 for _, kind in resources if kind == k) for k in ("blockable", "upgradable")}
    complete = not failed and len({s.address for s in scans}) == len(addresses)
    findings = [f for kind in ("blockable", "upgradable") for f in _findings(kind, scans, complete)]
    return CheckOutcome(tuple(findings), MixedContentResult(tuple(scans), count["blockable"], count["upgradable"]))


# -- fetching and scanning ---------------------------------------------------------------


async def _fetch_page(ctx: ProbeContext, address: str, path: str) -> tuple[Response, Url]:
    """The page at path, following redirects that stay on the target's own HTTPS origin."""
    target = ctx.target
    origin = Url("https", target.host.lower(), None if target.port == 443 else target.port)
    url = resolve(path, origin) or origin
    for _ in range(MAX_REDIRECTS + 1):
        resp = await pinned_get(ctx, "https", address, target.port, url.path + (f"?{url.query}" if url.query else ""),
                                timeout=target.timeout * PAGE_SHARE, max_bytes=ctx.limits.max_body_bytes)
        location = resp.headers.get("location")
        nxt = resolve(location, url) if 300 <= resp.status < 400 and location else None
        if nxt is None or (nxt.scheme, nxt.host, nxt.port) != (origin.scheme, origin.host, origin.port):
            return resp, url
        url = nxt
    return resp, url


async def _scan(ctx: ProbeContext, address: str, path: str) -> PageScan:
    resp, page_url = await asyncio.wait_for(_fetch_page(ctx, address, path), ctx.target.timeout * PAGE_SHARE)
    shown = str(page_url)
    if not 200 <= resp.status < 300:
        where = f" (redirects to {resp.headers['location']})" if "location" in resp.headers else ""
        return PageScan(shown, address, resp.status, False, (), (),
                        f"HTTPS answers {resp.status}{where}: nothing scanned")
    if "html" not in resp.headers.get("content-type", "text/html").lower():
        return PageScan(shown, address, resp.status, False, (), (), "not an HTML page")
    document = parse_document(resp.body.decode(_charset(resp), "replace"))
    policy = upgrades_insecure_requests([resp.headers.get("content-security-policy", ""), *document.csp_meta])
    base = _base_url(document, page_url)
    refs = [(r, base) for r in document.references]
    refs += await _stylesheet_refs(ctx, address, document, base, page_url)
    found: dict[tuple[str, str], Resource] = {}
    for ref, ref_base in refs:
        url = resolve(ref.raw, ref_base)
        kind = classify(url, ref.role) if url is not None else None
        if url is not None and kind is not None:
            where = ref.css_base or shown
            found.setdefault((str(url), kind), Resource(str(url), ref.element, kind, where))
    insecure = tuple(found.values())
    note = f"body cut at {len(resp.body)} bytes" if resp.truncated else None
    if policy:
        return PageScan(shown, address, resp.status, True, (), insecure, note)
    return PageScan(shown, address, resp.status, False, insecure, (), note)


def _charset(resp: Response) -> str:
    ctype = resp.headers.get("content-type", "")
    charset = ctype.lower().partition("charset=")[2].split(";")[0].strip().strip('"')
    try:
        return codecs.lookup(charset).name if charset else "utf-8"
    except LookupError:
        return "utf-8"


def _base_url(document: Document, page_url: Url) -> Url:
    """The first <base href> resolved against the page; a bad one leaves the page URL."""
    if document.base_href is None:
        return page_url
    return resolve(document.base_href, page_url) or page_url


async def _stylesheet_refs(
    ctx: ProbeContext, address: str, document: Document, base: Url, page_url: Url
) -> list[tuple[Reference, Url]]:
    """url(), @import and @font-face inside the page's own https stylesheets, one level deep."""
    urls = []
    for ref in document.references:
        url = resolve(ref.raw, base) if ref.role == "stylesheet" else None
        if url is not None and (url.scheme, url.host, url.port) == (page_url.scheme, page_url.host, page_url.port):
            urls.append(url)
    sheets = list(dict.fromkeys(urls))[:MAX_STYLESHEETS]
    texts = await asyncio.gather(*(_stylesheet(ctx, address, u) for u in sheets))
    refs = []
    for url, text in zip(sheets, texts, strict=True):
        name = url.path.rsplit("/", 1)[-1] or str(url)
        refs += [(Reference(raw, f"{name} {_css_label(role)}", role, str(url)), url)
                 for raw, role in css_references(text or "")]
    return refs


def _css_label(role: str) -> str:
    return {"stylesheet": "@import", "font": "@font-face src"}.get(role, "url()")


async def _stylesheet(ctx: ProbeContext, address: str, url: Url) -> str | None:
    try:
        resp = await pinned_get(ctx, "https", address, ctx.target.port,
                                url.path + (f"?{url.query}" if url.query else ""),
                                timeout=ctx.target.timeout * STYLESHEET_SHARE, max_bytes=ctx.limits.max_body_bytes)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
        return None  # a stylesheet the browser cannot load either has nothing to load
    return resp.body.decode("utf-8", "replace") if resp.status == 200 else None


# -- remedies: does the https: form answer? ----------------------------------------------------------


def _verified_ssl(resources: Resources) -> ssl.SSLContext:
    """A client context trusting the configured roots, as a browser would check the https: form."""
    ctx = getattr(resources, "_mixed_content_ssl", None)
    if ctx is None:
        ctx = ssl.create_default_context(cadata="".join(
            c.public_bytes(Encoding.PEM).decode() for c in resources.roots) or None)
        resources._mixed_content_ssl = ctx  # type: ignore[attr-defined]  # built once per config
    return ctx


async def _https_form(ctx: ProbeContext, url: str, limit: asyncio.Semaphore) -> tuple[bool, str]:
    """HEAD, then GET, the https: form of an insecure URL (verified against the trusted roots)."""
    secure = str(_parse(url).https())
    timeout = aiohttp.ClientTimeout(total=min(PROBE_TIMEOUT, ctx.target.timeout * PROBE_SHARE))
    error = "no answer"
    async with limit:
        for method in ("HEAD", "GET"):
            try:
                async with ctx.resources.session.request(method, secure, timeout=timeout, allow_redirects=True,
                                                         max_redirects=3, ssl=_verified_ssl(ctx.resources)) as resp:
                    if resp.status < 400:
                        return True, f"change the link to {secure}"
                    error = f"HTTP {resp.status}"
                    if method == "GET":
                        await read_capped(resp, 1024)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
                error = str(exc) or type(exc).__name__
    return False, f"host it yourself and link it with a relative or https:// URL ({secure} fails: {error})"


def _parse(url: str) -> Url:
    parsed = resolve(url, Url("https", "invalid", None))
    assert parsed is not None
    return parsed


async def _with_remedies(ctx: ProbeContext, scans: list[PageScan]) -> list[PageScan]:
    urls = list(dict.fromkeys(r.url for s in scans for r in (*s.resources, *s.upgraded) if r.kind != "form"))
    limit = asyncio.Semaphore(PROBE_CONCURRENCY)
    tasks = {u: asyncio.ensure_future(_https_form(ctx, u, limit)) for u in urls[:MAX_PROBES]}
    if tasks:
        _, late = await asyncio.wait(tasks.values(), timeout=ctx.target.timeout * PROBE_SHARE)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    verdicts = {u: t.result() for u, t in tasks.items() if t.done() and not t.cancelled()}

    def fill(r: Resource) -> Resource:
        works, remedy = verdicts.get(r.url, (None, "https: form not tried (too many insecure URLs or no time left)"))
        if r.kind == "form":
            works, remedy = None, "make the form post to an https:// URL"
        return replace(r, https_works=works, remedy=remedy)

    return [replace(s, resources=tuple(map(fill, s.resources)), upgraded=tuple(map(fill, s.upgraded)))
            for s in scans]


# -- findings --------------------------------------------------------------------------------


def _findings(kind: str, scans: list[PageScan], complete: bool) -> list[Finding]:
    """One finding per kind; per address when the addresses differ or not all could be read."""
    by_address: dict[str, dict[str, Resource]] = {}
    for scan in scans:
        by_address.setdefault(scan.address, {}).update(
            {r.url: r for r in scan.resources if r.kind == kind})
    if complete and len({frozenset(found) for found in by_address.values()}) <= 1:
        merged = next(iter(by_address.values()), {})
        return [_finding(kind, list(merged.values()), None)] if merged else []
    return [_finding(kind, list(found.values()), a) for a, found in by_address.items() if found]


def _finding(kind: str, resources: list[Resource], address: str | None) -> Finding:
    what = "scripts, stylesheets, frames or fonts (blocked by browsers)" if kind == "blockable" else \
        "images or media (upgraded or flagged by browsers)"
    verdict = {True: "change the link", False: "host it yourself", None: "https: form not tried"}
    shown = "; ".join(f"{r.url} ({r.element}): {verdict[r.https_works]}" for r in resources[:SHOWN_IN_DETAIL])
    more = f"; and {len(resources) - SHOWN_IN_DETAIL} more" if len(resources) > SHOWN_IN_DETAIL else ""
    detail = f"{len(resources)} {what} load over http://: {shown}{more}"
    data = {"resources": [{"url": r.url, "element": r.element, "found_in": r.found_in,
                           "https_works": r.https_works, "remedy": r.remedy} for r in resources]}
    return Finding(f"mixed_content_{kind}", detail, address, data)
