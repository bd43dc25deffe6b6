"""Static sub-resource discovery for the mixed-content check: URLs, srcset, CSS, HTML.

URL resolution follows the WHATWG URL standard for the cases pages really contain
(whitespace, backslashes, `http:img.png`, scheme-relative, dot segments), because
`urllib.parse.urljoin` gets those wrong. Only http(s) URLs matter here; anything else
(data:, blob:, javascript:...) resolves to None and is never mixed content.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from urllib.parse import unquote

from selectolax.lexbor import LexborHTMLParser, LexborNode

WEB_SCHEMES = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_C0_SPACE = "".join(chr(c) for c in range(0x21))
_PATH_UNSAFE = set(' "<>`{}') | {chr(c) for c in range(0x20)} | {"\x7f"}
_QUERY_UNSAFE = set(" \"<>'") | {chr(c) for c in range(0x20)} | {"\x7f"}


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int | None  # None: the scheme's default
    path: str = "/"
    query: str | None = None

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        query = f"?{self.query}" if self.query is not None else ""
        return f"{self.scheme}://{self.host}{port}{self.path}{query}"

    @property
    def insecure(self) -> bool:
        return self.scheme == "http"

    def https(self) -> Url:
        """The https: form a browser's auto-upgrade would try (port 80 becomes 443)."""
        return replace(self, scheme="https", port=None if self.port in (None, 443) else self.port)


def _encode(text: str, unsafe: set[str]) -> str:
    return "".join("".join(f"%{b:02X}" for b in ch.encode()) if ch in unsafe or ord(ch) > 0x7E else ch
                   for ch in text)


def _normalize_path(path: str) -> str:
    """Remove dot segments (also %2e forms); a trailing `.` or `..` leaves a trailing slash."""
    segments = path.split("/")[1:]
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        dots = segment.lower().replace("%2e", ".")
        if dots == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif dots == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _split_rest(rest: str) -> tuple[str, str | None]:
    """path?query#fragment -> (encoded path, encoded query); the fragment is not fetched."""
    rest = rest.split("#", 1)[0]
    path, sep, query = rest.partition("?")
    path = path.replace("\\", "/")
    return _encode(path, _PATH_UNSAFE), (_encode(query, _QUERY_UNSAFE) if sep else None)


def _host(text: str) -> str | None:
    if text.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(text[1:-1]).compressed}]" if text.endswith("]") else None
        except ValueError:
            return None
    host = unquote(text).lower().rstrip(".") if text.strip(".") else ""
    if not host or any(c in host for c in " <>^|%/\\?#@[]"):
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host


def _authority(scheme: str, text: str) -> Url | None:
    """`host[:port]/path?query` after the slashes (userinfo is dropped)."""
    end = min((i for i in (text.find(c) for c in "/\\?#") if i >= 0), default=len(text))
    authority, rest = text[:end], text[end:]
    hostport = authority.rpartition("@")[2]
    port_text = ""
    if hostport.startswith("["):
        host_text, bracket, after = hostport.partition("]")
        host_text += bracket
        port_text = after[1:] if after.startswith(":") else ""
    else:
        host_text, _, port_text = hostport.partition(":")
    host = _host(host_text)
    if host is None or (port_text and not port_text.isdigit()):
        return None
    port = int(port_text) if port_text else None
    if port is not None and port > 65535:
        return None
    if port == WEB_SCHEMES[scheme]:
        port = None
    path, query = _split_rest(rest)
    return Url(scheme, host, port, _normalize_path(path or "/"), query)


def resolve(ref: str, base: Url) -> Url | None:
    """WHATWG-style parse of `ref` against `base`; None when not an http(s) URL."""
    text = ref.strip(_C0_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME.match(text)
    if match:
        scheme, rest = match.group(1).lower(), text[match.end():]
        if scheme not in WEB_SCHEMES:
            return None
        if scheme != base.scheme:
            return _authority(scheme, rest.lstrip("/\\"))  # `http:img.png` is the host img.png
        if rest.startswith("//"):
            return _authority(scheme, rest.lstrip("/\\"))
        text = rest  # same scheme as the base: the rest is relative
    if text[:2] in ("//", "\\\\", "/\\", "\\/"):
        return _authority(base.scheme, text.lstrip("/\\"))
    if text[:1] in ("/", "\\"):
        path, query = _split_rest(text)
        return replace(base, path=_normalize_path(path), query=query)
    if text[:1] == "?":
        return replace(base, query=_split_rest(text)[1])
    if text[:1] == "#" or not text:
        return base
    path, query = _split_rest(text)
    directory = base.path[: base.path.rfind("/") + 1]
    return replace(base, path=_normalize_path(directory + path), query=query)


def parse_url(text: str) -> Url | None:
    """An absolute http(s) URL."""
    return resolve(text, Url("https", "invalid", None)) if _SCHEME.match(text.strip()) else None


# -- srcset and CSS ------------------------------------------------------------------------

_WS = " \t\n\r\f"


def srcset_urls(value: str) -> list[str]:
    """The candidate URLs of a srcset attribute (WHATWG parsing, descriptors skipped)."""
    urls: list[str] = []
    pos, n = 0, len(value)
    while True:
        while pos < n and (value[pos] in _WS or value[pos] == ","):
            pos += 1
        if pos >= n:
            return urls
        start = pos
        while pos < n and value[pos] not in _WS:
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0
            while pos < n:
                char = value[pos]
                pos += 1
                if char == "(":
                    depth += 1
                elif char == ")" and depth:
                    depth -= 1
                elif char == "," and not depth:
                    break
        if url:
            urls.append(url)


_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
_URL = re.compile(r"""url\(\s*(?:(["'])(.*?)\1|((?:\\[0-9a-fA-F]{1,6}\s?|\\.|[^)"'\s\\])*))\s*\)""", re.I | re.S)
_IMPORT = re.compile(r"""@import\s+(?:url\(\s*(["']?)(.*?)\1\s*\)|(["'])(.*?)\3)[^;]*;?""", re.I | re.S)
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}", re.I)
_LEADING_STATEMENT = re.compile(r"@(?:import|charset|layer)\b[^;{]*;", re.I)
_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6}\s?|.)", re.S)


def _unescape_css(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code.strip() and all(c in "0123456789abcdefABCDEF" for c in code.strip()):
            return chr(min(int(code.strip(), 16), 0x10FFFF) or 0xFFFD)
        return code if code != "\n" else ""

    return _ESCAPE.sub(one, text)


def css_references(css: str) -> list[tuple[str, str]]:
    """(url text, role) for @import ("stylesheet"), @font-face src ("font") and other url() ("image")."""
    text = _COMMENT.sub(" ", css)
    found: list[tuple[str, str]] = []
    for match in _IMPORT.finditer(text):
        # Browsers ignore an @import that follows any other rule.
        if not _LEADING_STATEMENT.sub("", text[: match.start()]).strip():
            found.append((_unescape_css(match.group(2) if match.group(2) is not None else match.group(4)),
                          "stylesheet"))
    text = _IMPORT.sub(" ", text)
    for block in _FONT_FACE.finditer(text):
        found += [(_unescape_css(m.group(2) if m.group(2) is not None else m.group(3)), "font")
                  for m in _URL.finditer(block.group(0))]
    text = _FONT_FACE.sub(" ", text)
    found += [(_unescape_css(m.group(2) if m.group(2) is not None else m.group(3)), "image")
              for m in _URL.finditer(text)]
    return [(url, role) for url, role in found if url.strip()]


# -- HTML ----------------------------------------------------------------------------------

JS_TYPES = {"", "module", "text/javascript", "application/javascript", "application/ecmascript",
            "text/ecmascript", "text/jscript", "application/x-javascript"}
PRELOAD_UPGRADABLE = {"image"}


@dataclass(frozen=True)
class Reference:
    """One sub-resource reference as written; `role` names what the browser fetches it as."""

    raw: str
    element: str  # e.g. "img src", "link rel=stylesheet", "style url()"
    role: str  # image, media, imageset, script, stylesheet, font, frame, object, track, form, ...
    css_base: str | None = None  # set for url() found in an external stylesheet


@dataclass(frozen=True)
class Document:
    base_href: str | None
    references: tuple[Reference, ...]
    stylesheets: tuple[str, ...]  # raw hrefs of <link rel=stylesheet>, to scan one level deep
    csp_meta: tuple[str, ...]  # content of <meta http-equiv=content-security-policy> in <head>


def _elements(node: LexborNode) -> Iterator[LexborNode]:
    """Elements in tree order, skipping <noscript> (scripting browsers never load its content)."""
    for child in node.iter(include_text=False):
        yield child
        if child.tag != "noscript":
            yield from _elements(child)


def _attr(node: LexborNode, name: str) -> str | None:
    value = node.attributes.get(name)
    return value if isinstance(value, str) else None


def _element_refs(node: LexborNode) -> list[Reference]:
    tag, parent = node.tag, (node.parent.tag if node.parent is not None else "")
    get = lambda name: _attr(node, name)  # noqa: E731 - short local alias
    refs: list[Reference] = []

    def add(raw: str | None, element: str, role: str) -> None:
        if raw is not None and raw.strip():
            refs.append(Reference(raw, element, role))

    if tag == "img":
        srcset, in_picture = get("srcset"), parent == "picture"
        for url in srcset_urls(srcset or ""):
            add(url, "img srcset", "imageset")
        add(get("src"), "img src" + (" in picture" if in_picture else ""),
            "imageset" if (srcset or in_picture) else "image")
    elif tag == "source" and parent == "picture":
        for url in srcset_urls(get("srcset") or ""):
            add(url, "picture source srcset", "imageset")
    elif tag == "source" and parent in ("audio", "video"):
        add(get("src"), f"{parent} source src", "media")
    elif tag in ("audio", "video"):
        add(get("src"), f"{tag} src", "media")
        if tag == "video":
            add(get("poster"), "video poster", "image")
    elif tag == "input" and (get("type") or "").lower() == "image":
        add(get("src"), "input type=image src", "image")
    elif tag == "script" and (get("type") or "").strip().lower() in JS_TYPES:
        add(get("src"), "script src", "script")
    elif tag in ("iframe", "frame"):
        add(get("src"), f"{tag} src", "frame")
    elif tag == "object":
        add(get("data"), "object data", "object")
    elif tag == "embed":
        add(get("src"), "embed src", "object")
    elif tag == "track":
        add(get("src"), "track src", "track")
    elif tag == "form":
        add(get("action"), "form action", "form")
    elif tag == "link":
        refs += _link_refs(node)
    elif tag == "style":
        refs += [Reference(url, f"<style> {_css_element(role)}", role) for url, role in css_references(node.text())]
    style = get("style")
    if style:
        refs += [Reference(url, f"style attribute {_css_element(role)}", role) for url, role in css_references(style)]
    return refs


def _css_element(role: str) -> str:
    return {"stylesheet": "@import", "font": "@font-face src"}.get(role, "url()")


def _link_refs(node: LexborNode) -> list[Reference]:
    rel = set((_attr(node, "rel") or "").lower().split())
    href = _attr(node, "href")
    if not href or not href.strip():
        return []
    if "stylesheet" in rel:
        return [Reference(href, "link rel=stylesheet", "stylesheet")]
    if "modulepreload" in rel:
        return [Reference(href, "link rel=modulepreload", "script")]
    if "preload" in rel:
        kind = (_attr(node, "as") or "").strip().lower()
        return [Reference(href, f"link rel=preload as={kind or '(none)'}",
                          "image" if kind in PRELOAD_UPGRADABLE else "preload")] if kind else []
    if "manifest" in rel:
        return [Reference(href, "link rel=manifest", "manifest")]
    if rel & {"icon", "apple-touch-icon"}:
        # specs.md classes icons with images (upgradable); Chromium 156 blocks them instead. The spec wins:
        # a favicon never breaks the page, and the Chromium test names this as a known difference.
        return [Reference(href, "link rel=icon", "image")]
    return []


def parse_document(html: str) -> Document:
    tree = LexborHTMLParser(html)
    base_href, refs, sheets, csp = None, [], [], []
    root = tree.root
    for node in _elements(root) if root is not None else ():
        if node.tag == "base" and base_href is None and _attr(node, "href") is not None:
            base_href = _attr(node, "href")
        elif (node.tag == "meta" and node.parent is not None and node.parent.tag == "head"
              and (_attr(node, "http-equiv") or "").strip().lower() == "content-security-policy"):
            csp.append(_attr(node, "content") or "")
        found = _element_refs(node)
        refs += found
        sheets += [r.raw for r in found if r.element == "link rel=stylesheet"]
    return Document(base_href, tuple(refs), tuple(sheets), tuple(csp))


def upgrades_insecure_requests(policies: list[str]) -> bool:
    """Whether any CSP policy (header values or meta contents) has upgrade-insecure-requests."""
    for value in policies:
        for policy in value.split(","):
            for directive in policy.split(";"):
                if directive.strip().lower().split(" ", 1)[0] == "upgrade-insecure-requests":
                    return True
    return False
