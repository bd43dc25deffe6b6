"""Basic auth under a wrong-password flood: Prometheus is still answered in under a second."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import yaml

from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from tests.support.processes import start_exporter, stop_process, wait_for

FLOOD = 60


def _get(url: str, password: str | None, timeout: float = 30) -> tuple[int, float]:
    request = urllib.request.Request(url)
    if password is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode())
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return status, time.monotonic() - start


def test_metrics_answered_within_a_second_during_a_wrong_password_flood(lab: Lab, tmp_path: Path) -> None:
    # Cost 12 (what `htpasswd -B` users often pick): ~0.25 s of CPU per wrong password.
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=12)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
    config = lab_config_dict(lab, interval="10m")
    config["targets"] = config["targets"][:3]
    proc, base = start_exporter(config, tmp_path, extra_args=("--web.config.file", str(web)))
    try:
        wait_for(lambda: _get(f"{base}/-/ready", None)[0] == 200, 30, "exporter ready")
        assert _get(f"{base}/metrics", "s3cret")[0] == 200  # Prometheus scraped before the flood began
        with ThreadPoolExecutor(FLOOD + 1) as pool:
            flood = [pool.submit(_get, f"{base}/metrics", f"wrong{i}") for i in range(FLOOD)]
            time.sleep(0.2)  # the flood is queued or running
            scrapes = []
            while not all(f.done() for f in flood) or len(scrapes) < 5:
                scrapes.append(_get(f"{base}/metrics", "s3cret"))
                time.sleep(0.05)
            answers = [f.result() for f in flood]
    finally:
        stop_process(proc)
    assert all(status == 200 for status, _ in scrapes), scrapes
    slowest = max(elapsed for _, elapsed in scrapes)
    assert slowest < 1.0, f"an authenticated scrape took {slowest:.2f}s during the flood"
    statuses = sorted({status for status, _ in answers})
    assert set(statuses) <= {401, 429} and 401 in statuses, statuses
    # Beyond the bound, refused at once rather than queued behind the others.
    assert 429 in statuses and min(e for s, e in answers if s == 429) < 0.5
