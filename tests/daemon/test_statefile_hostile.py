"""The state file under every kind of target and every kind of bad content, and saves that fail."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.checks.cert_files import PLUGIN as CERT_FILES
from exporter.config import Config
from exporter.daemon import statefile
from exporter.daemon.filewatch import CHECK_NAME, expand
from exporter.engine.context import ProbeContext, Resources
from exporter.engine.runner import run_check, run_target
from exporter.engine.store import ResultsStore
from sslfault_lab.demo import FullLab, start_full_lab_on
from sslfault_lab.lab import LabThread
from tests.support.processes import http_get, start_exporter, stop_process, wait_for


@pytest.fixture(scope="module")
def full_lab() -> Iterator[FullLab]:
    thread = LabThread()
    thread.start()
    full = start_full_lab_on(thread)
    try:
        yield full
    finally:
        thread.call(full.stop)
        thread.stop()


def _probe_everything(config: Config) -> ResultsStore:
    """Every configured target once (concurrently) and every watched certificate file."""
    async def go() -> ResultsStore:
        store = ResultsStore()
        store.set_targets(config.resolved_targets())
        resources = Resources(config)
        try:
            targets = config.resolved_targets()
            runs = await asyncio.gather(*(run_target(t, resources) for t in targets))
            for target, results in zip(targets, runs, strict=True):
                store.record(target, results)
            watched = expand(config)
            store.set_targets([w.target for w in watched], "files")
            for item in watched:
                ctx = ProbeContext(item.target, resources)
                store.record(item.target, {CHECK_NAME: await run_check(CHECK_NAME, CERT_FILES, item.target, ctx)})
        finally:
            await resources.close()
        return store

    return asyncio.run(go())


def test_every_kind_of_lab_target_round_trips(full_lab: FullLab, tmp_path: Path) -> None:
    """dns_validation and file_validation targets made json.dump fail halfway: nothing was ever saved."""
    config = Config.model_validate(full_lab.config_dict(timeout="3s"))
    before = _probe_everything(config)
    kinds = {name for s in before.states() for name in s.results}
    assert {"dns_validation", "file_validation", "mixed_content", "revocation", CHECK_NAME} <= kinds
    configured = {name for s in before.states() for name, _ in s.target.settings}
    assert {"dns_validation", "file_validation"} <= configured
    path = str(tmp_path / "state.json")
    saved = statefile.save(before, path)
    assert saved == len(before.states())
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left

    after = ResultsStore()
    after.set_targets(config.resolved_targets())
    after.set_targets([s.target for s in before.states() if s.target.name.startswith("file:")], "files")
    assert statefile.restore(after, path) == saved
    for old in before.states():
        new = after.get(old.target.name)
        assert new is not None and new.target == old.target and new.last_run == old.last_run
        assert dict(new.results) == dict(old.results), old.target.name
        for name, result in old.results.items():  # typed results come back typed (the collector needs them)
            assert type(new.results[name].outcome.result) is type(result.outcome.result), (old.target.name, name)
            assert [f.data for f in new.results[name].outcome.findings] == \
                   [json.loads(json.dumps(f.data, default=list)) for f in result.outcome.findings]


def _entry() -> dict[str, Any]:
    config = Config.model_validate({"targets": [{"host": "shop.example", "dns_validation": {"value": "x"}}]})
    target = config.resolved_targets()[0]
    from exporter.checks.dns import DnsResult
    from exporter.models import CheckOutcome, CheckResult, CheckStatus, Finding

    result = CheckResult(target.name, "dns", CheckStatus.OK, 1.0, 0.5,
                         CheckOutcome((Finding("dns_resolution_failed", "gone", None, {"k": [1, "a"]}),),
                                      DnsResult(("192.0.2.1",), ())))
    return statefile.encode_entry(target, {"dns": result}, 2.0)


GOOD = _entry()


def _bad(**changes: Any) -> dict[str, Any]:
    entry = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        node = entry
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return entry


HOSTILE_FILES: dict[str, bytes] = {
    "truncated": json.dumps({"format": 2, "targets": [GOOD]}).encode()[:150],
    "targets is a number": b'{"format":1,"targets":7}',
    "targets is null": b'{"format":2,"targets":null}',
    "deep nesting": b'{"format":2,"targets":' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "deep nesting in an entry": json.dumps({"format": 2, "targets": [_bad(target__validation_method=None)]}).encode()
    .replace(b"null", b'{"a":' * 5000 + b"1" + b"}" * 5000),
    "not an object": b"[1, 2, 3]",
    "null": b"null",
    "empty": b"",
    "not UTF-8": b'{"format":2,"targets":["\xff\xfe"]}',
    "binary": bytes(range(256)) * 10,
    "unknown format": b'{"format":99,"targets":[]}',
    "NaN everywhere": b'{"format":2,"targets":[NaN]}',
}
BAD_ENTRIES: dict[str, Any] = {
    "entry is a string": "target",
    "target is a string": _bad(target="shop.example"),
    "port is text": _bad(target__port="443"),
    "port is a bool": _bad(target__port=True),
    "unknown target field": _bad(target__command="rm -rf /"),
    "bad pydantic settings": _bad(target__settings=[["dns_validation", {"value": ""}]]),
    "settings of the wrong kind": _bad(target__settings=[["dns_validation", [1, 2]]]),
    "settings of an unknown check": _bad(target__settings=[["rm", {}]]),
    "settings not pairs": _bad(target__settings={"dns_validation": {"value": "x"}}),
    "checks is a number": _bad(target__checks=7),
    "last_run is text": _bad(last_run="yesterday"),
    "results is a list": _bad(results=[1]),
    "unknown check": _bad(results={"rm": GOOD["results"]["dns"]}),
    "result for another check": _bad(results={"tls": GOOD["results"]["dns"]}),
    "status not an enum value": _bad(results__dns__status="exploded"),
    "result of the wrong type": _bad(results__dns__outcome__result={"addresses": []}),
    "a format 1 class tag": {"__dc__": "os:system", "fields": {"command": "true"}},
    "missing field": {"target": GOOD["target"], "results": {}},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_any_file_content_is_logged_and_ignored(name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(HOSTILE_FILES[name])
    store = _store_for_good_entry()
    with caplog.at_level(logging.WARNING, logger="exporter.daemon.statefile"):
        assert statefile.restore(store, str(path)) == 0
    assert caplog.records, "every rejected file is logged with its reason"


@pytest.mark.parametrize("name", sorted(BAD_ENTRIES))
def test_a_bad_entry_is_skipped_and_the_good_ones_kept(name: str, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": 2, "targets": [BAD_ENTRIES[name], GOOD]}))
    store = _store_for_good_entry()
    with caplog.at_level(logging.WARNING, logger="exporter.daemon.statefile"):
        assert statefile.restore(store, str(path)) == 1
    assert any(r.getMessage() == "state file entry skipped" for r in caplog.records)


def test_huge_files_and_special_files_are_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    store = _store_for_good_entry()
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"format": 2, "targets": [GOOD] * 40}))
    monkeypatch.setattr(statefile, "MAX_FILE_BYTES", 10_000)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # reading it would block the start forever
    (tmp_path / "dir.json").mkdir()
    with caplog.at_level(logging.WARNING, logger="exporter.daemon.statefile"):
        for path in (huge, fifo, tmp_path / "dir.json"):
            assert statefile.restore(store, str(path)) == 0
    assert len(caplog.records) == 3


def test_a_format_1_file_is_still_read(tmp_path: Path) -> None:
    """Written before this change (type tags): its data is read by type, its class names ignored."""
    store = _store_for_good_entry()
    target = store.states()[0].target
    entry = statefile.decode_entry(GOOD, statefile.default_result_types())
    tagged = {"format": 1, "targets": [_format1({"target": target, "results": entry[1], "last_run": entry[2]})]}
    path = tmp_path / "state.json"
    path.write_text(json.dumps(tagged))
    assert statefile.restore(store, str(path)) == 1
    assert dict(store.states()[0].results) == entry[1]


def _format1(value: Any) -> Any:
    """The format-1 writer, as it was (type tags with class names)."""
    import dataclasses
    import enum

    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return {"__model__": f"{type(value).__module__}:{type(value).__qualname__}",
                "fields": value.model_dump(mode="json")}
    if isinstance(value, enum.Enum):
        return {"__enum__": f"{type(value).__module__}:{type(value).__qualname__}", "value": value.value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dc__": f"{type(value).__module__}:{type(value).__qualname__}",
                "fields": {f.name: _format1(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"__tuple__": [_format1(v) for v in value]}
    if isinstance(value, list):
        return [_format1(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {"__map__": [[_format1(k), _format1(v)] for k, v in value.items()]}
    return value


def _store_for_good_entry() -> ResultsStore:
    store = ResultsStore()
    config = Config.model_validate({"targets": [{"host": "shop.example", "dns_validation": {"value": "x"}}]})
    store.set_targets(config.resolved_targets())
    return store


def test_save_failures_are_counted_retried_and_never_kill_the_saver(full_lab: FullLab, tmp_path: Path) -> None:
    """A save that fails (here: the path is a directory) is logged and counted; the next one succeeds; the
    exporter exits 0 on SIGTERM with a target of every kind configured."""
    config = full_lab.config_dict(interval="10m", timeout="3s")
    dns_txt = [t for t in config["targets"] if "dns_validation" in t][:2]
    file_token = [t for t in config["targets"] if "file_validation" in t][:2]
    config["targets"] = dns_txt + file_token + config["targets"][:2]
    config["cert_files"] = []
    assert any("dns_validation" in t for t in config["targets"]) and any("file_validation" in t
                                                                          for t in config["targets"])
    state = tmp_path / "state.json"
    state.mkdir()  # os.replace onto a directory fails: a stand-in for a full or read-only disk
    args = ("--storage.state-file", str(state), "--storage.state-save-interval", "0.3s")
    proc, base = start_exporter(config, tmp_path, extra_args=args)
    try:
        def failures() -> float:
            text = http_get(f"{base}/metrics")[1]
            line = next((x for x in text.splitlines() if x.startswith("sslfault_state_file_save_failures_total ")), "")
            return float(line.split()[-1]) if line else 0.0

        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 30, "exporter ready")
        wait_for(lambda: failures() >= 2, 10, "failed saves to be counted")
        assert proc.poll() is None
        state.rmdir()
        wait_for(state.is_file, 10, "the next save to succeed")
        text = http_get(f"{base}/metrics")[1]
        success = next(x for x in text.splitlines()
                       if x.startswith("sslfault_state_file_last_save_success_timestamp_seconds "))
        assert time.time() - float(success.split()[-1]) < 10
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        stop_process(proc)
    saved = json.loads(state.read_text())
    assert {t["target"]["name"] for t in saved["targets"]} == {t["name"] for t in config["targets"]}
    assert not list(tmp_path.glob(".sslfault-state-*")), "no temporary file left behind"
    log = (tmp_path / "sslfault.log").read_text()
    assert 'msg="cannot write the state file, will retry"' in log and "IsADirectoryError" in log


@pytest.mark.parametrize("content", [b'{"format":1,"targets":7}', b'{"format":2,"targets":null}',
                                     b"[" * 100_000])
def test_serve_starts_whatever_the_state_file_holds(content: bytes, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    config = {"targets": [{"host": "127.0.0.1", "port": 9, "checks": ["reachability"], "interval": "10m"}]}
    proc, base = start_exporter(config, tmp_path, extra_args=("--storage.state-file", str(state)))
    try:
        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 20, "exporter ready despite the state file")
    finally:
        stop_process(proc)
    log = (tmp_path / "sslfault.log").read_text()
    assert 'msg="state file ignored, starting without saved results"' in log
    assert yaml.safe_load((tmp_path / "sslfault.yaml").read_text())
