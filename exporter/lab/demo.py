"""`sslfault demo`: the fault lab plus an exporter watching every lab scenario."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from exporter.config import Config
from exporter.lab.lab import Lab

log = logging.getLogger(__name__)


def lab_config_dict(lab: Lab, interval: str = "30s", timeout: str = "4s") -> dict[str, Any]:
    """An exporter config with one target per lab scenario, trusting the lab root, using the lab DNS."""
    targets: list[dict[str, Any]] = []
    for scenario in lab.scenarios.values():
        target: dict[str, Any] = {"host": scenario.host, "port": scenario.port, "name": scenario.name}
        if scenario.expected_addresses:
            target["expected_addresses"] = list(scenario.expected_addresses)
        targets.append(target)
    return {
        "defaults": {"interval": interval, "timeout": timeout, "jitter": "1s"},
        "resolver": {"nameservers": [lab.nameserver], "timeout": "2s", "authoritative_port": lab.dns_port},
        "trust": {"use_system": False, "ca_files": [lab.root_ca_file]},
        "limits": {"max_concurrent_probes": 16},
        "targets": targets,
    }


async def run_demo(listen: str, interval: str = "30s") -> None:
    from exporter.web import Exporter, parse_listen_address, serve

    async with Lab() as lab:
        config = Config.model_validate(lab_config_dict(lab, interval))
        host, port = parse_listen_address(listen)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        print(f"Fault lab: {len(lab.scenarios)} scenarios on {lab.network}.0/24 port {lab.port}, "
              f"DNS {lab.nameserver}", flush=True)
        print(f"Status page: http://{shown}:{port}/", flush=True)
        print(f"Metrics:     http://{shown}:{port}/metrics", flush=True)
        print(f"Try:         sslfault diagnose {lab.host('leaf-only')} --port {lab.port} "
              f"--nameserver {lab.nameserver} --ca-file {lab.root_ca_file}", flush=True)
        sys.stdout.flush()
        await serve(Exporter(config), listen)


if __name__ == "__main__":
    asyncio.run(run_demo("127.0.0.1:9793"))
