"""`python -m exporter.http.healthcheck`: the container's HEALTHCHECK, exit 0 when /-/healthy answers 200.

It reads the address from the same setting `sslfault serve` listens on (SSLFAULT_LISTEN_ADDRESS,
or the first argument), so a changed port needs one change, not two. A wildcard host (":17753",
"0.0.0.0:17753", "[::]:17753") is probed on loopback. SSLFAULT_HEALTHCHECK_SCHEME=https when
the web config turns on TLS: the certificate is not verified (it is the exporter's own, on
loopback), and /-/healthy needs no basic auth.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request

DEFAULT_PORT = 17753
LISTEN_ENV = "SSLFAULT_LISTEN_ADDRESS"
DEFAULT_LISTEN = f":{DEFAULT_PORT}"
_WILDCARDS = {"", "0.0.0.0", "::", "[::]", "*"}


def url_for(listen: str, scheme: str = "http") -> str:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected [HOST]:PORT, got {listen!r}")
    if host in _WILDCARDS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/-/healthy"


def main(argv: list[str]) -> int:
    listen = argv[0] if argv else os.environ.get(LISTEN_ENV, DEFAULT_LISTEN)
    scheme = os.environ.get("SSLFAULT_HEALTHCHECK_SCHEME", "http")
    try:
        url = url_for(listen, scheme)
        context = ssl._create_unverified_context() if scheme == "https" else None
        with urllib.request.urlopen(url, timeout=4, context=context) as response:
            return 0 if response.status == 200 else 1
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"healthcheck: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
