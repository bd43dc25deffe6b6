"""Deployment files as shipped: Kubernetes, Docker, systemd, Prometheus and Alertmanager examples, CI scripts.

The linters (kubernetes-validate, yamllint, hadolint, promtool, amtool, systemd-analyze) skip
with their reason on a developer machine without them and fail in CI (tests/support/tools.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from exporter.config import Config
from exporter.http.healthcheck import DEFAULT_LISTEN, DEFAULT_PORT, LISTEN_ENV
from tests.support import dockerfile
from tests.support.tools import tool
from tools import gen_constraints

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/kubernetes"
# Ports of exporters and tools people run next to this one; the default must differ from all.
CO_DEPLOYED = {9090: "Prometheus", 9093: "Alertmanager", 9100: "node_exporter", 9115: "blackbox_exporter",
               9219: "ssl_exporter", 9402: "cert-manager", 9793: "x509-certificate-exporter",
               10249: "kube-proxy", 10250: "kubelet", 10901: "Thanos sidecar", 10902: "Thanos", 3000: "Grafana",
               8080: "kube-state-metrics / cAdvisor", 8443: "HTTPS alternative", 12345: "Grafana Alloy"}


def run(*args: str, cwd: Path = ROOT, timeout: float = 120, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)


def k8s_docs() -> dict[str, dict[str, Any]]:
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    return {d["kind"]: d for f in files for d in yaml.safe_load_all((K8S / f).read_text(encoding="utf-8"))}


# -- the port -----------------------------------------------------------------------------------


def test_one_default_port_everywhere() -> None:
    assert DEFAULT_PORT not in CO_DEPLOYED and not 9100 <= DEFAULT_PORT <= 9999 and DEFAULT_PORT < 32768
    container = k8s_docs()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == DEFAULT_PORT
    assert f"--web.listen-address=:{DEFAULT_PORT}" in container["args"]
    assert k8s_docs()["Service"]["spec"]["ports"][0]["port"] == DEFAULT_PORT
    env = dockerfile.final().env()
    assert env[LISTEN_ENV] == DEFAULT_LISTEN and dockerfile.final().one("EXPOSE") == "${SSLFAULT_PORT}"
    assert f"localhost:{DEFAULT_PORT}" in (ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8")
    assert f"--web.listen-address=:{DEFAULT_PORT}" in (ROOT / "deploy/systemd/sslfault.service").read_text()
    # The old default may only appear where the README explains the choice, and in this test.
    files = run("git", "ls-files", "-co", "--exclude-standard").stdout.split()
    holders = {f for f in files if (ROOT / f).is_file() and re.search(r"(?<![\d.])9793(?!\d)",
                                                                       (ROOT / f).read_text(errors="replace"))}
    assert holders <= {"README.md", "tests/deploy/test_manifests.py"}, f"the old port is still in {holders}"
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        assert "9793" not in line or "x509-certificate-exporter" in line, line


def test_serve_and_healthcheck_read_the_port_from_the_environment() -> None:
    code = ("import argparse, sys; from exporter.cli import serve; p = argparse.ArgumentParser(); "
            "s = p.add_subparsers(); serve.add_parser(s); print(p.parse_args(['serve', '--config.file', 'x']).listen)")
    out = run(sys.executable, "-c", code, env={**os.environ, LISTEN_ENV: "127.0.0.1:4242"})
    assert out.stdout.strip() == "127.0.0.1:4242", out.stderr
    out = run(sys.executable, "-c", code, env={k: v for k, v in os.environ.items() if k != LISTEN_ENV})
    assert out.stdout.strip() == DEFAULT_LISTEN, out.stderr


# -- Kubernetes ---------------------------------------------------------------------------------


def test_kubernetes_manifests() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    docs = k8s_docs()
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "ServiceMonitor", "PrometheusRule",
                         "PersistentVolumeClaim"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    port = container["ports"][0]["name"]
    assert docs["Service"]["metadata"]["name"] == "sslfault", "the scrape job (service name) must be sslfault"
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == port
    assert docs["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == docs["Service"]["spec"]["ports"][0]["name"]
    selector = docs["ServiceMonitor"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= docs["Service"]["metadata"]["labels"].items()
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    Config.model_validate(yaml.safe_load(docs["ConfigMap"]["data"]["config.yaml"]))
    assert not any("subPath" in m for m in container["volumeMounts"]), "subPath mounts never see ConfigMap edits"


def test_kubernetes_keeps_state_and_reloads_config() -> None:
    docs = k8s_docs()
    deployment = docs["Deployment"]["spec"]
    pod = deployment["template"]["spec"]
    container = pod["containers"][0]
    args = dict(a.split("=", 1) for a in container["args"] if a.startswith("--"))
    assert "--config.auto-reload-interval" in args
    state_dir = os.path.dirname(args["--storage.state-file"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == state_dir)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"]["claimName"] == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert docs["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert deployment["strategy"]["type"] == "Recreate", "a RWO volume cannot be shared by the old and new pod"
    assert deployment["replicas"] == 1
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"], "the volume must be writable"


def test_kubernetes_validate() -> None:
    validate = tool("kubernetes-validate")
    result = run(validate, "--strict", "-k", "1.28", "configmap.yaml", "deployment.yaml", "service.yaml",
                 "persistentvolumeclaim.yaml", cwd=K8S)
    assert result.returncode == 0, result.stdout + result.stderr


# -- Prometheus, Alertmanager, linters ----------------------------------------------------------


def test_prometheus_and_alertmanager_examples() -> None:
    result = run(tool("promtool"), "check", "config", "deploy/prometheus/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    amtool = tool("amtool")
    config = "--config.file=deploy/alertmanager/alertmanager.yml"
    result = run(amtool, "check-config", "deploy/alertmanager/alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for severity, receiver in (("critical", "pager"), ("warning", "team-chat"), ("info", "ticket-queue")):
        routed = run(amtool, "config", "routes", "test", config, f"severity={severity}", "alertname=SSLCertificateExpired")
        assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr


def test_yamllint() -> None:
    rules = ("{extends: default, rules: {line-length: disable, document-start: disable, "
             "comments: {min-spaces-from-content: 1}, indentation: {indent-sequences: consistent}}}")
    result = run(tool("yamllint"), "-f", "parsable", "-d", rules, "deploy", "grafana/provisioning")
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


def test_hadolint() -> None:
    result = run(tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_systemd_unit(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = (ROOT / "deploy/systemd/sslfault.service").read_text(encoding="utf-8")
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit and "ExecReload=" in unit
    local = tmp_path / "sslfault.service"  # verify needs the ExecStart binary to exist
    local.write_text(unit.replace("/opt/ssl-fault-exporter/bin/sslfault", "/bin/true"), encoding="utf-8")
    result = run(analyze, "verify", str(local))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    security = run(analyze, "security", "--offline=true", str(local))
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert match is not None, security.stdout + security.stderr
    assert float(match[1]) <= 2.0, security.stdout


# -- pinned dependencies -------------------------------------------------------------------------


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[gen_constraints.normalise(name)] = version
    return out


def test_constraints_pin_every_dependency_at_the_version_the_suite_runs() -> None:
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["test"]]
    pinned = pins()
    for requirement in wanted:
        name = gen_constraints.normalise(re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0])
        if name in gen_constraints.OWN:
            continue
        assert name in pinned, f"{name} is not pinned: run python tools/gen_constraints.py"
        assert version(name) == pinned[name], f"{name}: venv has {version(name)}, constraints.txt {pinned[name]}"
    backend = project["build-system"]["requires"][0]
    minimum = re.fullmatch(r"setuptools>=(\d+)", backend)
    assert minimum and int(pinned["setuptools"].split(".")[0]) >= int(minimum[1]), "the build backend pin is too old"


def test_ci_and_the_image_install_from_the_constraints() -> None:
    setup = (ROOT / "scripts/setup.sh").read_text(encoding="utf-8")
    assert re.search(r"pip install .*-c constraints\.txt", setup)
    build = dockerfile.stage("build")
    assert build.env()["PIP_CONSTRAINT"] == "/src/constraints.txt"
    copies = build.all("COPY")
    assert copies[0] == "pyproject.toml constraints.txt ./", "dependencies first, before the code"
    runs = build.all("RUN")
    assert "-r requirements.txt" in runs[0] and "--no-deps ." in runs[-1]
    assert copies.index("exporter ./exporter") > 0


def test_ci_runs_tests_with_the_venv_tools_and_prints_skip_reasons() -> None:
    test_sh = (ROOT / "scripts/test.sh").read_text(encoding="utf-8")
    assert 'PATH="$PWD/.venv/bin:$PATH"' in test_sh
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert "-ra" in ci and re.search(r"export CI=", ci)


def test_a_missing_tool_skips_with_its_reason_locally_and_fails_in_ci(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text("from tests.support.tools import tool\n\ndef test_it():\n    tool('no-such-linter')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
            str(probe)]
    local = run(*args, cwd=tmp_path, env={k: v for k, v in env.items() if k != "CI"})
    assert local.returncode == 0 and "SKIPPED [1]" in local.stdout and "no-such-linter is not installed" in local.stdout
    ci = run(*args, cwd=tmp_path, env={**env, "CI": "true"})
    assert ci.returncode == 1 and "no-such-linter is not installed (CI must have it" in ci.stdout
