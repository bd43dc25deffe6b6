"""URL resolution cases shared by the scanner test and the Chromium agreement test."""

from __future__ import annotations

from exporter.checks._url import Url

BASE = Url("https", "page.test", 8443, "/dir/page.html")

# (reference, expected) against BASE; each agrees with the WHATWG URL standard (and Chromium's `new URL`,
# which tests/interop/test_chromium_mixed_content.py checks where Chromium is installed).
RESOLUTION_CASES = [
    ("http:img.png", "http://img.png/"),  # another scheme: what follows is the host (urljoin keeps it relative)
    ("http:/x.png", "http://x.png/"),
    ("https:img.png", "https://page.test:8443/dir/img.png"),  # the base's scheme: relative
    ("img.png", "https://page.test:8443/dir/img.png"),
    ("//assets.test/x.js", "https://assets.test/x.js"),  # protocol-relative takes the page's scheme
    ("\\\\assets.test\\x.png", "https://assets.test/x.png"),  # backslashes are slashes in http(s)
    ("http:\\\\assets.test\\b\\c.png", "http://assets.test/b/c.png"),
    ("  http://Assets.Test:80/x y.png\n", "http://assets.test/x%20y.png"),  # trimmed, default port dropped
    ("ht\ntp://assets.test/x\t.png", "http://assets.test/x.png"),  # tab and newline removed anywhere
    ("../../x", "https://page.test:8443/x"),
    ("/a/./b/../c", "https://page.test:8443/a/c"),
    ("/%2e%2E/x", "https://page.test:8443/x"),
    ("x/%2e", "https://page.test:8443/dir/x/"),
    ("?q=1", "https://page.test:8443/dir/page.html?q=1"),
    ("#top", "https://page.test:8443/dir/page.html"),  # fragments are never fetched
    ("http://assets.test:443/x", "http://assets.test:443/x"),
    ("https://assets.test:443/x", "https://assets.test/x"),
    ("HTTP://assets.test/a b?c d#e", "http://assets.test/a%20b?c%20d"),
    ("http://assets.test/\u00e9", "http://assets.test/%C3%A9"),
    ("http://\u00e9xample.test/", "http://xn--xample-9ua.test/"),
]
NOT_WEB = ["data:image/png;base64,AAAA", "javascript:alert(1)", "mailto:a@b.test", "blob:https://a.test/x",
           "http://assets.test:99999/", "http://[::1/"]
