"""Static sub-resource discovery for the mixed-content check: the references an HTML page makes.

URLs are resolved in `_url` (WHATWG-style), CSS and srcset scanned in `_css`, and the page
kept parseable in linear time by `_html_bounds`. Pages are hostile input: every scan is
linear in its input and bounded (CSS by MAX_CSS_CHARS, HTML by bounded_html, the tree walk
by MAX_DEPTH), and what is skipped is reported in notes rather than silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from exporter.checks._css import MAX_CSS_CHARS, scan_css, srcset_urls
from exporter.checks._html_bounds import MAX_DEPTH, bounded_html

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
    notes: tuple[str, ...] = ()  # parts of the page that were not examined, and why


def _elements(root: LexborNode, deeper: list[int]) -> Iterator[LexborNode]:
    """Elements in tree order, skipping <noscript> (scripting browsers never load its content).

    Iterative, and no deeper than MAX_DEPTH: elements that have children there count in `deeper[0]`."""
    levels = [root.iter(include_text=False)]
    while levels:
        node = next(levels[-1], None)
        if node is None:
            levels.pop()
            continue
        yield node
        if node.tag == "noscript":
            continue
        if len(levels) < MAX_DEPTH:
            levels.append(node.iter(include_text=False))
        elif next(node.iter(include_text=False), None) is not None:
            deeper[0] += 1


def _text(attrs: dict[str, str | None], name: str) -> str | None:
    value = attrs.get(name)
    return value if isinstance(value, str) else None


def _css_refs(css: str, where: str, notes: set[str]) -> list[Reference]:
    scan = scan_css(css)
    if scan.truncated:
        notes.add(f"a {where} longer than {MAX_CSS_CHARS} characters was examined only in part")
    return [Reference(url, f"{where} {_css_element(role)}", role) for url, role in scan.references]


def _element_refs(node: LexborNode, tag: str, attrs: dict[str, str | None], notes: set[str]) -> list[Reference]:
    get = lambda name: _text(attrs, name)  # noqa: E731 - short local alias
    refs: list[Reference] = []

    def add(raw: str | None, element: str, role: str) -> None:
        if raw is not None and raw.strip():
            refs.append(Reference(raw, element, role))

    def parent() -> str:
        return (node.parent.tag or "") if node.parent is not None else ""

    if tag == "img":
        srcset, in_picture = get("srcset"), parent() == "picture"
        for url in srcset_urls(srcset or ""):
            add(url, "img srcset", "imageset")
        add(get("src"), "img src" + (" in picture" if in_picture else ""),
            "imageset" if (srcset or in_picture) else "image")
    elif tag == "source" and parent() == "picture":
        for url in srcset_urls(get("srcset") or ""):
            add(url, "picture source srcset", "imageset")
    elif tag == "source" and parent() in ("audio", "video"):
        add(get("src"), f"{parent()} source src", "media")
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
        refs += _link_refs(attrs)
    elif tag == "style":
        refs += _css_refs(node.text(), "<style>", notes)
    style = get("style")
    if style:
        refs += _css_refs(style, "style attribute", notes)
    return refs


def _css_element(role: str) -> str:
    return {"stylesheet": "@import", "font": "@font-face src"}.get(role, "url()")


def _link_refs(attrs: dict[str, str | None]) -> list[Reference]:
    rel = set((_text(attrs, "rel") or "").lower().split())
    href = _text(attrs, "href")
    if not href or not href.strip():
        return []
    if "stylesheet" in rel:
        return [Reference(href, "link rel=stylesheet", "stylesheet")]
    if "modulepreload" in rel:
        return [Reference(href, "link rel=modulepreload", "script")]
    if "preload" in rel:
        kind = (_text(attrs, "as") or "").strip().lower()
        return [Reference(href, f"link rel=preload as={kind or '(none)'}",
                          "image" if kind in PRELOAD_UPGRADABLE else "preload")] if kind else []
    if "manifest" in rel:
        return [Reference(href, "link rel=manifest", "manifest")]
    if rel & {"icon", "apple-touch-icon"}:
        # Blockable, as Chromium treats favicons: they are not in the auto-upgraded set.
        return [Reference(href, "link rel=icon", "icon")]
    return []


def parse_document(html: str) -> Document:
    """The page's sub-resource references; linear in its size (see bounded_html), notes say what was skipped."""
    text, cut = bounded_html(html)
    tree = LexborHTMLParser(text)
    base_href, refs, sheets, csp = None, [], [], []
    notes: set[str] = set()
    deeper = [0]
    root = tree.root
    for node in _elements(root, deeper) if root is not None else ():
        tag, attrs = node.tag, node.attributes
        if tag == "base" and base_href is None and _text(attrs, "href") is not None:
            base_href = _text(attrs, "href")
        elif (tag == "meta" and node.parent is not None and node.parent.tag == "head"
              and (_text(attrs, "http-equiv") or "").strip().lower() == "content-security-policy"):
            csp.append(_text(attrs, "content") or "")
        found = _element_refs(node, tag or "", attrs, notes)
        refs += found
        sheets += [r.raw for r in found if r.element == "link rel=stylesheet"]
    ordered = sorted(notes)
    if cut is not None:
        ordered.insert(0, cut)
    if deeper[0]:
        ordered.append(f"{deeper[0]} elements nested deeper than {MAX_DEPTH} levels were not examined")
    return Document(base_href, tuple(refs), tuple(sheets), tuple(csp), tuple(ordered))


def upgrades_insecure_requests(policies: list[str]) -> bool:
    """Whether any CSP policy (header values or meta contents) has upgrade-insecure-requests."""
    for value in policies:
        for policy in value.split(","):
            for directive in policy.split(";"):
                if directive.strip().lower().split(" ", 1)[0] == "upgrade-insecure-requests":
                    return True
    return False


# -- the title (the http check compares the titles of a page served over HTTP and HTTPS) ---------------

_TITLE_START = re.compile(r"<title", re.I)
_TITLE_END = re.compile(r"</title[\t\n\f\r />]", re.I)  # ends the text of a <title> (RCDATA)
_TITLE_TRIES = 3  # </title> end tags tried before parsing the whole page (earlier ones may sit in comments)


def _first_title(html: str, in_head: bool = False) -> tuple[bool, str | None]:
    """Whether lexbor finds a <title> (with in_head: the first one, in <head>), and its text."""
    text, _ = bounded_html(html)  # hostile nesting costs lexbor quadratic time
    node = LexborHTMLParser(text).css_first("title")
    if node is None or (in_head and (node.parent is None or node.parent.tag != "head")):
        return False, None
    return True, " ".join(node.text().split())


def quick_title(html: str, max_chars: int) -> tuple[bool, str | None]:
    """(True, the first <title>'s text or None) when known from the page's first max_chars characters,
    else (False, None).

    A parser builds the same tree from a page's start as from the whole page up to that point, and what
    it puts in <head> stays there, first in the document: a <title> in <head> whose end tag is within the
    start is the page's first title, its text complete. A title sits at the top of a page, and the rest
    can be megabytes. (A <title> elsewhere, in <body> or <svg>, can grow or be dropped by what follows.)"""
    if _TITLE_START.search(html) is None:
        return True, None  # no <title> start tag anywhere: no title element
    parsed = 0
    for tries, end in enumerate(_TITLE_END.finditer(html)):
        parsed += end.end()
        if tries == _TITLE_TRIES or parsed > max_chars:
            break
        found, title = _first_title(html[:end.end()], in_head=True)
        if found:
            return True, title
    return False, None


def page_title(html: str) -> str | None:
    """The text of the page's first <title> (whitespace collapsed), as lexbor finds it in the whole page."""
    known, title = quick_title(html, len(html))
    return title if known else _first_title(html)[1]
