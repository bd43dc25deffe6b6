"""Results survive a restart: saved to a state file, loaded at start, only for unchanged targets."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import yaml

from exporter.config import Config
from exporter.daemon import statefile
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.engine.store import ResultsStore
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from tests.support.labs import run_async
from tests.support.processes import http_get, start_exporter, stop_process, wait_for


def _probed_store(config: Config) -> ResultsStore:
    async def go() -> ResultsStore:
        store = ResultsStore()
        store.set_targets(config.resolved_targets())
        resources = Resources(config)
        for target in config.resolved_targets():
            store.record(target, await run_target(target, resources))
        await resources.close()
        return store

    return run_async(go())


def test_round_trip_keeps_every_result_and_skips_changed_targets(lab: Lab, tmp_path: Path) -> None:
    data = lab_config_dict(lab)
    data["targets"] = [t for t in data["targets"] if t["name"] in ("expired", "leaf-only", "multi", "refused")]
    config = Config.model_validate(data)
    before = _probed_store(config)
    path = str(tmp_path / "state.json")
    assert statefile.save(before, path) == 4

    changed = dict(data, targets=[dict(t, expiry_warning_days=30) if t["name"] == "multi" else t
                                  for t in data["targets"]])
    after = ResultsStore()
    after.set_targets(Config.model_validate(changed).resolved_targets())
    assert statefile.restore(after, path) == 3  # multi's settings changed: its old results do not apply
    for name in ("expired", "leaf-only", "refused"):
        old, new = before.get(name), after.get(name)
        assert new is not None and old is not None
        assert dict(new.results) == dict(old.results) and new.last_run == old.last_run
    assert after.get("multi").last_run is None


def test_a_broken_or_hostile_state_file_is_ignored(tmp_path: Path) -> None:
    store = ResultsStore()
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert statefile.restore(store, str(path)) == 0
    path.write_text(json.dumps({"format": 1, "targets": [
        {"__dc__": "os:system", "fields": {"command": "true"}}]}))  # only this package's classes are rebuilt
    assert statefile.restore(store, str(path)) == 0
    assert statefile.restore(store, str(tmp_path / "missing.json")) == 0


def test_restart_serves_saved_faults_before_the_first_probe(lab: Lab, tmp_path: Path) -> None:
    config = lab_config_dict(lab, interval="10m", timeout="8s")
    config["targets"] = [t for t in config["targets"] if t["name"] in ("expired", "stall")]
    state = tmp_path / "state.json"
    args = ("--storage.state-file", str(state))
    proc, base = start_exporter(config, tmp_path, extra_args=args)
    try:
        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 30, "first exporter ready")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    saved = json.loads(state.read_text())
    assert len(saved["targets"]) == 2
    # The second exporter's "stall" handshake waits 3.2 s (40% of 8 s): until then, only the file can
    # have put its fault and its old run time on /metrics.
    (tmp_path / "again").mkdir()
    proc, base = start_exporter(config, tmp_path / "again", extra_args=args)
    try:
        text = wait_for(lambda: http_get(f"{base}/metrics")[1], 10, "second exporter up")
        assert 'fault="tls_handshake_failed",severity="critical",target="stall"' in text
        line = next(x for x in text.splitlines()
                    if x.startswith('sslfault_last_run_timestamp_seconds{target="stall"}'))
        assert float(line.split()[-1]) < saved["saved_at"], "served from the state file, not a new probe"
        assert http_get(f"{base}/-/ready")[0] == 200  # restored targets count as probed
        log = (tmp_path / "again" / "sslfault.log").read_text()
        assert "results restored from the state file" in log and "targets=2" in log
    finally:
        stop_process(proc)
    assert yaml.safe_load((tmp_path / "sslfault.yaml").read_text())["targets"]
