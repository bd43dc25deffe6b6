"""Keeping the HTML parser linear: a cheap replay of the HTML5 tree builder that cuts a page
where nesting or element counts would make lexbor quadratic (see bounded_html)."""

from __future__ import annotations

import re

# -- keeping the HTML parser linear --------------------------------------------------------
#
# lexbor builds the tree the way browsers do and, like them, walks the stack of open elements (and the
# list of active formatting elements) for many tags: linear on real pages, quadratic on hostile ones
# (2 MB of "<div>" takes minutes, "<em x=N>" with distinct N likewise). `bounded_html` replays that
# stack in one linear pass - roughly, and erring high - and cuts the page before the tag that would
# take it past MAX_NESTING (the depth where Chromium's parser stops nesting too), so lexbor's work on
# what is left stays linear in its size.

MAX_NESTING = 512
MAX_ELEMENTS = 200_000  # elements the parser may create (reopened formatting elements multiply them)
MAX_DEPTH = 1024  # deeper elements in the parsed tree are not examined (a safety net: see bounded_html)

_ATTRS = (r"(?:[\t\n\f\r ]++|/(?!>)|[^\t\n\f\r />][^\t\n\f\r />=]*+"
          r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"?|'[^']*+'?|[^\t\n\f\r >]*+))?+)*+""")
# Every alternative matches once started (an unclosed comment or quote runs to the end, as in a browser).
_HTML_TOKEN = re.compile(
    r"<!--(?:-?>|.*?--!?>|.*)"  # a comment
    r"|<[!?][^>]*+>?"  # doctype, CDATA, processing instruction
    rf"|</([A-Za-z][^\t\n\f\r />]*+){_ATTRS}/?>?"  # an end tag (group 1)
    r"|</[^>]*+>?"  # "</" and no letter: a bogus comment
    rf"|<([A-Za-z][^\t\n\f\r />]*+)({_ATTRS})(/?)(?:>|\Z)",  # a start tag (2), its attributes (3), "/" (4)
    re.S)
_RAW_TEXT = {name: re.compile(rf"</{name}(?:[\t\n\f\r />]|\Z)", re.I)
             for name in ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")}
_FONT_BREAKOUT = re.compile(r"(?:^|[\t\n\f\r /])(?:color|face|size)[\t\n\f\r ]*=", re.I)

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_VOID = frozenset(["area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"])
_FORMATTING = frozenset(["a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"])
_MARKERS = frozenset(["applet", "caption", "marquee", "object", "td", "template", "th"])
_CLOSES_P = frozenset(["address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "listing", "main", "menu", "nav", "ol", "p", "plaintext", "pre", "search", "section", "summary", "ul", "xmp", "li", "dd", "dt", "hr"]) | _HEADINGS
_SCOPED_END = frozenset(["address", "applet", "article", "aside", "blockquote", "button", "center", "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "listing", "main", "marquee", "menu", "nav", "object", "ol", "pre", "search", "section", "summary", "ul"])
_IMPLIED_END = frozenset(["dd", "dt", "li", "optgroup", "option", "p", "rb", "rp", "rt", "rtc"])
_TABLE_PARTS = frozenset(["table", "caption", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th"])
_SCOPE = frozenset(["applet", "caption", "html", "marquee", "object", "table", "td", "template", "th"])
_SPECIAL = frozenset(
    ["address", "applet", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote", "body", "br", "button", "caption", "center", "col", "colgroup", "dd", "details", "dir", "div", "dl", "dt", "embed", "fieldset", "figcaption", "figure", "footer", "form", "frame", "frameset", "head", "header", "hgroup", "hr", "html", "iframe", "img", "input", "keygen", "li", "link", "listing", "main", "marquee", "menu", "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p", "param", "plaintext", "pre", "script", "search", "section", "select", "source", "style", "summary", "table", "tbody", "td", "template", "textarea", "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp"]) | _HEADINGS
_BREAKOUT = frozenset(["b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tt", "u", "ul", "var"])
_INTEGRATION = frozenset(["^s:foreignobject", "^s:desc", "^s:title", "^m:mi", "^m:mo", "^m:mn", "^m:ms", "^m:mtext", "^m:annotation-xml"])
_FOREIGN_KEYS = ("special", "scope", "item_stop")  # of the integration points; other foreign elements have none
_KEYS = {name: tuple(key for key, inside in (
    ("special", name in _SPECIAL), ("scope", name in _SCOPE),
    ("item_stop", name in _SPECIAL and name not in ("address", "div", "p", "li", "dd", "dt")),
    ("table_scope", name in ("html", "table", "template")), ("heading", name in _HEADINGS)) if inside)
    for name in _SPECIAL | _SCOPE}


_TABLE_ONLY = (_TABLE_PARTS - {"table"}) | {"col", "frame"}  # ignored outside a table (frame: always)
# Start tags that do not reopen closed formatting elements first (all others, and text, do).
_NO_RECONSTRUCT = (_CLOSES_P | _TABLE_PARTS | _RAW_TEXT.keys() | {
    "col", "frame", "html", "head", "body", "frameset", "base", "basefont", "bgsound", "link", "meta", "template",
    "hr", "param", "source", "track", "rb", "rtc", "rp", "rt"}) - {"xmp"}
_FRAMESET_NOT_OK = frozenset(["applet", "area", "body", "br", "button", "dd", "dt", "embed", "hr", "iframe", "image", "img", "input", "keygen", "li", "listing", "marquee", "object", "pre", "select", "table", "textarea", "wbr", "xmp"])
_REOPENED = "\x00"  # a stack entry standing for formatting elements reopened together
_NONE: list[int] = []


# Start tags needing special handling; any other name (custom elements too) reopens formatting and is pushed.
_NOT_SIMPLE = (_CLOSES_P | _VOID | _FORMATTING | _RAW_TEXT.keys() | _TABLE_ONLY | _NO_RECONSTRUCT
               | {"li", "dd", "dt", "option", "optgroup", "button", "table", "svg", "math", "plaintext"})


class _Segment:
    """The list of active formatting elements after one marker (td, th, caption, object...)."""

    __slots__ = ("counts", "keys", "length", "open", "removed")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}  # entry key (name and attributes) -> how many
        self.keys: dict[str, list[str]] = {}  # element name -> its entries' keys, latest last
        self.length = 0  # entries (Noah's Ark keeps at most three alike)
        self.open = 0  # the leading entries whose elements are still open; the rest get reopened
        self.removed = 0  # entries taken out of the list so far: later entries moved up by up to this many


class _OpenElements:
    """A rough, linear replay of a tree builder's stack of open elements and list of formatting elements.

    Where the real rules are too involved it pops less than a browser would, so it errs high.
    """

    def __init__(self) -> None:
        self.names: list[str] = []  # foreign elements are "^s:name" (SVG) or "^m:name" (MathML)
        self.slots: list[int] = []  # per open element: its index in the formatting list, or -1
        self.sizes: list[int] = []  # per open element: how many elements it stands for
        self.size = 0  # sum of sizes
        self.created = 0  # elements created so far, reopened ones included
        self.at: dict[str, list[int]] = {}  # element name or category -> its stack positions, innermost last
        self.segments = [_Segment()]
        self.formatting = 0  # entries in all segments
        self.form = False  # the form element pointer is set: another <form> is ignored
        self.frameset_ok = True  # a <frameset> still replaces the body (no content yet)
        self.frameset = False  # in a frameset: only framesets nest, everything else is ignored
        self._memo: dict[str, tuple[list[int], ...]] = {}  # name -> the position lists it is kept in

    def weight(self) -> int:
        """What lexbor may walk on one tag: open elements, formatting entries, implied table rows and bodies."""
        return self.size + self.formatting + 2 * len(self.at.get("table", _NONE))

    def last(self, key: str) -> int:
        positions = self.at.get(key, _NONE)
        return positions[-1] if positions else -1

    def _lists(self, name: str) -> tuple[list[int], ...]:
        lists = self._memo.get(name)
        if lists is None:
            categories = (_FOREIGN_KEYS if name in _INTEGRATION else ()) if name[0] == "^" else _KEYS.get(name, ())
            keys = (name, *categories)
            lists = self._memo[name] = tuple(self.at.setdefault(key, []) for key in keys)
        return lists

    def push(self, name: str, slot: int = -1, size: int = 1) -> None:
        position = len(self.names)
        self.names.append(name)
        self.slots.append(slot)
        self.sizes.append(size)
        self.size += size
        self.created += size
        for positions in self._lists(name):
            positions.append(position)
        if name in _MARKERS:
            self.segments.append(_Segment())

    def pop_to(self, position: int) -> None:
        """Pop the element at `position` and everything above it."""
        names, memo = self.names, self._memo
        while len(names) > position:
            name = names.pop()
            slot = self.slots.pop()
            self.size -= self.sizes.pop()
            for positions in memo[name]:
                positions.pop()
            if name in _MARKERS and len(self.segments) > 1:
                self.formatting -= self.segments.pop().length
            elif slot >= 0:  # its entry (moved up by any removal since) is closed: reopened by the next text
                segment = self.segments[-1]
                segment.open = max(0, min(segment.open, slot - segment.removed))

    def in_foreign(self) -> bool:
        return bool(self.names) and self.names[-1][0] == "^" and self.names[-1] not in _INTEGRATION

    def reconstruct(self) -> None:
        """Reopen the formatting elements that were closed but are still in the list, as browsers do."""
        segment = self.segments[-1]
        if segment.length > segment.open:
            self.push(_REOPENED, segment.open + segment.removed, segment.length - segment.open)
            segment.open = segment.length

    def _add_formatting(self, name: str, attrs: str) -> int:
        segment = self.segments[-1]
        key = f"{name} {attrs.strip()}"
        count = segment.counts.get(key, 0) + 1
        segment.counts[key] = count
        segment.keys.setdefault(name, []).append(key)
        if count <= 3:
            segment.length += 1
            self.formatting += 1
        else:
            segment.removed += 1  # Noah's Ark: the earliest alike entry leaves the list
        segment.open = segment.length
        return segment.length - 1 + segment.removed

    def _remove_formatting(self, name: str) -> None:
        segment = self.segments[-1]
        keys = segment.keys.get(name)
        if keys:
            key = keys.pop()
            count = segment.counts[key]
            segment.counts[key] = count - 1
            if count <= 3:
                segment.length -= 1
                self.formatting -= 1
                segment.removed += 1
                segment.open = min(segment.open, segment.length)

    def start_tag(self, name: str, attrs: str, self_closing: bool) -> None:
        if self.frameset or (name == "frameset" and not self.in_foreign()):
            if self.frameset and name == "frameset":
                self.push(name)
            elif name == "frameset" and self.frameset_ok:
                self.pop_to(0)
                self.push(name)
                self.frameset = True
            return
        if name in _FRAMESET_NOT_OK:
            self.frameset_ok = False
        if self.in_foreign():
            if name not in _BREAKOUT and not (name == "font" and _FONT_BREAKOUT.search(attrs)):
                if not self_closing:
                    self.push(f"^{self.names[-1][1]}:{name}")
                return
            while self.in_foreign():
                self.pop_to(len(self.names) - 1)
        if name not in _NOT_SIMPLE:
            self.reconstruct()
            self.push(name)
            return
        if (name in ("html", "head", "body") or (name in _TABLE_ONLY and self.last("table") < 0)
                or (name == "form" and self.form and self.last("template") < 0)):
            return  # merged into the existing element, or ignored
        self.form = self.form or name == "form"
        if self.last("select") <= self.last("template"):  # inside a <select> nothing closes
            self._close_for(name)
        if name not in _NO_RECONSTRUCT:
            self.reconstruct()
        if name in ("svg", "math"):
            if not self_closing:
                self.push(f"^{name[0]}:{name}")
        elif name in _FORMATTING:
            self.push(name, self._add_formatting(name, attrs))
        elif name not in _VOID:
            self.push(name)
        else:
            self.created += 1

    def _close_for(self, name: str) -> None:
        """What a start tag closes first (only the cases real pages rely on; anything else is kept open)."""
        last = self.last
        if name in ("li", "dd", "dt"):  # the previous item, unless a special element is in between
            same, other = ((last("li"), max(last("dd"), last("dt"))) if name == "li"
                           else (max(last("dd"), last("dt")), last("li")))
            if same >= 0 and same > max(last("item_stop"), other):
                self.pop_to(same)
        if name in _CLOSES_P:
            p = last("p")
            if p >= 0 and p > max(last("scope"), last("button")):
                self.pop_to(p)
            if name in _HEADINGS and self.names and self.names[-1] in _HEADINGS:
                self.pop_to(len(self.names) - 1)
        elif name in ("option", "optgroup"):
            if self.names and self.names[-1] == "option":
                self.pop_to(len(self.names) - 1)
        elif name in ("rb", "rtc", "rp", "rt"):
            if last("ruby") > last("scope"):  # generate implied end tags
                implied = _IMPLIED_END - ({"rtc"} if name in ("rp", "rt") else set())
                while self.names and self.names[-1] in implied:
                    self.pop_to(len(self.names) - 1)
        elif name in ("a", "nobr"):
            if last(name) > last("special"):
                self.pop_to(last(name))
            self._remove_formatting(name)
        elif name == "button":
            if last("button") > last("scope"):
                self.pop_to(last("button"))
        elif name in ("td", "th", "tr", "tbody", "thead", "tfoot"):
            closes = {"td": ("td", "th"), "th": ("td", "th"), "tr": ("tr",)}.get(name, ("tbody", "thead", "tfoot"))
            position = max(last(n) for n in closes)
            if position >= 0 and position > last("table_scope"):
                self.pop_to(position)

    def end_tag(self, name: str) -> None:
        names = self.names
        if name == "form" and not self.in_foreign():
            # </form> takes only the form element off the stack, whatever is open inside it: kept here
            self.form = False
            if names and names[-1] == "form":
                self.pop_to(len(names) - 1)
            return
        if self.frameset:
            if name == "frameset" and names:
                self.pop_to(len(names) - 1)
            return
        if names and names[-1] == name:  # closes the current element, whatever the rules
            self.pop_to(len(names) - 1)
            if name in _FORMATTING:
                self._remove_formatting(name)
            return
        if names and names[-1][0] == "^":
            if name in ("br", "p") and self.in_foreign():  # these break out of SVG and MathML
                while self.in_foreign():
                    self.pop_to(len(names) - 1)
            else:
                for position in range(len(names) - 1, max(-1, len(names) - 9), -1):
                    if names[position][0] != "^":
                        break  # reached an HTML element: the HTML rules apply
                    if names[position][3:] == name:
                        self.pop_to(position)
                        return
                else:
                    return
        if name == "br":  # acts as <br>
            self.start_tag("br", "", False)
            return
        if name not in ("select", "option", "optgroup", "template") and self.last("select") > self.last("template"):
            return  # inside a <select> other end tags are ignored
        position = self.last(name)
        if name == "p":
            boundary = max(self.last("scope"), self.last("button"))
        elif name == "li":
            boundary = max(self.last("scope"), self.last("ol"), self.last("ul"))
        elif name in _HEADINGS:
            position, boundary = self.last("heading"), self.last("scope")
        elif name in _FORMATTING:
            boundary = self.last("special")
            if position < 0 or position > boundary:
                self._remove_formatting(name)
        elif name in _TABLE_PARTS:
            boundary = self.last("table_scope") - (name == "table")
        elif name in _SCOPED_END:
            boundary = self.last("scope") - (name in _SCOPE)
        else:  # any other end tag: closes the element unless a special one is open inside it
            boundary = self.last("special") - (name in _SPECIAL)
        if name not in ("html", "head", "body", "br") and position >= 0 and position > boundary:
            self.pop_to(position)


def bounded_html(html: str) -> tuple[str, str | None]:
    """The page, or its start when its elements would nest deeper than MAX_NESTING or number more than
    MAX_ELEMENTS, and then a note saying so."""
    stack = _OpenElements()
    names = stack.names
    pos = 0
    while pos < len(html):
        for m in _HTML_TOKEN.finditer(html, pos):
            if m.start() > pos and not stack.in_foreign():
                stack.reconstruct()  # text reopens closed formatting elements
                if stack.frameset_ok and html[pos:m.start()].strip("\t\n\f\r "):
                    stack.frameset_ok = False
            pos = m.end()
            end_name, start_name = m.group(1, 2)
            if end_name is not None:
                stack.end_tag(end_name.lower())
                continue
            if start_name is None:
                continue
            name = start_name.lower()
            stack.start_tag(name, m.group(3), bool(m.group(4)))
            if stack.weight() > MAX_NESTING or stack.created > MAX_ELEMENTS:
                why = (f"more than {MAX_ELEMENTS} elements" if stack.created > MAX_ELEMENTS
                       else f"elements nest deeper than {MAX_NESTING} levels")
                return html[:m.start()], f"{why} from character {m.start()}: the rest of the page was not examined"
            if names and names[-1] == name:  # an HTML element: its text is no markup
                if name == "plaintext":
                    return html, None
                if name in _RAW_TEXT:
                    end = _RAW_TEXT[name].search(html, pos)
                    pos = end.start() if end is not None else len(html)
                    break
        else:
            break
    return html, None
