"""The shipped Prometheus and Alertmanager files as people copy them into their own setups.

A Prometheus whose global scrape_interval is shorter than the job's scrape_timeout must still load
the job; Alertmanager must start with alertmanager.yml without a warning; and the docs state the
versions the rules need (keep_firing_for).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import tool
from tools import gen_paging_doc
from tools.alerting.settings import seconds

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/prometheus"
ALERTMANAGER_CONFIG = ROOT / "deploy/alertmanager/alertmanager.yml"
AM_RETENTION = "120h"  # Alertmanager's default --data.retention


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-sharded.yml"])
def test_the_job_loads_under_a_15s_global_interval(tmp_path: Path, name: str) -> None:
    """Copied beside other jobs in a Prometheus whose global scrape_interval is 15s (a common default), the
    job's 30s scrape_timeout must not exceed its interval: the job sets its own."""
    config = yaml.safe_load((PROMETHEUS / name).read_text(encoding="utf-8"))
    config["global"]["scrape_interval"] = "15s"
    (tmp_path / name).write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    result = run(tool("promtool"), "check", "config", "--lint-fatal", str(tmp_path / name))
    assert result.returncode == 0 and "FAILED" not in result.stdout + result.stderr, result.stdout + result.stderr
    (job,) = config["scrape_configs"]
    assert seconds(job["scrape_timeout"]) <= seconds(job["scrape_interval"])


def alertmanager() -> str:
    """Debian names the binary prometheus-alertmanager; upstream alertmanager."""
    for path in (shutil.which("alertmanager"), shutil.which("prometheus-alertmanager"), "/usr/bin/prometheus-alertmanager"):
        if path and os.access(path, os.X_OK):
            return path
    return tool("alertmanager")


def test_alertmanager_starts_without_a_warning(tmp_path: Path) -> None:
    """A repeat_interval above the notification log's retention is warned about at startup, and does not hold."""
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([alertmanager(), f"--config.file={ALERTMANAGER_CONFIG}",
                                 f"--storage.path={tmp_path / 'data'}", "--web.listen-address=127.0.0.1:0",
                                 "--cluster.listen-address=", f"--data.retention={AM_RETENTION}"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "Listening on" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"alertmanager did not start\n{log.read_text(errors='replace')}"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text(errors="replace")
    assert "Completed loading of configuration file" in text, text
    assert not re.findall(r"^.*level=(?:warn|error).*$", text, re.MULTILINE), text


def test_repeat_intervals_fit_the_notification_log() -> None:
    def intervals(route: dict[str, Any]) -> list[str]:
        found = [str(route["repeat_interval"])] if "repeat_interval" in route else []
        for child in route.get("routes", []):
            found += intervals(child)
        return found

    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    found = intervals(config["route"])
    assert len(found) >= 3 and all(seconds(v) <= seconds(AM_RETENTION) for v in found), found


def test_the_docs_state_the_versions_the_rules_need() -> None:
    """keep_firing_for: Prometheus 2.42, and 0.66 of the Prometheus Operator for the PrometheusRule field."""
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    operator_rules = (ROOT / "deploy/kubernetes/prometheusrule.yaml").read_text(encoding="utf-8")
    assert "keep_firing_for:" in rules and "keep_firing_for:" in operator_rules
    assert (gen_paging_doc.MIN_PROMETHEUS, gen_paging_doc.MIN_OPERATOR) == ("2.42", "0.66")
    prometheus, operator = "Prometheus 2.42 or later", "Prometheus Operator 0.66 or later"
    for doc in ("README.md", "deploy/README.md", "docs/paging.md"):
        text = re.sub(r"\s+", " ", (ROOT / doc).read_text(encoding="utf-8"))
        assert prometheus in text, f"{doc} does not state the Prometheus version"
        assert operator in text, f"{doc} does not state the operator version"
    assert prometheus in re.sub(r"\s+#?\s*", " ", rules)
    assert operator in re.sub(r"\s+#?\s*", " ", operator_rules)
    # The Prometheus this suite runs the rules with is not older than what the docs promise.
    version = re.search(r"version (\d+)\.(\d+)", run(tool("promtool"), "--version").stdout)
    assert version and (int(version[1]), int(version[2])) >= (2, 42), version
