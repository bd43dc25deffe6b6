"""Requests an attacker would send to the exporter itself: /probe SSRF, path traversal, bad credentials."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from tests.hostile.harness import PASSWORD, USER, request
from tests.support.listeners import CountingListener
from tests.support.processes import free_port

# Where the corpus's names and numbers lead; a listener on each proves nothing connected.
LISTEN = ("127.0.0.1", "::1", "127.0.92.2", "127.0.92.3", "127.0.92.4", "127.0.92.5")


def _corpus(zone: str, port: int) -> list[str]:
    hosts = ["127.0.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "017700000001", "127.1", "127.0.1",
             "0", "0.0.0.0", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:7f00:1", "::127.0.0.1",
             "64:ff9b::7f00:1", "2002:7f00:1::", "localhost", "localhost.", "LOCALHOST", "169.254.169.254",
             "metadata.google.internal", "10.0.0.1", "192.168.0.1", "fe80::1", f"loopback.{zone}", f"v6loop.{zone}",
             f"mapped.{zone}", f"mixed.{zone}", f"rebind.{zone}", f"rebind.{zone}", f"rebind.{zone}",
             f"LOOPBACK.{zone.upper()}.", "127.0.0.1.nip.io", "ⅰ27.0.0.1", "１２７.０.０.１"]
    queries = []
    for host in hosts:
        shown = f"[{host}]" if ":" in host else host
        queries += [f"target={quote(shown)}:{port}", f"target={quote(host)}&port={port}"]
    tricks = [f"127.0.0.1:{port}:{port}", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1", f"127.0.0.1:+{port}",
              f"127.0.0.1: {port}", f"[::1]:{port}", "127.0.0.1%00", f"127.0.0.1\r\nX-Injected: 1:{port}",
              f"user@127.0.0.1:{port}", f"127.0.0.1#@example.com:{port}", f"127.0.0.1/x:{port}",
              f"http://127.0.0.1:{port}/", f"[::ffff:127.0.0.1]:{port}", f"127.0.0.1:{port}0000000000",
              f"127.0.0.1:{'9' * 400}", f"{'a' * 300}.example", "a." * 3000, "x" * 20_000]
    queries += [f"target={quote(t)}" for t in tricks]
    queries += [f"target=127.0.0.1&port={port}&port=443", f"target=127.0.0.1&port=0x{port:x}",
                f"target=127.0.0.1&port=%20{port}", f"target=localhost&port={port}&format=prometheus"]
    return queries


def probe_corpus(base: str, zone: str) -> tuple[list[tuple[str, int, float]], dict[str, list[str]]]:
    port = free_port()
    listeners = [CountingListener(host, port) for host in LISTEN]
    try:
        with ThreadPoolExecutor(4) as pool:  # probe.max_concurrent is 4
            answers = list(pool.map(lambda q: (q, *request(f"{base}/probe?{q}", timeout=30)[::2]), _corpus(zone, port)))
    finally:
        for listener in listeners:
            listener.close()
    return answers, {listener.host: listener.peers for listener in listeners}


TRAVERSAL = ["/targets/../../../../etc/passwd", "/targets/..%2f..%2f..%2f..%2fetc%2fpasswd",
             "/targets/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/targets/....//....//etc/passwd",
             "/targets/ok/../../../../etc/shadow", "/targets/%252e%252e%252fetc%252fpasswd", "/targets/%00",
             "/targets/" + "a" * 5000, "/static/..%2f..%2fapp.py", "/static/../../exporter/http/app.py",
             "/static/%2e%2e%2fstatuspage.py", "/static/statuspage.js%00.py", "/api/targets/..%2f..%2fetc%2fpasswd",
             "/api/targets/../../../etc/passwd", "/targets/file:%2Fetc%2Fpasswd", "/targets/file:/etc/passwd"]


def traversal(base: str) -> list[tuple[str, int, str]]:
    return [(path, status, body) for path in TRAVERSAL for status, body, _ in [request(f"{base}{path}")]]


ENDPOINTS = [("GET", "/"), ("GET", "/metrics"), ("GET", "/-/healthy"), ("GET", "/-/ready"), ("POST", "/-/reload"),
             ("PUT", "/-/reload"), ("GET", "/probe?target=ok.lab.test"), ("GET", "/api/targets"),
             ("GET", "/api/targets/ok"), ("GET", "/targets/ok"), ("GET", "/static/statuspage.css"),
             ("GET", "/no/such/path"), ("DELETE", "/metrics")]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CREDENTIALS = {
    "missing": "",
    "wrong password": f"Basic {_b64(f'{USER}:not-the-password')}",
    "unknown user": f"Basic {_b64(f'admin:{PASSWORD}')}",
    "empty password": f"Basic {_b64(f'{USER}:')}",
    "no colon": f"Basic {_b64(USER)}",
    "not base64": "Basic !!!not*base64!!!",
    "bearer": "Bearer eyJhbGciOiJub25lIn0.e30.",
    "scheme only": "Basic",
    "password with a NUL": f"Basic {_b64(f'{USER}:{PASSWORD}' + chr(0))}",
    "user with the password's prefix": f"Basic {_b64(f'{USER}x:{PASSWORD}')}",
    "oversized": "Basic " + "A" * 12_000,
}


def credentials(base: str) -> list[tuple[str, str, str, int]]:
    out = []
    for method, path in ENDPOINTS:
        for case, header in CREDENTIALS.items():
            status, _, _ = request(f"{base}{path}", method=method, auth=header)
            out.append((method, path, case, status))
    return out
