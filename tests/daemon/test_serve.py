"""`sslfault serve` as a subprocess on the lab: readiness, /metrics, promtool, reload keeps a good config."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.catalog.faults import FAULTS
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from tests.support.processes import http_get, start_exporter, stop_process, wait_for


def _series(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_serve_probes_the_lab_and_serves_metrics(lab: Lab, tmp_path: Path, event_loop: str) -> None:
    """Every lab verdict, on uvloop (the default) and on the standard library's loop."""
    config = lab_config_dict(lab, interval="1m", timeout="3s")
    flags = ("--runtime.event-loop", "asyncio") if event_loop == "asyncio" else ()
    proc, base = start_exporter(config, tmp_path, extra_args=flags)
    try:
        assert wait_for(lambda: http_get(f"{base}/-/healthy")[0] == 200, 15, "/-/healthy")
        assert f"event_loop={event_loop}" in (tmp_path / "sslfault.log").read_text()
        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 30, "every target probed once (/-/ready)")
        status, text = http_get(f"{base}/metrics")
        assert status == 200
        faults = {
            (line.split('target="')[1].split('"')[0], line.split('fault="')[1].split('"')[0])
            for line in _series(text, "sslfault_fault{")
        }
        for scenario in lab.scenarios.values():
            for fault in scenario.expected_faults:
                assert (scenario.name, fault) in faults, (scenario.name, fault)
        assert not {f for t, f in faults if t in ("ok", "ok-rsa")}
        expected_faults = {(s.name, f) for s in lab.scenarios.values() for f in s.expected_faults}
        assert faults == expected_faults
        expired = lab.scenarios["expired"].addresses[0]
        assert _series(text, f'sslfault_cert_not_after_timestamp_seconds{{address="{expired}",target="expired"}}')
        if shutil.which("promtool"):
            check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            assert check.returncode == 0, check.stdout + check.stderr
        status, page = http_get(f"{base}/")
        assert status == 200 and "cert_expired" in page and "leaf-only" in page

        # A broken config on reload keeps the old one running.
        (tmp_path / "sslfault.yaml").write_text("targets: [{host: 'bad host'}]\n")
        os.kill(proc.pid, signal.SIGHUP)
        wait_for(lambda: "sslfault_config_last_reload_successful 0.0" in http_get(f"{base}/metrics")[1], 10,
                 "reload failure to show")
        assert 'target="expired"' in http_get(f"{base}/metrics")[1]

        # A good config with one target removed: it disappears at once.
        config["targets"] = [t for t in config["targets"] if t["name"] != "expired"]
        (tmp_path / "sslfault.yaml").write_text(yaml.safe_dump(config))
        status, _ = _post(f"{base}/-/reload")
        assert status == 200
        text = http_get(f"{base}/metrics")[1]
        assert "sslfault_config_last_reload_successful 1.0" in text
        assert 'target="expired"' not in text and 'target="leaf-only"' in text
    finally:
        stop_process(proc)
    assert proc.returncode in (0, -signal.SIGTERM), (tmp_path / "sslfault.log").read_text()[-3000:]


def _post(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  interval: often\n")
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "serve", "--config.file", str(bad)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=30,
    )
    assert proc.returncode == 2
    assert f"{bad}:2: defaults.interval: expected a duration" in proc.stderr


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_diagnose_command_words_and_exit_code(lab: Lab, lang: str) -> None:
    scenario = lab.scenarios["leaf-only"]
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "diagnose", scenario.host, "--port", str(scenario.port),
         "--nameserver", lab.nameserver, "--ca-file", lab.root_ca_file, "--lang", lang],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "chain_incomplete" in proc.stdout and scenario.addresses[0] in proc.stdout
    assert "ecc-intermediate.p7c" in proc.stdout
    assert ("中间证书" in proc.stdout) if lang == "zh" else ("intermediate" in proc.stdout.lower())


def test_diagnose_healthy_exits_zero_and_json(lab: Lab) -> None:
    import json

    scenario = lab.scenarios["ok"]
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "diagnose", scenario.host, "--port", str(scenario.port),
         "--nameserver", lab.nameserver, "--ca-file", lab.root_ca_file, "--json"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["faults"] == [] and report["addresses"] == list(scenario.addresses)
    assert {"dns", "reachability", "tls", "chain"} <= set(report["checks"])


def test_diagnose_usage_error_exits_two() -> None:
    proc = subprocess.run([sys.executable, "-m", "exporter", "diagnose", "x.example", "--nameserver", "not-an-ip"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=30)
    assert proc.returncode == 2 and "not-an-ip" in proc.stderr


def test_demo_prints_metrics_url_that_works(tmp_path: Path) -> None:
    from tests.support.processes import free_port

    port = free_port()
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "demo", "--web.listen-address", f"127.0.0.1:{port}",
                             "--interval", "1m"], stdout=log, stderr=subprocess.STDOUT,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: url in (tmp_path / "demo.log").read_text(), 20, "the demo to print its /metrics URL")
        wait_for(lambda: 'fault="chain_incomplete"' in http_get(url)[1], 30, "lab faults on the demo's /metrics")
        base = url.removesuffix("/metrics")
        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 60, "every demo target probed once")
        shown = {line.split('fault="')[1].split('"')[0] for line in http_get(url)[1].splitlines()
                 if line.startswith("sslfault_fault{")}
        assert shown == {str(f) for f in FAULTS}, "the demo must show every fault of the catalog"
    finally:
        stop_process(proc)


def test_diagnose_bad_flag_values_name_the_flag() -> None:
    proc = subprocess.run([sys.executable, "-m", "exporter", "diagnose", "x.example", "--timeout", "5x",
                           "--path", "nope", "--ca-file", "/nonexistent.pem"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=30)
    assert proc.returncode == 2
    assert "--timeout: expected a duration" in proc.stderr
    assert "--path: expected URL paths" in proc.stderr
    assert "--ca-file: CA file '/nonexistent.pem' does not exist" in proc.stderr
