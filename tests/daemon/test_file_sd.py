"""file_sd: Prometheus target files on disk mapped onto targets, watched, applied like a reload."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml

from exporter.config import Config, parse_config
from exporter.daemon.fleet import Fleet
from exporter.daemon.scheduler import Scheduler
from exporter.discovery.file_sd import read_file
from exporter.discovery.groups import DiscoveryError
from exporter.engine.store import ResultsStore
from exporter.http.exposition import Exposition
from exporter.models import CheckResult, CheckStatus


def config_for(tmp_path: Path, extra: str = "", interval: str = "5m") -> Config:
    return parse_config(f"defaults:\n  interval: {interval}\n  checks: [dns, reachability]\n{extra}"
                        f"discovery:\n  file_sd:\n    - files: ['{tmp_path}/*.yml', '{tmp_path}/*.json']\n"
                        "      refresh_interval: 100ms\n")


def errors_of(path: Path, text: str) -> list[str]:
    path.write_text(text)
    with pytest.raises(DiscoveryError) as info:
        read_file(str(path))
    return info.value.errors


def test_groups_map_onto_targets(tmp_path: Path) -> None:
    file = tmp_path / "fleet.yml"
    file.write_text(yaml.safe_dump([
        {"targets": ["www.example.com", "shop.example.com:8443", "[2001:db8::1]:8443", "2001:db8::2"],
         "labels": {"team": "web", "__meta_source": "ansible", "checks": "dns, tls,chain", "interval": "1m"}},
        {"targets": ["api.example.com"],
         "labels": {"__param_port": "9443", "name": "api", "ca_identifiers": "letsencrypt.org",
                    "dns_validation": '{"value": "abc", "record": "_dnsauth.api.example.com"}',
                    "paths": "/,/login", "expected_addresses": "192.0.2.1,192.0.2.2"}},
        {"targets": ["native.example.com"], "labels": {"checks": ["dns"], "port": 8443, "expiry_warning_days": 30}},
        {"targets": ["empty.example.com"], "labels": {"checks": "", "__param_port": ""}},
    ]))
    www, shop, v6, v6bare, api, native, empty = read_file(str(file))
    assert (empty.checks, empty.port) == (None, None), "an empty label is an absent one"
    assert (www.host, www.port, www.checks, www.interval) == ("www.example.com", None, ("dns", "tls", "chain"), 60)
    assert (shop.port, v6.host, v6.port, v6bare.host, v6bare.port) == (8443, "2001:db8::1", 8443, "2001:db8::2", None)
    assert (api.port, api.name, api.paths, api.ca_identifiers) == (9443, "api", ("/", "/login"), ("letsencrypt.org",))
    assert api.expected_addresses == ("192.0.2.1", "192.0.2.2")
    assert api.dns_validation.value == "abc"
    assert (native.checks, native.port, native.expiry_warning_days) == (("dns",), 8443, 30)
    # JSON too, by suffix.
    (tmp_path / "fleet.json").write_text(json.dumps([{"targets": ["a.example.com:444"], "labels": {}}]))
    assert [t.port for t in read_file(str(tmp_path / "fleet.json"))] == [444]
    (tmp_path / "empty.yml").write_text("")
    assert read_file(str(tmp_path / "empty.yml")) == ()


def test_unknown_setting_label_names_file_line_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    errors = errors_of(path, "- targets: [a.example.com]\n  labels: {team: x}\n"
                             "- targets: [b.example.com, c.example.com]\n  labels:\n    __param_prot: '8443'\n")
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:3: entry 1: label __param_prot: unknown setting; settings: ca_identifiers,")


@pytest.mark.parametrize(("text", "expected"), [
    ("- targets: ['a.example.com:99999']\n", "entry 0, target 'a.example.com:99999': port must be 1-65535"),
    ("- targets: ['https://a.example.com/']\n", "not a URL"),
    ("- targets: ['a.example.com:8443']\n  labels: {port: '443'}\n", "port 8443 in the address and label port=443 differ"),
    ("- targets: ['bad host']\n", "target 'bad host': host: expected a DNS name or IP address"),
    ("- targets: [a.example.com]\n  labels: {checks: 'dns,nope'}\n", "checks: unknown check(s) ['nope']"),
    ("- targets: [a.example.com]\n  labels: {interval: soon}\n", "interval: expected a duration"),
    # No flooding from an inventory: a schedule tighter than a second is refused.
    ("- targets: [a.example.com]\n  labels: {interval: 1ms}\n", "interval must be at least 1s"),
    # Paths on this machine are config-only: an inventory cannot make the exporter present a client key.
    ("- targets: [a.example.com]\n  labels: {__param_client_key: /etc/ssl/private/k.pem}\n", "unknown setting"),
    ("- targets: [a.example.com]\n  labels: {dns_validation: '{oops'}\n", "label dns_validation: expected a JSON object"),
    ("- targets: [a.example.com]\n  labels: {port: '1', __param_port: '2'}\n", "conflicts with another label"),
    ("- targets: a.example.com\n", "targets: expected a list of host[:port] strings"),
    ("- targets: [a.example.com]\n  label: {}\n", "unknown key(s) ['label']"),
    ("targets: [a.example.com]\n", "expected a list of target groups, got dict"),
    ("- [a.example.com\n", "not valid YAML"),
])
def test_bad_files_get_a_specific_error(tmp_path: Path, text: str, expected: str) -> None:
    errors = errors_of(tmp_path / "t.yml", text)
    assert any(expected in e for e in errors), errors
    assert all(e.startswith(str(tmp_path / "t.yml")) for e in errors)


def test_bad_json_and_every_error_listed(tmp_path: Path) -> None:
    assert "not valid JSON" in errors_of(tmp_path / "t.json", "[{")[0]
    errors = errors_of(tmp_path / "t.json", json.dumps([{"targets": [f"bad host {i}"]} for i in range(30)]))
    assert len(errors) == 21 and errors[-1].endswith("... and 10 more")


# -- the fleet with a real scheduler and store (not started: nothing is probed) ---------------------


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    store = ResultsStore()
    fleet = Fleet(Scheduler(store), store)
    yield fleet
    await fleet.stop()


async def until(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def metric(fleet: Fleet, line_prefix: str) -> float:
    text = Exposition(fleet.store).render().decode()
    return float(next(line for line in text.splitlines() if line.startswith(line_prefix)).rsplit(" ", 1)[1])


def names(fleet: Fleet) -> set[str]:
    return {s.target.name for s in fleet.store.states()}


def write(path: Path, groups: list[dict[str, object]]) -> None:
    """Like a config-management tool: write elsewhere, then rename over the old file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(groups))
    os.replace(tmp, path)


async def test_watched_files_apply_like_a_reload(tmp_path: Path, fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    web, db = tmp_path / "web.yml", tmp_path / "db.json"
    write(web, [{"targets": ["a.example.com", "b.example.com"], "labels": {"team": "web"}}])
    db.write_text(json.dumps([{"targets": ["db.example.com:5432"], "labels": {"checks": "reachability"}}]))
    config = config_for(tmp_path, "targets:\n  - host: a.example.com\n    interval: 1m\n")
    await fleet.start(config)
    assert names(fleet) == {"a.example.com", "b.example.com", "db.example.com:5432"}
    a = fleet.store.get("a.example.com")
    assert a is not None and a.target.interval == 60, "the configured target wins its name"
    assert fleet.duplicates == {"a.example.com": str(web)}
    assert metric(fleet, "sslfault_discovery_duplicate_targets") == 1
    assert metric(fleet, 'sslfault_discovery_targets{mechanism="file_sd"}') == 2
    db_target = fleet.store.get("db.example.com:5432")
    assert db_target is not None and db_target.target.checks == ("reachability",) and db_target.target.interval == 300

    # A result recorded for b survives an edit that adds a target (unchanged targets keep results).
    b = fleet.store.get("b.example.com")
    assert b is not None
    fleet.store.record(b.target, {"dns": CheckResult("b.example.com", "dns", CheckStatus.OK, 1.0, 0.01)})
    write(web, [{"targets": ["a.example.com", "b.example.com", "c.example.com"]}])
    await until(lambda: "c.example.com" in names(fleet), "the added target")
    kept = fleet.store.get("b.example.com")
    assert kept is not None and kept.last_run is not None

    # A broken file keeps its last good targets; the failure is logged and counted.
    web.write_text("- targets: [a.example.com\n")
    await until(lambda: metric(fleet, 'sslfault_discovery_sources_failing{mechanism="file_sd"}') == 1, "failure")
    assert "c.example.com" in names(fleet)
    assert metric(fleet, 'sslfault_discovery_errors_total{mechanism="file_sd"}') == 1
    await asyncio.sleep(0.3)  # unchanged broken file: not counted again at every refresh
    assert metric(fleet, 'sslfault_discovery_errors_total{mechanism="file_sd"}') == 1
    status = fleet.status()["sources"]
    assert any(s["source"] == str(web) and "not valid YAML" in s["error"] and s["targets"] == 3 for s in status)

    # Repaired with one target less: applied, no longer failing.
    write(web, [{"targets": ["b.example.com"]}])
    await until(lambda: "c.example.com" not in names(fleet), "the repaired file")
    assert metric(fleet, 'sslfault_discovery_sources_failing{mechanism="file_sd"}') == 0
    assert fleet.duplicates == {}

    # A file that goes away takes its targets with it.
    db.unlink()
    await until(lambda: "db.example.com:5432" not in names(fleet), "the removed file's targets to go")
    gone = [r for r in caplog.records if r.getMessage().startswith("file_sd file no longer matched")]
    assert gone and gone[0].levelname == "WARNING" and gone[0].__dict__["path"] == str(db), "dropped silently"


def test_check_runs_the_discovered_targets_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sslfault check` on a fleet known only from file_sd files is not an empty (passing) run."""
    from exporter.cli.check import check_fleet
    from exporter.discovery.file_sd import discovered_targets

    sd = tmp_path / "sd"
    sd.mkdir()
    write(sd / "a.yml", [{"targets": ["127.0.0.1:8443", "127.0.0.2:8443"], "labels": {"checks": "dns"}}])
    (sd / "b.yml").write_text("- targets: [c.example.com\n")
    config = config_for(sd, "targets:\n  - host: 127.0.0.2\n    port: 8443\n    checks: [dns]\n")
    found, errors = discovered_targets(config)
    assert [t.name for t in found] == ["127.0.0.1:8443"], "the configured target keeps its name"
    assert len(errors) == 1 and "b.yml" in errors[0]
    summaries = asyncio.run(check_fleet(config, sys.stdout, progress=False))
    assert sorted(s["name"] for s in summaries) == ["127.0.0.1:8443", "127.0.0.2:8443"]
    assert "b.yml" in capsys.readouterr().out


async def test_configmap_symlink_swap_is_seen(tmp_path: Path, fleet: Fleet) -> None:
    """A mounted ConfigMap: targets.yml -> ..data/targets.yml, ..data -> ..<timestamp> swapped atomically."""
    watched = tmp_path / "sd"
    watched.mkdir()
    for version, hosts in (("..v1", ["one.example.com"]), ("..v2", ["two.example.com"])):
        (watched / version).mkdir()
        (watched / version / "targets.yml").write_text(yaml.safe_dump([{"targets": hosts}]))
    (watched / "..data").symlink_to("..v1")
    (watched / "targets.yml").symlink_to("..data/targets.yml")
    await fleet.start(config_for(watched))
    assert names(fleet) == {"one.example.com"}
    (watched / "..data_tmp").symlink_to("..v2")
    os.replace(watched / "..data_tmp", watched / "..data")
    await until(lambda: names(fleet) == {"two.example.com"}, "the swapped ConfigMap")


async def test_reload_applies_new_defaults_to_discovered_targets(tmp_path: Path, fleet: Fleet) -> None:
    write(tmp_path / "t.yml", [{"targets": ["a.example.com", "b.example.com:8443"], "labels": {"interval": "2m"}}])
    await fleet.start(config_for(tmp_path))
    before = {s.target.name: s.target for s in fleet.store.states()}
    assert before["a.example.com"].timeout == 10 and before["a.example.com"].interval == 120
    await fleet.apply(parse_config(config_for(tmp_path).model_dump_json().replace('"timeout":10.0', '"timeout":3.0')))
    after = {s.target.name: s.target for s in fleet.store.states()}
    assert after["a.example.com"].timeout == 3 and after["a.example.com"].interval == 120
    # A reload that drops the file_sd entry drops its targets.
    await fleet.apply(parse_config("targets:\n  - host: z.example.com\n"))
    assert names(fleet) == {"z.example.com"}


async def test_a_file_broken_from_the_start_contributes_nothing(tmp_path: Path, fleet: Fleet) -> None:
    (tmp_path / "bad.yml").write_text("- targets: [x.example.com]\n  labels: {__param_intervall: 1m}\n")
    write(tmp_path / "good.yml", [{"targets": ["g.example.com"]}])
    await fleet.start(config_for(tmp_path))
    assert names(fleet) == {"g.example.com"}
    assert metric(fleet, 'sslfault_discovery_errors_total{mechanism="file_sd"}') == 1
    assert metric(fleet, 'sslfault_discovery_sources_failing{mechanism="file_sd"}') == 1


def test_config_rejects_unknown_suffixes() -> None:
    with pytest.raises(Exception, match="file_sd files must end in .json, .yml or .yaml"):
        parse_config("discovery:\n  file_sd:\n    - files: [/etc/targets/*.txt]\n")


def test_check_config_validates_the_files_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import main

    sd = tmp_path / "sd"
    sd.mkdir()
    write(sd / "a.yml", [{"targets": ["a.example.com", "b.example.com"]}])
    config = tmp_path / "c.yaml"
    config.write_text(f"discovery:\n  file_sd:\n    - files: ['{sd}/*.yml']\n")
    assert main(["check-config", str(config)]) == 0
    assert "OK, 0 target(s), 2 from 1 file_sd file(s)" in capsys.readouterr().out
    (sd / "b.yml").write_text("- targets: [c.example.com]\n  labels: {__param_prot: '1'}\n")
    assert main(["check-config", str(config)]) == 2
    assert f"{sd / 'b.yml'}:1: entry 0: label __param_prot: unknown setting" in capsys.readouterr().err
