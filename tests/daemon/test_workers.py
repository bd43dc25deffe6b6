"""Probe worker processes (--runtime.workers): real child processes running lab targets; one killed
mid-fleet fails only its own runs, as "could not judge", and is started again."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from exporter.config import Config
from exporter.daemon.workers import WorkerPool
from exporter.models import CheckResult, CheckStatus, ErrorKind
from sslfault_lab.lab import Lab
from tests.support.labs import run_async


def test_a_killed_worker_fails_its_runs_and_comes_back(lab: Lab, lab_config: Config) -> None:
    targets = {t.name: t for t in lab_config.resolved_targets()}
    ok, expired = targets["ok"], targets["expired"]

    async def go() -> None:
        pool = WorkerPool(2, lab_config)
        await pool.start()
        try:
            first = await pool.run_target(ok)
            assert {r.status for r in first.values()} == {CheckStatus.OK}, first
            assert any(f.fault == "cert_expired" for r in (await pool.run_target(expired)).values()
                       for f in r.outcome.findings)
            victim = pool.pids()[pool.worker_of(ok)]
            running = asyncio.ensure_future(pool.run_target(ok))
            await asyncio.sleep(0.05)
            os.kill(victim, signal.SIGKILL)
            lost = await running
            if {r.status for r in lost.values()} != {CheckStatus.OK}:  # killed before it answered
                assert {(r.status, r.error_kind) for r in lost.values()} == {(CheckStatus.ERROR, ErrorKind.INTERNAL)}
            for _ in range(100):  # restarted after a second
                if pool.restarts and victim not in pool.pids():
                    break
                await asyncio.sleep(0.1)
            assert pool.restarts == 1 and victim not in pool.pids()
            again: dict[str, CheckResult] = {}
            for _ in range(50):  # the new worker is importing the exporter
                again = await pool.run_target(ok)
                if {r.status for r in again.values()} == {CheckStatus.OK}:
                    break
                await asyncio.sleep(0.2)
            assert {r.status for r in again.values()} == {CheckStatus.OK}, again
        finally:
            pids = pool.pids()
            await pool.close()
        assert all(not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
                   for pid in pids)

    run_async(go())


def test_a_reload_that_changes_trust_reaches_the_workers(lab: Lab, lab_config: Config) -> None:
    """The workers build their own resources: new trust settings must reach them, or verdicts stay old."""
    ok = next(t for t in lab_config.resolved_targets() if t.name == "ok")
    ok = ok.__class__(**{**ok.__dict__, "checks": ("dns", "reachability", "tls", "chain")})
    without_lab_root = Config.model_validate(lab_config.model_dump() | {"trust": {"use_system": True, "ca_files": []}})

    async def go() -> None:
        pool = WorkerPool(2, lab_config)
        await pool.start()
        try:
            trusted = await pool.run_target(ok)
            assert not trusted["chain"].outcome.findings, trusted["chain"]
            pool.configure(without_lab_root)
            untrusted = await pool.run_target(ok)
            assert {f.fault for f in untrusted["chain"].outcome.findings} == {"cert_untrusted"}, untrusted["chain"]
        finally:
            await pool.close()

    run_async(go())
