"""Mixed content (guide S7): HTTPS pages that load sub-resources over http://.

Each configured path is fetched over HTTPS from every address (capped, time-bounded),
parsed statically, and every sub-resource URL is resolved and classified the way
Chromium does (see ../shared/specs.md). For each insecure URL the https: form is tried
so the report can say "change the link" or "host it yourself".

Parsing is linear and bounded (see _html) and runs in a worker thread. What could not be
read is never taken for "nothing": unreadable pages and stylesheets are listed in the
result and named in the findings, and with no finding at all an unreadable stylesheet
makes the check raise. Findings and results list the first MAX_LISTED URLs per kind; the
metric counts them all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import aiohttp

from exporter.checks._css import MAX_CSS_CHARS, scan_css
from exporter.checks._html import Document, Reference, parse_document, upgrades_insecure_requests
from exporter.checks._mixed_fetch import ICON_BYTES, charset, follow
from exporter.checks._url import Url, resolve
from exporter.checks._web import tls_addresses
from exporter.checks.base import CheckPlugin, MetricSpec, NoSettings, Sample
from exporter.errors import CannotJudge
from exporter.models import CheckOutcome, ErrorKind, FaultId, Finding
from exporter.net.http import read_capped
from exporter.net.pinned import Response
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

UPGRADABLE_ROLES = {"image", "media"}  # Chromium auto-upgrades these; everything else is blocked
# Shares of the target's timeout for the three sequential phases; together under 1 so the
# check reaches a verdict before the runner's deadline.
PAGE_SHARE, STYLESHEET_SHARE, PROBE_SHARE = 0.4, 0.2, 0.3
INLINE_BYTES = 8 * 1024  # a page (and stylesheets) this small is scanned on the loop: a thread hop costs more
PROBE_TIMEOUT = 3.0
MAX_STYLESHEETS = 10
MAX_ICONS = 3  # favicons named by one page whose redirects are followed
MAX_PROBES = 24  # distinct https: forms tried per run, all within the PROBE_SHARE budget
PROBE_CONCURRENCY = 8
SHOWN_IN_DETAIL = 5
MAX_LISTED = 50  # insecure URLs listed per kind in a finding and per page in the result; the metric counts all
MAX_TEXT = 2048  # longest URL (or other page-controlled text) kept in findings and results

@dataclass(frozen=True, slots=True)
class Resource:
    url: str  # the insecure URL as a browser would request it
    element: str  # what references it, e.g. "img src", "style.css @import"
    kind: str  # blockable, upgradable, form (a form posts there: a warning, not a load)
    found_in: str  # page or stylesheet URL (for a redirect: the https: URL that redirects)
    https_works: bool | None = None  # None: not tried
    remedy: str = ""


@dataclass(frozen=True, slots=True)
class NotExamined:
    """A page or stylesheet that could not be read, so whatever it loads is unknown."""

    url: str
    address: str
    reason: str
    what: str = "stylesheet"  # or "favicon", "page"


@dataclass(frozen=True, slots=True)
class PageScan:
    url: str
    address: str
    status: int | None
    upgrade_policy: bool  # CSP upgrade-insecure-requests: http: loads are rewritten, not mixed
    resources: tuple[Resource, ...]  # insecure references (kind says which), the first MAX_LISTED per kind
    upgraded: tuple[Resource, ...]  # what the policy upgraded; broken if https_works is False
    note: str | None = None  # why nothing was scanned (not 200, not HTML)
    unchecked_stylesheets: tuple[NotExamined, ...] = ()  # stylesheets and favicons that could not be read
    omitted: int = 0  # insecure references beyond the first MAX_LISTED per kind, counted but not listed
    # What a cap kept from being read (a cut body, deep nesting, a long stylesheet, too many stylesheets).
    incomplete: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MixedContentResult:
    pages: tuple[PageScan, ...]
    blockable: int  # distinct insecure URLs, for sslfault_mixed_content_resources
    upgradable: int
    failed: tuple[NotExamined, ...] = ()  # pages (address and path) that could not be scanned at all


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


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    addresses = await tls_addresses(ctx)
    jobs = [(a, p) for a in addresses for p in target.paths]
    outcomes = await asyncio.gather(*(_scan(ctx, a, p) for a, p in jobs), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if len(errors) == len(outcomes):
        raise errors[0]  # no page could be read at all: no verdict
    origin = Url("https", target.host.lower(), None if target.port == 443 else target.port)
    failed = tuple(NotExamined(str(resolve(path, origin) or origin), address, _reason(o), "page")
                   for (address, path), o in zip(jobs, outcomes, strict=True) if isinstance(o, BaseException))
    # Pages that could be read are judged; findings then carry their address (see _findings).
    scans = [o for o in outcomes if isinstance(o, PageScan)]
    verdicts = await _remedies(ctx, scans)
    resources = {(r.url, r.kind): r for s in scans for r in s.resources}
    count = {k: sum(1 for _, kind in resources if kind == k) for k in ("blockable", "upgradable")}
    complete = not failed and len({s.address for s in scans}) == len(addresses)
    unchecked = [u for s in scans for u in s.unchecked_stylesheets]
    partial = [s for s in scans if s.incomplete]
    gaps = _gaps(unchecked, failed, partial)
    findings = [f for kind in ("blockable", "upgradable", "form")
                for f in _findings(kind, scans, complete, gaps, verdicts)]
    if not findings and (unchecked or failed or partial):
        # What was not read may load anything: "no mixed content" would be a guess.
        raise _no_verdict(unchecked, failed, partial, [o for o in errors])
    listed = tuple(_listed(s, verdicts) for s in scans)
    return CheckOutcome(tuple(findings), MixedContentResult(listed, count["blockable"], count["upgradable"], failed))


def _no_verdict(unchecked: list[NotExamined], failed: tuple[NotExamined, ...], partial: list[PageScan],
                errors: list[BaseException]) -> CannotJudge:
    if partial:
        first = partial[0]
        return CannotJudge(ErrorKind.INCOMPLETE, f"{len(partial)} page(s) examined only in part, so no verdict "
                           f"(first: {_clip(first.url)} on {first.address}: {'; '.join(first.incomplete)})")
    if unchecked:
        first_sheet = unchecked[0]
        kind = ErrorKind.INCOMPLETE if first_sheet.reason.startswith("CannotJudge") else ErrorKind.NETWORK
        return CannotJudge(kind, f"{_count(unchecked)} could not be examined, so no "
                           f"verdict (first: {_clip(first_sheet.url)} on {first_sheet.address}: {first_sheet.reason})")
    error = errors[0]
    kind = error.kind if isinstance(error, CannotJudge) else \
        ErrorKind.TIMEOUT if isinstance(error, (TimeoutError, asyncio.TimeoutError)) else ErrorKind.NETWORK
    return CannotJudge(kind, f"{len(failed)} page(s) could not be read, so no verdict "
                       f"(first: {_clip(failed[0].url)} on {failed[0].address}: {failed[0].reason})")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timed out"
    return _clip(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _count(unread: list[NotExamined]) -> str:
    sheets = sum(1 for u in unread if u.what == "stylesheet")
    parts = [f"{sheets} stylesheet(s)"] * bool(sheets) + [f"{len(unread) - sheets} favicon(s)"] * (len(unread) > sheets)
    return " and ".join(parts)


def _gaps(unchecked: list[NotExamined], failed: tuple[NotExamined, ...], partial: list[PageScan]) -> str:
    """What findings must say was not examined, or ""."""
    parts = [_count(unchecked)] * bool(unchecked) + [f"{len(failed)} page(s)"] * bool(failed)
    if partial:
        parts.append(f"part of {len(partial)} page(s) ({'; '.join(partial[0].incomplete)})")
    return f" (not examined: {' and '.join(parts)}; see the check result)" if parts else ""


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _listed(scan: PageScan, verdicts: Verdicts) -> PageScan:
    """The scan as kept in the result: the first MAX_LISTED resources per kind, with remedies, texts clipped."""
    shown: dict[str, int] = {}

    def first(resources: tuple[Resource, ...]) -> tuple[Resource, ...]:
        kept = []
        for r in resources:
            shown[r.kind] = shown.get(r.kind, 0) + 1
            if shown[r.kind] <= MAX_LISTED:
                kept.append(_clipped(_fill(verdicts, r)))
        return tuple(kept)

    resources, upgraded = first(scan.resources), first(scan.upgraded)
    omitted = len(scan.resources) + len(scan.upgraded) - len(resources) - len(upgraded)
    return replace(scan, resources=resources, upgraded=upgraded, omitted=omitted)


def _clipped(r: Resource) -> Resource:
    return replace(r, url=_clip(r.url), element=_clip(r.element, 200), found_in=_clip(r.found_in),
                   remedy=_clip(r.remedy, 2 * MAX_TEXT))


# -- fetching and scanning ---------------------------------------------------------------


async def _scan(ctx: ProbeContext, address: str, path: str) -> PageScan:
    target = ctx.target
    origin = Url("https", target.host.lower(), None if target.port == 443 else target.port)
    timeout = target.timeout * PAGE_SHARE
    # The first request is the page the http check reads too: made once per run for both (_web.page).
    page = await asyncio.wait_for(follow(ctx, address, resolve(path, origin) or origin, timeout,
                                         max_bytes=ctx.limits.max_body_bytes, shared=True), timeout)
    resp, page_url, shown = page.resp, page.url, str(page.url)
    if not 200 <= resp.status < 300:
        where = f" (redirects to {_clip(resp.headers['location'])})" if "location" in resp.headers else ""
        return PageScan(shown, address, resp.status, False, (), (), f"HTTPS answers {resp.status}{where}: nothing scanned")
    if "html" not in resp.headers.get("content-type", "text/html").lower():
        return PageScan(shown, address, resp.status, False, (), (), "not an HTML page")
    # Parsing is linear and bounded (see _html); a worker thread keeps a large page off the event loop,
    # while a small one is parsed here: the hop to a thread costs more than the parse.
    small = len(resp.body) <= INLINE_BYTES
    document = _parse_page(resp) if small else await asyncio.to_thread(_parse_page, resp)
    policy = upgrades_insecure_requests([resp.headers.get("content-security-policy", ""), *document.csp_meta])
    base = _base_url(document, page_url)
    (sheets, redirected, unchecked, skipped), (icons, unread_icons) = await asyncio.gather(
        _stylesheets(ctx, address, document, base, page_url), _favicons(ctx, address, document, base, page_url))
    if small and sum(len(sheet.text) for sheet in sheets) <= INLINE_BYTES:
        insecure, cut = _insecure(document, base, sheets, shown)
    else:
        insecure, cut = await asyncio.to_thread(_insecure, document, base, sheets, shown)
    insecure += redirected + icons
    incomplete = tuple([f"body cut at {len(resp.body)} bytes"] * resp.truncated + list(document.notes) + cut
                       + [f"{skipped} stylesheet(s) beyond the first {MAX_STYLESHEETS}"] * bool(skipped))
    unread = unchecked + unread_icons
    if policy:
        return PageScan(shown, address, resp.status, True, (), insecure, None, unread, incomplete=incomplete)
    return PageScan(shown, address, resp.status, False, insecure, (), None, unread, incomplete=incomplete)


def _parse_page(resp: Response) -> Document:
    return parse_document(resp.body.decode(charset(resp), "replace"))


def _base_url(document: Document, page_url: Url) -> Url:
    """The first <base href> resolved against the page; a bad one leaves the page URL."""
    if document.base_href is None:
        return page_url
    return resolve(document.base_href, page_url) or page_url


@dataclass(frozen=True, slots=True)
class _Sheet:
    url: Url
    text: str  # "" when the browser gets nothing from it either (404, a redirect elsewhere)
    cut: int | None  # where the body was cut (max_body_bytes), if it was


def _same_origin(url: Url, page_url: Url) -> bool:
    return (url.scheme, url.host, url.port) == (page_url.scheme, page_url.host, page_url.port)


async def _stylesheets(
    ctx: ProbeContext, address: str, document: Document, base: Url, page_url: Url
) -> tuple[list[_Sheet], tuple[Resource, ...], tuple[NotExamined, ...], int]:
    """The page's own https stylesheets (one level deep): those read, the http: URLs some redirect to,
    those that could not be read, and how many were left out (beyond MAX_STYLESHEETS)."""
    urls = []
    for ref in document.references:
        url = resolve(ref.raw, base) if ref.role == "stylesheet" else None
        if url is not None and _same_origin(url, page_url):
            urls.append(url)
    distinct = list(dict.fromkeys(urls))
    fetched = await asyncio.gather(*(_stylesheet(ctx, address, u, str(page_url)) for u in distinct[:MAX_STYLESHEETS]))
    return ([f for f in fetched if isinstance(f, _Sheet)], tuple(f for f in fetched if isinstance(f, Resource)),
            tuple(f for f in fetched if isinstance(f, NotExamined)), max(0, len(distinct) - MAX_STYLESHEETS))


async def _stylesheet(ctx: ProbeContext, address: str, url: Url, page: str) -> _Sheet | Resource | NotExamined:
    timeout = ctx.target.timeout * STYLESHEET_SHARE
    try:
        got = await asyncio.wait_for(follow(ctx, address, url, timeout, max_bytes=ctx.limits.max_body_bytes), timeout)
    except (TimeoutError, aiohttp.ClientError, OSError, CannotJudge) as exc:
        # Whatever the browser would load through it is unknown: recorded, never read as "nothing".
        return NotExamined(_clip(str(url)), address, _reason(exc) + (f" after {timeout:g}s" if isinstance(
            exc, (TimeoutError, asyncio.TimeoutError)) else ""))
    if got.insecure is not None:
        return Resource(str(got.insecure), f"link rel=stylesheet ({_clip(str(url), 200)} redirects to http:)",
                        "blockable", page)
    if got.resp.status != 200:
        return _Sheet(url, "", None)  # a stylesheet the browser cannot load either has nothing to load
    resp = got.resp
    return _Sheet(url, resp.body.decode(charset(resp), "replace"), len(resp.body) if resp.truncated else None)


async def _favicons(ctx: ProbeContext, address: str, document: Document, base: Url,
                    page_url: Url) -> tuple[tuple[Resource, ...], tuple[NotExamined, ...]]:
    """The page's https: favicons (named, else the implicit /favicon.ico) that redirect to http: URLs."""
    named = [resolve(r.raw, base) for r in document.references if r.role == "icon"]
    if named:
        icons = [(u, "link rel=icon") for u in dict.fromkeys(u for u in named if u is not None and not u.insecure)]
    else:
        icons = [(Url(page_url.scheme, page_url.host, page_url.port, "/favicon.ico"), "implicit /favicon.ico")]
    timeout = ctx.target.timeout * STYLESHEET_SHARE
    found: list[Resource] = []
    unread: list[NotExamined] = []
    for url, element in icons[:MAX_ICONS]:
        try:
            got = await asyncio.wait_for(follow(ctx, address, url, timeout, max_bytes=ICON_BYTES, anywhere=True),
                                         timeout)
        except (TimeoutError, aiohttp.ClientError, OSError, CannotJudge) as exc:
            unread.append(NotExamined(_clip(str(url)), address, _reason(exc), "favicon"))
            continue
        if got.insecure is not None:
            found.append(Resource(str(got.insecure), f"{element} ({_clip(str(url), 200)} redirects to http:)",
                                  "blockable", str(page_url)))
    return tuple(found), tuple(unread)


def _insecure(document: Document, base: Url, sheets: list[_Sheet], shown: str) -> tuple[tuple[Resource, ...], list[str]]:
    """Every insecure reference of the page and its stylesheets, and what caps cut from the stylesheets
    (CPU work: run in a worker thread)."""
    refs = [(r, base) for r in document.references]
    notes = []
    for sheet in sheets:
        name = _clip(sheet.url.path.rsplit("/", 1)[-1] or str(sheet.url), 200)
        scan = scan_css(sheet.text)
        refs += [(Reference(raw, f"{name} {_css_label(role)}", role, str(sheet.url)), sheet.url)
                 for raw, role in scan.references]
        if sheet.cut is not None:
            notes.append(f"{name}: body cut at {sheet.cut} bytes")
        if scan.truncated:
            notes.append(f"{name}: only the first {MAX_CSS_CHARS} characters were examined")
    found: dict[tuple[str, str], Resource] = {}
    for ref, ref_base in refs:
        url = resolve(ref.raw, ref_base)
        kind = classify(url, ref.role) if url is not None else None
        if url is not None and kind is not None:
            where = ref.css_base or shown
            found.setdefault((str(url), kind), Resource(str(url), ref.element, kind, where))
    return tuple(found.values()), notes


def _css_label(role: str) -> str:
    return {"stylesheet": "@import", "font": "@font-face src"}.get(role, "url()")


# -- remedies: does the https: form answer? ----------------------------------------------------------


async def _https_form(ctx: ProbeContext, url: str, limit: asyncio.Semaphore) -> tuple[bool, str]:
    """HEAD, then GET, the https: form of an insecure URL (verified against the trusted roots)."""
    secure = str(_parse(url).https())
    timeout = aiohttp.ClientTimeout(total=min(PROBE_TIMEOUT, ctx.target.timeout * PROBE_SHARE))
    error = "no answer"
    async with limit:
        for method in ("HEAD", "GET"):
            try:
                async with ctx.resources.session.request(method, secure, timeout=timeout, allow_redirects=True,
                                                         max_redirects=3, ssl=ctx.resources.verified_context()) as resp:
                    if resp.status < 400:
                        return True, f"change the link to {secure}"
                    error = f"HTTP {resp.status}"
                    if method == "GET":
                        await read_capped(resp, 1024)
            except (TimeoutError, aiohttp.ClientError, OSError, ssl.SSLError, ValueError) as exc:
                error = _clip(str(exc) or type(exc).__name__, 300)  # ValueError: a URL aiohttp refuses
    return False, f"host it yourself and link it with a relative or https:// URL ({secure} fails: {error})"


def _parse(url: str) -> Url:
    parsed = resolve(url, Url("https", "invalid", None))
    assert parsed is not None
    return parsed


Verdicts = dict[str, tuple[bool, str]]  # insecure URL -> (its https: form works, remedy)


async def _remedies(ctx: ProbeContext, scans: list[PageScan]) -> Verdicts:
    """Try the https: form of the first MAX_PROBES distinct insecure URLs, within the PROBE_SHARE budget."""
    urls = list(dict.fromkeys(r.url for s in scans for r in (*s.resources, *s.upgraded) if r.kind != "form"))
    limit = asyncio.Semaphore(PROBE_CONCURRENCY)
    tasks = {u: asyncio.ensure_future(_https_form(ctx, u, limit)) for u in urls[:MAX_PROBES]}
    if tasks:
        _, late = await asyncio.wait(tasks.values(), timeout=ctx.target.timeout * PROBE_SHARE)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    return {u: t.result() for u, t in tasks.items() if t.done() and not t.cancelled() and t.exception() is None}


def _fill(verdicts: Verdicts, r: Resource) -> Resource:
    """The resource with its remedy (applied only to what is listed: a page can hold thousands)."""
    works, remedy = verdicts.get(r.url, (None, "https: form not tried (too many insecure URLs or no time left)"))
    if r.kind == "form":
        works, remedy = None, "make the form post to an https:// URL"
    return replace(r, https_works=works, remedy=remedy)


# -- findings --------------------------------------------------------------------------------


def _findings(kind: str, scans: list[PageScan], complete: bool, gaps: str = "",
              verdicts: Verdicts | None = None) -> list[Finding]:
    """One finding per kind; per address when the addresses differ or not all could be read."""
    by_address: dict[str, dict[str, Resource]] = {}
    for scan in scans:
        by_address.setdefault(scan.address, {}).update(
            {r.url: r for r in scan.resources if r.kind == kind})
    if complete and len({frozenset(found) for found in by_address.values()}) <= 1:
        merged = next(iter(by_address.values()), {})
        return [_finding(kind, list(merged.values()), None, gaps, verdicts or {})] if merged else []
    return [_finding(kind, list(found.values()), a, gaps, verdicts or {}) for a, found in by_address.items() if found]


def _finding(kind: str, resources: list[Resource], address: str | None, gaps: str, verdicts: Verdicts) -> Finding:
    what = {"blockable": "scripts, stylesheets, frames, fonts or icons (blocked by browsers)",
            "upgradable": "images or media (upgraded or flagged by browsers)",
            "form": "forms (browsers warn before submitting them)"}[kind]
    verdict = {True: "change the link", False: "host it yourself",
               None: "make it post to https://" if kind == "form" else "https: form not tried"}
    listed = [_clipped(_fill(verdicts, r)) for r in resources[:MAX_LISTED]]
    shown = "; ".join(f"{_clip(r.url, 300)} ({_clip(r.element, 100)}): {verdict[r.https_works]}"
                      for r in listed[:SHOWN_IN_DETAIL])
    more = f"; and {len(resources) - SHOWN_IN_DETAIL} more" if len(resources) > SHOWN_IN_DETAIL else ""
    how = "post to" if kind == "form" else "load over"
    detail = f"{len(resources)} {what} {how} http://: {shown}{more}{gaps}"
    data = {"resources": [{"url": r.url, "element": r.element, "found_in": r.found_in,
                           "https_works": r.https_works, "remedy": r.remedy} for r in listed],
            "total": len(resources)}
    return Finding(FaultId(f"mixed_content_{kind}"), detail, address, data)


MIXED_RESOURCES = MetricSpec("sslfault_mixed_content_resources",
                             "Distinct http:// sub-resources on the target's HTTPS pages, by kind "
                             "(latest scheduled run).", ("kind",))


def _samples(target: Target, result: MixedContentResult) -> list[Sample]:
    # Zero insecure resources tells nothing a healthy target needs a series for.
    return [Sample(MIXED_RESOURCES.name, (kind,), count)
            for kind, count in (("blockable", result.blockable), ("upgradable", result.upgradable)) if count]


PLUGIN = CheckPlugin[NoSettings, MixedContentResult](
    name="mixed_content",
    summary="HTTPS pages that load sub-resources over http:// (blocked or upgraded, as Chromium does)",
    run=run,
    result_type=MixedContentResult,
    faults=frozenset({FaultId.MIXED_CONTENT_BLOCKABLE, FaultId.MIXED_CONTENT_UPGRADABLE, FaultId.MIXED_CONTENT_FORM}),
    metrics=(MIXED_RESOURCES,),
    samples=_samples,
)
