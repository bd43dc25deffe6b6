"""WHATWG-style URL resolution for the cases pages really contain (whitespace, backslashes,
`http:img.png`, scheme-relative, dot segments), which `urllib.parse.urljoin` gets wrong.
Only http(s) URLs matter; anything else resolves to None and is never mixed content.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from urllib.parse import unquote

WEB_SCHEMES = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_C0_SPACE = "".join(chr(c) for c in range(0x21))
# Characters percent-encoded in paths and queries: C0 controls, space, a few ASCII, all non-ASCII.
_PATH_UNSAFE = re.compile('[\x00-\x20"<>`{}\x7f-\U0010ffff]+')
_QUERY_UNSAFE = re.compile("[\x00-\x20\"<>'\x7f-\U0010ffff]+")
MAX_HOST = 253  # longer is no DNS name; IDNA-encoding one costs seconds per megabyte


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


def _percent(match: re.Match[str]) -> str:
    return "%" + match.group().encode("utf-8", "replace").hex("%").upper()


def _encode(text: str, unsafe: re.Pattern[str]) -> str:
    """Percent-encode runs of unsafe characters (one regex pass: pages can hold megabyte-long URLs)."""
    return unsafe.sub(_percent, text)


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
        if len(host) > MAX_HOST:
            return None
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
