"""The shipped health checks work against an exporter that requires basic auth.

`sslfault serve` runs for real with a web config that turns on basic auth; the Kubernetes
probes are read from deploy/kubernetes/*.yaml (path, port, scheme, headers, timeout) and
performed as the kubelet does, and the Dockerfile's HEALTHCHECK command runs with the image's
environment. Everything else stays behind the password.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter.http.healthcheck import DEFAULT_PORT, LISTEN_ENV, url_for
from tests.support import dockerfile
from tests.support.processes import free_port, start_exporter, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "prometheus", "s3cret"


def manifest_probes() -> list[tuple[str, str, dict[str, Any], int]]:
    """(manifest, probe name, httpGet, timeoutSeconds) for every HTTP probe of every container."""
    out = []
    for path in sorted((ROOT / "deploy/kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            pod = (doc or {}).get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
                for name in ("startupProbe", "livenessProbe", "readinessProbe"):
                    probe = container.get(name)
                    if probe and "httpGet" in probe:
                        get = dict(probe["httpGet"])
                        get["port"] = ports.get(get["port"], get["port"])  # a named port -> its number
                        out.append((path.name, name, get, probe.get("timeoutSeconds", 1)))
    return out


def kubelet_probe(base_port: int, get: dict[str, Any], timeout: int) -> int:
    """One HTTP probe as the kubelet makes it: no credentials, success is 200-399."""
    url = f"{get.get('scheme', 'HTTP').lower()}://127.0.0.1:{base_port}{get['path']}"
    request = urllib.request.Request(url, headers={h["name"]: h["value"] for h in get.get("httpHeaders", [])})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def get(url: str, auth: bool, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method)
    if auth:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # not listening yet
        return 0


@pytest.fixture(scope="module")
def exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("auth")
    web = tmp / "web.yml"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web.write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}))
    port = free_port()
    proc, _ = start_exporter({"targets": [{"host": "127.0.0.1", "checks": ["dns"]}]}, tmp, port,
                             ("--web.config.file", str(web)))
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/metrics", auth=True) == 200 or proc.poll() is not None,
                 30, "the exporter")
        assert proc.poll() is None, (tmp / "sslfault.log").read_text()
        yield port, tmp
    finally:
        stop_process(proc)


def test_manifests_define_the_probes() -> None:
    probes = {(name, get["path"]) for _, name, get, _ in manifest_probes()}
    assert probes == {("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")}
    assert {get["port"] for _, _, get, _ in manifest_probes()} == {DEFAULT_PORT}


def test_kubernetes_probes_pass_without_credentials(exporter: tuple[int, Path]) -> None:
    port, _ = exporter
    for manifest, name, http_get, timeout in manifest_probes():

        def passes(http_get: dict[str, Any] = http_get, timeout: int = timeout) -> bool:
            return 200 <= kubelet_probe(port, http_get, timeout) < 400

        wait_for(passes, 30, f"{manifest} {name} {http_get['path']} to pass")


def test_everything_else_still_needs_the_password(exporter: tuple[int, Path]) -> None:
    port, _ = exporter
    base = f"http://127.0.0.1:{port}"
    for path in ("/metrics", "/", "/probe?target=127.0.0.1"):
        assert get(base + path, auth=False) == 401, path
    assert get(base + "/-/reload", auth=False, method="POST") == 401
    assert get(base + "/metrics", auth=True) == 200
    # The open paths are exact: a look-alike is not let through.
    assert get(base + "/-/healthy/../metrics", auth=False) in (401, 404)


def healthcheck(listen: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command with the image's environment, the listen address overridden."""
    final = dockerfile.final()
    command = final.exec_form("HEALTHCHECK")
    env = {**final.env({"PATH": os.environ["PATH"]}), LISTEN_ENV: listen,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["PATH"] = os.environ["PATH"]  # the image's venv is this one here
    args = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    return subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_docker_healthcheck_passes_without_credentials(exporter: tuple[int, Path]) -> None:
    port, tmp = exporter
    assert healthcheck(f":{port}", tmp).returncode == 0
    assert healthcheck(f"127.0.0.1:{port}", tmp).returncode == 0


def test_docker_healthcheck_fails_when_nothing_answers(tmp_path: Path) -> None:
    result = healthcheck(f":{free_port()}", tmp_path)
    assert result.returncode == 1 and "healthcheck:" in result.stderr


@pytest.mark.parametrize(("listen", "url"), [
    (":17753", "http://127.0.0.1:17753/-/healthy"),
    ("0.0.0.0:9", "http://127.0.0.1:9/-/healthy"),
    ("[::]:9", "http://127.0.0.1:9/-/healthy"),
    ("[::1]:9", "http://[::1]:9/-/healthy"),
    ("localhost:9", "http://localhost:9/-/healthy"),
])
def test_healthcheck_url(listen: str, url: str) -> None:
    assert url_for(listen) == url


def test_healthcheck_rejects_an_address_without_port() -> None:
    with pytest.raises(ValueError, match="expected \\[HOST\\]:PORT"):
        url_for("localhost")
