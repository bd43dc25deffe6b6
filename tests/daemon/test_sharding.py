"""Sharding: rendezvous hashing on 10,000 names, the shard flags, and a fleet split across three replicas."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.config import parse_config
from exporter.daemon.fleet import Fleet
from exporter.daemon.scheduler import Scheduler
from exporter.discovery.sharding import Shard, index_from_hostname, owner
from exporter.engine.store import ResultsStore
from exporter.http.exposition import Exposition

NAMES = [f"site-{i}.example.com" if i % 3 else f"shop{i}.example.net:8443" for i in range(10_000)]


def assignment(count: int) -> dict[str, int]:
    return {name: owner(name, count) for name in NAMES}


@pytest.mark.parametrize("count", [2, 3, 5, 8])
def test_shares_are_balanced(count: int) -> None:
    shares = Counter(assignment(count).values())
    assert set(shares) == set(range(count))
    expected = len(NAMES) / count
    assert all(abs(n - expected) < 0.08 * expected for n in shares.values()), shares


@pytest.mark.parametrize("count", [1, 2, 3, 4, 9])
def test_adding_a_replica_moves_about_one_in_n_plus_one_all_onto_it(count: int) -> None:
    before, after = assignment(count), assignment(count + 1)
    moved = [name for name in NAMES if before[name] != after[name]]
    fraction = len(moved) / len(NAMES)
    print(f"\n{count} -> {count + 1} shards: {fraction:.2%} of 10,000 names moved (ideal {1 / (count + 1):.2%})")
    assert abs(fraction - 1 / (count + 1)) < 0.02
    assert {after[name] for name in moved} == {count}, "a name may only move to the new shard"


def test_removing_the_last_replica_moves_only_its_names() -> None:
    before, after = assignment(4), assignment(3)
    moved = {name for name in NAMES if before[name] != after[name]}
    assert moved == {name for name in NAMES if before[name] == 3}


def test_modulo_hashing_would_move_most_names() -> None:
    """Why rendezvous hashing: hash-mod-N moves ~3/4 of the names from 3 to 4 shards, HRW ~1/4."""
    import hashlib

    def mod(name: str, count: int) -> int:
        return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") % count

    moved_mod = sum(mod(n, 3) != mod(n, 4) for n in NAMES) / len(NAMES)
    moved_hrw = sum(owner(n, 3) != owner(n, 4) for n in NAMES) / len(NAMES)
    print(f"\n3 -> 4 shards: modulo moves {moved_mod:.1%}, rendezvous moves {moved_hrw:.1%}")
    assert moved_mod > 0.7 and moved_hrw < 0.27


def test_assignment_is_pinned() -> None:
    """Replicas of different versions must agree: a change of the hash would reshuffle every fleet."""
    assert [owner(f"host{i}.example.com", 3) for i in range(12)] == [0, 0, 2, 0, 2, 2, 2, 0, 2, 0, 1, 1]
    assert owner("www.example.com", 5) == 3


@pytest.mark.parametrize(("hostname", "index"), [("sslfault-2", 2), ("sslfault-shard-10", 10),
                                                 ("sslfault-0.sslfault.monitoring.svc", 0)])
def test_index_from_a_statefulset_pod_name(hostname: str, index: int) -> None:
    assert index_from_hostname(hostname) == index


def test_index_from_hostname_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNAME", "sslfault-7")
    assert index_from_hostname() == 7
    with pytest.raises(ValueError, match="does not end in -<number>"):
        index_from_hostname("web01")


def test_shard_bounds() -> None:
    with pytest.raises(ValueError, match="from 0 to 2"):
        Shard(3, 3)
    with pytest.raises(ValueError, match="at least 1"):
        Shard(0, 0)


@pytest.mark.parametrize(("flags", "message"), [
    (["--shard.count", "3"], "--shard.count 3 needs --shard.index or --shard.index-from-hostname"),
    (["--shard.count", "3", "--shard.index", "3"], "--shard.index must be from 0 to 2"),
    (["--shard.index", "1"], "got 1; give --shard.count, the number of replicas, too"),
    (["--shard.count", "2", "--shard.index-from-hostname"], "host name 'web01' does not end in -<number>"),
    (["--shard.count", "2", "--shard.index", "0", "--shard.index-from-hostname"], "not allowed with argument"),
])
def test_bad_shard_flags_exit_two(flags: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOSTNAME", "web01")
    config = tmp_path / "c.yaml"
    config.write_text("targets: []\n")
    with pytest.raises(SystemExit) if "not allowed" in message else _no_exit():
        code = main(["serve", "--config.file", str(config), *flags])
        assert code == 2
    assert message in capsys.readouterr().err


class _no_exit:  # noqa: N801 - used like pytest.raises
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_three_replicas_split_one_fleet_each_exporting_its_share() -> None:
    hosts = "\n".join(f"  - host: h{i}.example.com" for i in range(300))
    config = parse_config(f"defaults:\n  checks: [dns]\ntargets:\n{hosts}\n")
    seen: list[set[str]] = []
    for index in range(3):
        store = ResultsStore()
        fleet = Fleet(Scheduler(store), store, Shard(3, index))
        await fleet.start(config)  # the scheduler is not started: nothing is probed
        names = {s.target.name for s in store.states()}
        assert names == {t.name for t in fleet.owned} and len(fleet.targets) == 300
        assert names == {f"h{i}.example.com" for i in range(300) if owner(f"h{i}.example.com", 3) == index}
        text = Exposition(store).render().decode()
        assert f'sslfault_shard_info{{count="3",index="{index}"}} 1.0' in text
        assert f"sslfault_shard_targets {float(len(names))}" in text and "sslfault_fleet_targets 300.0" in text
        exported = {line.split('target="')[1].split('"')[0] for line in text.splitlines()
                    if line.startswith("sslfault_faults_active{")}
        assert exported == names
        seen.append(names)
        await fleet.stop()
    assert sum(len(s) for s in seen) == 300 and len(set().union(*seen)) == 300
    assert all(80 < len(s) < 120 for s in seen), [len(s) for s in seen]


async def test_a_change_to_other_shards_targets_leaves_the_schedule_alone(tmp_path: Path) -> None:
    sd = tmp_path / "fleet.yml"
    sd.write_text("- targets: [" + ", ".join(f"h{i}.example.com" for i in range(30)) + "]\n")
    config = parse_config(f"discovery:\n  file_sd:\n    - files: ['{sd}']\n      refresh_interval: 1h\n")
    store = ResultsStore()
    scheduler = Scheduler(store)
    applied: list[int] = []
    original = scheduler.apply
    scheduler.apply = lambda c, t=None: (applied.append(len(t or [])), original(c, t))
    fleet = Fleet(scheduler, store, Shard(3, 0))
    await fleet.start(config)
    mine = len(fleet.owned)
    other = next(f"x{i}.example.com" for i in range(100) if owner(f"x{i}.example.com", 3) != 0)
    ours = next(f"y{i}.example.com" for i in range(100) if owner(f"y{i}.example.com", 3) == 0)
    for added, expected in ((other, [mine]), (ours, [mine, mine + 1])):
        sd.write_text(sd.read_text().replace("]\n", f", {added}]\n"))
        os.utime(sd, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even within one tick
        await fleet._refresh(next(iter(fleet._sources.values())))
        assert applied == expected
    assert len(fleet.targets) == 32
    await fleet.stop()
