"""The Dockerfile's steps, without Docker: its build stage's COPY and RUN lines in a clean venv, then CMD and HEALTHCHECK.

Proves the dependency layer installs from pyproject.toml and constraints.txt alone (before any
code is copied), that the pinned versions are what gets installed, and that the image's
command serves on the port its environment names, keeps its state file, and passes its
own HEALTHCHECK.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from exporter.http.healthcheck import LISTEN_ENV
from tests.support import dockerfile
from tests.support.processes import free_port, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_docker_build_steps_and_command_work_in_a_clean_venv(tmp_path: Path) -> None:
    build, final = dockerfile.stage("build"), dockerfile.final()
    workdir = build.one("WORKDIR")
    context, image = tmp_path / "src", tmp_path / "opt-sslfault"
    context.mkdir()

    def local(text: str) -> str:  # the image's paths -> this test's
        return text.replace("/opt/sslfault", str(image)).replace(workdir, str(context))

    shim = tmp_path / "bin"  # `python` in the build stage: this interpreter
    shim.mkdir()
    (shim / "python").symlink_to(sys.executable)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_CONSTRAINT")}
    env = {**clean, **{k: local(v) for k, v in build.env().items()}, "PATH": f"{shim}:{os.environ['PATH']}"}
    copied_code = False
    for keyword, args in build.instructions:
        if keyword == "COPY":
            *sources, dest = args.split()
            for source in sources:
                target = context / dest / source if dest.endswith("/") else context / dest
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                    copied_code = True
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
        elif keyword == "RUN":
            if not copied_code:  # the dependency layer sees no code
                assert not (context / "exporter").exists()
            result = subprocess.run(["bash", "-c", local(args)], cwd=context, env=env, capture_output=True, text=True,
                                    timeout=600, check=False)
            assert result.returncode == 0, f"RUN {args}\n{result.stdout[-2000:]}{result.stderr[-3000:]}"

    freeze = subprocess.run([str(image / "bin/python"), "-m", "pip", "freeze"], capture_output=True, text=True,
                            check=True).stdout
    pinned = {line for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    installed = {line for line in freeze.splitlines() if "==" in line and not line.startswith("ssl-fault-exporter")}
    assert installed and installed <= pinned, f"not the pinned versions: {sorted(installed - pinned)}"

    # The final stage: its environment (the listen address overridden, as `docker run -e` does), CMD, HEALTHCHECK.
    config, state = tmp_path / "config.yaml", tmp_path / "state"
    config.write_text("targets:\n  - host: 127.0.0.1\n    checks: [dns]\n", encoding="utf-8")
    state.mkdir()
    port = free_port()
    runtime = {**clean, **{k: local(v) for k, v in final.env({"PATH": os.environ["PATH"]}).items()},
               LISTEN_ENV: f"127.0.0.1:{port}"}
    entrypoint, command = final.exec_form("ENTRYPOINT"), final.exec_form("CMD")
    argv = [a.replace("/etc/sslfault/config.yaml", str(config)).replace("/var/lib/sslfault", str(state))
            for a in entrypoint + command]
    check = final.exec_form("HEALTHCHECK")

    def healthy() -> bool:
        result = subprocess.run(check, cwd=tmp_path, env=runtime, capture_output=True, timeout=30, check=False)
        return result.returncode == 0

    assert not healthy(), "the HEALTHCHECK passes with nothing listening"
    server = subprocess.Popen(argv, cwd=tmp_path, env=runtime, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: healthy() or server.poll() is not None, 30, "the HEALTHCHECK to pass")
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
    finally:
        stop_process(server)
    assert (state / "state.json").is_file(), "the CMD's --storage.state-file was not written"
