"""srcset and CSS scanning in one linear pass (hostile stylesheets must not cost more than
their length), bounded by MAX_CSS_CHARS."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


MAX_CSS_CHARS = 256 * 1024  # of one stylesheet, <style> block or style attribute; beyond it is not examined
_CSS_WS = " \t\n\r\f"
_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)  # always matches once started: linear
# What the scanner stops at; everything between is skipped without backtracking.
_CSS_TOKEN = re.compile(r"@([-\w]*)|url\(|\}", re.I)
_CSS_SKIP_WS = re.compile(r"[ \t\n\r\f]*+")
_CSS_STRING = {q: re.compile(rf"{q}((?:[^{q}\\\n]++|\\.)*+)({q}?)", re.S) for q in "\"'"}
# An unquoted url(): escapes (a hex escape takes up to 6 digits and one whitespace) or plain characters.
_CSS_UNQUOTED = re.compile(r"""(?:[^)\s"'(\\\x00-\x08\x0b\x0e-\x1f\x7f]++|\\[0-9a-fA-F]{1,6}+(?:\r\n|[ \t\n\r\f])?+"""
                           r"""|\\[^\n\r\f0-9a-fA-F])*+""")
_CSS_BAD_URL = re.compile(r"(?:[^)\\]++|\\.)*+\)?", re.S)  # the remnants of a bad url(), up to its ")"
_CSS_STATEMENT_END = re.compile(r"[;{]")
_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6}\s?|.)", re.S)


@dataclass(frozen=True)
class CssScan:
    references: tuple[tuple[str, str], ...]  # (url text, role), as css_references
    truncated: bool = False  # longer than MAX_CSS_CHARS: only the start was examined


def _unescape_css(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code.strip() and all(c in "0123456789abcdefABCDEF" for c in code.strip()):
            point = int(code.strip(), 16)
            return "\ufffd" if point == 0 or 0xD800 <= point <= 0xDFFF or point > 0x10FFFF else chr(point)
        return code if code != "\n" else ""

    return _ESCAPE.sub(one, text)


def _css_string(text: str, pos: int) -> tuple[str | None, int]:
    """The string starting at text[pos] (a quote) and the position after it; None if unclosed."""
    m = _CSS_STRING[text[pos]].match(text, pos)
    assert m is not None  # the pattern matches at any quote
    return (m.group(1) if m.group(2) else None), m.end()


def _css_url(text: str, pos: int) -> tuple[str | None, int]:
    """The value of url( ... ) whose "url(" ends at pos, and the position after its ")"; None if malformed."""
    pos = _CSS_SKIP_WS.match(text, pos).end()  # type: ignore[union-attr]  # these patterns match the empty string: never None
    if text[pos:pos + 1] in ("'", '"'):
        value, pos = _css_string(text, pos)
    else:
        m = _CSS_UNQUOTED.match(text, pos)
        value, pos = m.group(), m.end()  # type: ignore[union-attr]  # these patterns match the empty string: never None
    pos = _CSS_SKIP_WS.match(text, pos).end()  # type: ignore[union-attr]  # these patterns match the empty string: never None
    if value is not None and text[pos:pos + 1] == ")":
        return value, pos + 1
    return None, _CSS_BAD_URL.match(text, pos).end()  # type: ignore[union-attr]  # these patterns match the empty string: never None


def _import_value(text: str, pos: int) -> tuple[str | None, int]:
    """The URL of `@import url(...)` or `@import "..."` whose keyword ends at pos."""
    pos = _CSS_SKIP_WS.match(text, pos).end()  # type: ignore[union-attr]  # these patterns match the empty string: never None
    if text[pos:pos + 4].lower() == "url(":
        return _css_url(text, pos + 4)
    if text[pos:pos + 1] in ("'", '"'):
        return _css_string(text, pos)
    return None, pos


def scan_css(css: str) -> CssScan:
    """url() references of a stylesheet in one linear pass over at most MAX_CSS_CHARS characters.

    @import ("stylesheet") counts only before any other rule (browsers ignore later ones), url() inside
    @font-face is a "font", any other url() an "image".
    """
    text = _COMMENT.sub(" ", css[:MAX_CSS_CHARS])
    imports: list[str] = []
    fonts: list[str] = []
    images: list[str] = []
    leading = True  # only @import, @charset and @layer statements so far
    font_face = False
    pos = 0
    while (m := _CSS_TOKEN.search(text, pos)) is not None:
        if leading and text[pos:m.start()].strip(_CSS_WS):
            leading = False
        pos = m.end()
        name = m.group(1)
        if name is None and m.group() == "}":
            font_face = leading = False
        elif name is None:  # url(
            leading = False
            url, pos = _css_url(text, pos)
            if url is not None:
                (fonts if font_face else images).append(url)
        elif name.lower() == "import" and (found := _import_value(text, pos))[0] is not None:
            url, pos = found
            end = text.find(";", pos)
            pos = len(text) if end < 0 else end + 1
            if leading:
                imports.append(url)  # type: ignore[arg-type]  # _css_url returned a string here (checked above)
        elif leading and name.lower() in ("import", "charset", "layer"):
            # A statement (ends with ";" before any "{") keeps later @imports valid; a block does not.
            # Searched only while still leading, so each character is looked at once.
            end_match = _CSS_STATEMENT_END.search(text, pos)
            if end_match is not None and end_match.group() == ";":
                pos = end_match.end()
            else:
                leading = False
        else:
            leading = False
            if name.lower() == "font-face":
                after = _CSS_SKIP_WS.match(text, pos).end()  # type: ignore[union-attr]  # these patterns match the empty string: never None
                if text[after:after + 1] == "{":
                    font_face, pos = True, after + 1
    refs = [(_unescape_css(u), "stylesheet") for u in imports] + [(_unescape_css(u), "font") for u in fonts]
    refs += [(_unescape_css(u), "image") for u in images]
    return CssScan(tuple((url, role) for url, role in refs if url.strip()), len(css) > MAX_CSS_CHARS)


def css_references(css: str) -> list[tuple[str, str]]:
    """(url text, role) for @import ("stylesheet"), @font-face src ("font") and other url() ("image")."""
    return list(scan_css(css).references)
