"""`sslfault demo`: the whole fault lab (TLS scenarios, issuance, web layer) and an exporter watching it."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from exporter.config import Config
from sslfault_lab.lab import Lab, LabThread

log = logging.getLogger(__name__)

Expected = dict[str, tuple[dict[str, Any], frozenset[str]]]  # target name -> (target config, faults)


def lab_config_dict(lab: Lab, interval: str = "30s", timeout: str = "4s") -> dict[str, Any]:
    """An exporter config with one target per TLS scenario, trusting the lab root, using the lab DNS."""
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


def broken_cert_files(lab: Lab, root: Path) -> tuple[list[dict[str, Any]], dict[str, frozenset[str]]]:
    """Broken certificate files for the `cert_files` watcher: config entries, and target -> its fault."""
    plain, keyed = root / "plain", root / "keyed"
    plain.mkdir(parents=True, exist_ok=True)
    keyed.mkdir(exist_ok=True)
    chain = {name: Path(s.chain_file).read_text() for name, s in lab.scenarios.items() if s.chain_file}
    files = {
        plain / "invalid.pem": ("this is not a certificate\n", "cert_file_invalid_pem"),
        plain / "whitespace.pem": ("".join(f"{line}  \n" for line in chain["ok"].splitlines()), "cert_file_whitespace"),
        plain / "wrong-order.pem": (chain["wrong-order"], "cert_file_wrong_order"),
        plain / "leaf-only.pem": (chain["leaf-only"], "cert_file_chain_incomplete"),
        keyed / "mismatch.pem": (chain["ok"], "cert_file_key_mismatch"),
    }
    for path, (text, _) in files.items():
        path.write_text(text)
    (keyed / "mismatch.key").write_text(Path(str(lab.scenarios["ok-rsa"].key_file)).read_text())
    config = [{"path": f"{plain}/*.pem", "poll": "1s"}, {"path": f"{keyed}/*.pem", "key": "{dir}/{stem}.key", "poll": "1s"}]
    return config, {f"file:{path}": frozenset({fault}) for path, (_, fault) in files.items()}


# A name whose registrable label holds a word of the guide's S2 list (served by the lab's TLD zone).
REVIEW_HOST = "secure-bank.test"


class FullLab:
    """The TLS scenarios plus the issuance, web and TLS-configuration additions, all in one loopback /24."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.issuance: Any = None
        self.web: Any = None
        self.tls_configs: Any = None

    async def start(self) -> FullLab:
        from sslfault_lab.issuance import start_issuance_lab
        from sslfault_lab.tls_configs import start_tls_config_lab
        from sslfault_lab.web import start_web_lab

        self.issuance = await start_issuance_lab(self.lab)
        self.web = await start_web_lab(self.lab)
        self.tls_configs = await start_tls_config_lab(self.lab)
        return self

    async def stop(self) -> None:
        for part in (self.tls_configs, self.web, self.issuance):
            if part is not None:
                await part.stop()

    def expected(self) -> Expected:
        """Every lab target with the faults it must show."""
        from sslfault_lab.issuance import exporter_targets

        out: Expected = {}
        for scenario in self.lab.scenarios.values():
            target: dict[str, Any] = {"host": scenario.host, "port": scenario.port}
            if scenario.expected_addresses:
                target["expected_addresses"] = list(scenario.expected_addresses)
            out[scenario.name] = (target, frozenset(scenario.expected_faults))
        out.update(exporter_targets(self.issuance))
        out.update(self.web.exporter_targets())
        out.update(self.tls_configs.exporter_targets())
        out["review: secure-bank"] = ({"host": REVIEW_HOST, "checks": ["domain_review"]},
                                      frozenset({"domain_review_risk"}))
        return out

    def expected_files(self) -> tuple[list[dict[str, Any]], dict[str, frozenset[str]]]:
        """`cert_files` config entries for broken certificate files, and target -> the fault it must show."""
        return broken_cert_files(self.lab, Path(self.lab.workdir) / "cert-files")

    def config_dict(self, interval: str = "30s", timeout: str = "4s") -> dict[str, Any]:
        config = lab_config_dict(self.lab, interval, timeout)
        # The stale resolver second, as the DNS-TXT propagation cases need.
        config["resolver"]["nameservers"].append(self.issuance.stale_resolver)
        config["targets"] = [{"name": name, **target} for name, (target, _) in self.expected().items()]
        config["cert_files"], _ = self.expected_files()
        return config


def start_full_lab_on(thread: LabThread) -> FullLab:
    """Add the issuance and web parts to a lab running on a LabThread; stop with `thread.call(full.stop)`."""
    assert thread.lab is not None, "LabThread not started"
    lab = thread.lab
    return thread.call(lambda: FullLab(lab).start())


async def run_demo(listen: str, interval: str = "30s") -> None:
    from exporter.daemon.daemon import Daemon
    from exporter.http.app import parse_listen_address, serve

    async with Lab() as lab:
        full = await FullLab(lab).start()
        try:
            config = Config.model_validate(full.config_dict(interval))
            host, port = parse_listen_address(listen)
            shown = "127.0.0.1" if host in (None, "0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
            print(f"Fault lab: {len(config.targets)} targets on {lab.network}.0/24 port {lab.port}, "
                  f"DNS {lab.nameserver}", flush=True)
            print(f"Status page: http://{shown}:{port}/", flush=True)
            print(f"Metrics:     http://{shown}:{port}/metrics", flush=True)
            print(f"Try:         sslfault diagnose {lab.host('leaf-only')} --port {lab.port} "
                  f"--nameserver {lab.nameserver} --ca-file {lab.root_ca_file}", flush=True)
            sys.stdout.flush()
            await serve(Daemon(config), listen)
        finally:
            await full.stop()


if __name__ == "__main__":
    asyncio.run(run_demo("127.0.0.1:17753"))
