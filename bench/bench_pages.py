"""Benchmark: connections and requests per target per run, and the exporter's CPU per target, with the
default checks against the benchmark's nginx fleet (a page with a stylesheet, HSTS, 80 -> 443).

nginx logs every request with its connection serial number, so the HTTP requests and the connections
that carried them are counted per port; nginx's stub_status counts every accepted connection (handshake-only
ones too: the capture handshakes, the TLS 1.2 first flight, the legacy-TLS attempts). The exporter runs
in this process (CPU from time.process_time(), threads included); nginx and Knot are other processes.

Run as root (ports 53/80/443 on loopback): python bench/bench_pages.py [--targets 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleet import NGINX, PAGE, WEB_ADDRESSES, Fleet, _accepts, _free_network, _wait
from measure import exporter_config

from exporter.config import Config
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.models import CheckStatus

STATUS_PORT = 8080


CARD = '<div class="card"><a href="/p/1"><img src="/logo.svg" alt="x"></a><p>Some <b>text</b> and <i>more</i>.</p></div>\n'


def start_nginx(world: Fleet, page_kb: int) -> Path:
    """nginx as the fleet's, plus an access log with connection serials and stub_status on .9:8080; with
    page_kb, the page grows to about that size with markup (as real pages: tags, not just text)."""
    www, temp, tls = world.workdir / "www", world.workdir / "nginx-tmp", world.workdir / "tls"
    www.mkdir()
    temp.mkdir()
    filler = "healthy " * 200 + "</p>" + CARD * (page_kb * 1024 // len(CARD)) + "<p>"
    (www / "index.html").write_text(PAGE.format(filler=filler))
    (www / "style.css").write_text("body { font-family: sans-serif; }\n")
    (www / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')
    access = world.workdir / "access.log"
    listens_80 = "\n".join(f"    listen {world.address(i)}:80;" for i in range(1, WEB_ADDRESSES + 1))
    listens_443 = "\n".join(f"    listen {world.address(i)}:443 ssl;" for i in range(1, WEB_ADDRESSES + 1))
    conf = world.workdir / "nginx.conf"
    conf.write_text(f"""user root;
worker_processes 1;
daemon off;
pid {world.workdir}/nginx.pid;
error_log {world.workdir}/nginx.log warn;
events {{ worker_connections 16384; }}
http {{
  log_format conns '$connection $server_port $request_method $request_uri $host';
  access_log {access} conns;
  types {{ text/html html; text/css css; image/svg+xml svg; }}
  client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy; fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;
  server {{ listen {world.address(9)}:{STATUS_PORT}; access_log off; location / {{ stub_status; }} }}
  server {{
{listens_80}
    return 301 https://$host$request_uri;
  }}
  server {{
{listens_443}
    ssl_certificate {tls}/fullchain.pem;
    ssl_certificate_key {tls}/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000" always;
    root {www};
    index index.html;
  }}
}}
""")
    log = world.workdir / "nginx.log"
    with log.open("ab") as out:
        world.procs["nginx"] = subprocess.Popen([NGINX, "-c", str(conf), "-e", str(log)],
                                                stdout=out, stderr=subprocess.STDOUT)
    _wait(lambda: _accepts(world.address(WEB_ADDRESSES), 443), "nginx", world.procs["nginx"], log)
    return access


def log_lines(access: Path) -> list[list[str]]:
    return [line.split() for line in access.read_text().splitlines()]


def accepted(world: Fleet) -> int:
    """Connections nginx accepted so far, not counting this status request."""
    text = urllib.request.urlopen(f"http://{world.address(9)}:{STATUS_PORT}/", timeout=5).read().decode()
    return int(text.splitlines()[2].split()[0]) - 1


async def one_round(config: Config, resources: Resources,
                    concurrency: int) -> tuple[float, float, collections.Counter[str]]:
    targets = config.resolved_targets()
    slots = asyncio.Semaphore(concurrency)
    outcomes: collections.Counter[str] = collections.Counter()

    async def one(target: Any) -> None:
        async with slots:
            for name, result in (await run_target(target, resources)).items():
                if result.status is not CheckStatus.OK:
                    outcomes[f"{name} error: {result.error_kind}"] += 1
                for finding in result.outcome.findings if result.outcome else ():
                    outcomes[f"{name} fault: {finding.fault}"] += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(t) for t in targets))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, outcomes


async def rounds(world: Fleet, config: Config, access: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rounds on one loop with one Resources, as a daemon runs them (caches warm after the first)."""
    resources = Resources(config)
    out = []
    try:
        for number in range(1, args.rounds + 1):
            before_accepts, before_lines = accepted(world), len(log_lines(access))
            cpu, wall, outcomes = await one_round(config, resources, args.concurrency)
            await asyncio.sleep(0.5)  # nginx writes its log lines at the end of each request
            lines = log_lines(access)[before_lines:]
            connections = {(words[0], words[1]) for words in lines}
            per_port = collections.Counter(port for _, port in connections)
            # Serials count accepts: a higher one was opened in this round (not kept alive from an earlier one).
            new_per_port = collections.Counter(port for serial, port in connections if int(serial) > before_accepts)
            requests = collections.Counter(f"{words[1]} {words[2]} {words[3]}" for words in lines)
            total = accepted(world) - before_accepts
            n = args.targets
            figures = {
                "round": number, "targets": n, "cpu_ms_per_target": 1000 * cpu / n, "wall_seconds": wall,
                "connections_per_target": total / n,  # opened in this round, on every port
                "tls_connections_per_target": (total - new_per_port["80"]) / n,
                "tls_connections_with_requests_per_target": per_port["443"] / n,  # used (opened or kept alive)
                "plain_connections_per_target": per_port["80"] / n,
                "requests_per_target": {k: v / n for k, v in sorted(requests.items())},
                "outcomes": dict(outcomes),
            }
            out.append(figures)
            print(json.dumps(figures, indent=1))
    finally:
        await resources.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="the first has cold caches (no-SNI, legacy TLS)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--page-kb", type=int, default=0, help="grow the page by this many KiB of markup")
    parser.add_argument("--checks", help="comma-separated (default: the default checks)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sslfault-pages-"))
    workdir.chmod(0o755)
    world = Fleet(args.targets, workdir)
    out: list[dict[str, Any]] = []
    try:
        world.network = _free_network()
        world._pki()
        access = start_nginx(world, args.page_kb)
        world._knot()
        config = Config.model_validate(exporter_config(world, args.targets, args.checks.split(',') if args.checks else None,
                                                              args.concurrency))
        out = asyncio.run(rounds(world, config, access, args))
    finally:
        world.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
