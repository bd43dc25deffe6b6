"""Fetching for the mixed-content check: pages and stylesheets on the target's own HTTPS origin
(pinned to the address being scanned), favicons anywhere, following redirects as a browser does.

A redirect from an https: URL to an http: one is what the browser then loads: it is returned as
the insecure URL. A redirect loop, or more hops than MAX_REDIRECTS, is "could not judge" (the
browser gives up too, but what the page would have loaded is unknown).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from exporter.checks._url import Url, resolve
from exporter.checks._web import get, page
from exporter.errors import CannotJudge
from exporter.models import ErrorKind
from exporter.net.http import read_capped
from exporter.net.pinned import Response, merged_headers
from exporter.net.tls import capture_context

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

MAX_REDIRECTS = 3
ICON_BYTES = 1024  # a favicon's body is not examined: only where it redirects

# Server-given charset labels read as what browsers read them as (WHATWG Encoding); any other label - and
# codecs that are no charset at all (rot13, zlib, punycode, idna: slow, failing or not text) - reads as UTF-8.
_LABELS = {"windows-874": "cp874", "x-mac-cyrillic": "mac-cyrillic", "windows-31j": "cp932", "x-sjis": "cp932",
           "iso-8859-8-i": "iso8859-8", "unicode-1-1-utf-8": "utf-8"}  # WHATWG labels Python does not know
_WHATWG = {"iso8859-1": "cp1252", "ascii": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874", "gb2312": "gbk",
           "euc_kr": "cp949", "big5": "big5hkscs", "utf-16": "utf-16-le", "shift_jis": "cp932", "tis-620": "cp874"}
_CHARSETS = frozenset(codecs.lookup(name).name for name in (
    "utf-8", "cp866", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8",
    "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "koi8-r", "koi8-u", "mac-roman",
    "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
    "cp1258", "gbk", "gb18030", "big5hkscs", "euc_jp", "iso2022_jp", "cp932", "cp949", "utf-16-le", "utf-16-be"))
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))


def charset(resp: Response) -> str:
    """The body's encoding: its BOM, else the Content-Type charset if it names a real one, else UTF-8."""
    for bom, name in _BOMS:
        if resp.body.startswith(bom):
            return name
    ctype = resp.headers.get("content-type", "")
    label = ctype.lower().partition("charset=")[2].split(";")[0].strip().strip('"').strip()
    try:
        name = codecs.lookup(_LABELS.get(label, label)).name if label else "utf-8"
    except LookupError:
        return "utf-8"
    name = _WHATWG.get(name, name)
    return name if name in _CHARSETS else "utf-8"


@dataclass(frozen=True, slots=True)
class Followed:
    resp: Response  # the last answer read
    url: Url  # the URL that gave it
    insecure: Url | None = None  # an http: URL a redirect sends the browser to (not fetched)


def _origin(url: Url) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


async def follow(ctx: ProbeContext, address: str, url: Url, timeout: float, *, max_bytes: int,
                 anywhere: bool = False, shared: bool = False) -> Followed:
    """GET url and the redirects after it: on the target's own HTTPS origin (pinned to `address`), and
    with `anywhere` on other https: origins too (resolved by name); otherwise it stops at a redirect to
    another origin. Stops at an http: target (returned as `insecure`, not fetched).

    With `shared`, url is a page other checks read too: its first request is made once per run for all
    of them (_web.page, which may take longer than `timeout`: the caller bounds its wait)."""
    target = ctx.target
    own = ("https", target.host.lower(), None if target.port == 443 else target.port)
    seen = {str(url)}
    for _ in range(MAX_REDIRECTS + 1):
        if _origin(url) == own:
            path = url.path + (f"?{url.query}" if url.query is not None else "")
            if shared and len(seen) == 1:
                resp = await page(ctx, "https", address, target.port, path, max_bytes=max_bytes)
            else:
                resp = await get(ctx, "https", address, target.port, path, timeout=timeout, max_bytes=max_bytes)
        else:
            resp = await _get_by_name(ctx, url, timeout, max_bytes)
        location = resp.headers.get("location")
        nxt = resolve(location, url) if 300 <= resp.status < 400 and location else None
        if nxt is None:
            return Followed(resp, url)
        if nxt.insecure:
            return Followed(resp, url, nxt)
        if _origin(nxt) != own and not anywhere:
            return Followed(resp, url)
        if str(nxt) in seen:
            raise CannotJudge(ErrorKind.INCOMPLETE, f"{_short(str(url))} redirects in a loop (back to {_short(str(nxt))})")
        seen.add(str(nxt))
        url = nxt
    raise CannotJudge(ErrorKind.INCOMPLETE,
                      f"{_short(str(url))}: more than {MAX_REDIRECTS} redirects; what it leads to was not read")


async def _get_by_name(ctx: ProbeContext, url: Url, timeout: float, max_bytes: int) -> Response:
    """Another site's resource, by name (the shared session's resolver), without the target's client
    certificate: that is for the target alone."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with ctx.resources.session.get(str(url), allow_redirects=False, timeout=client_timeout,
                                         ssl=capture_context()) as resp:
        body, truncated = await read_capped(resp, max_bytes)
        return Response(str(url), resp.status, merged_headers(resp), body, truncated)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."
