"""Reloads that validate but cannot be applied, and reloads that replace resources runs still hold."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml

from exporter.config import Config, ConfigError, load_config
from exporter.daemon.daemon import Daemon
from exporter.daemon.scheduler import Scheduler
from exporter.engine.store import ResultsStore
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from sslfault_lab.pki import LabPKI
from tests.support.labs import run_async
from tests.support.listeners import CountingListener
from tests.support.processes import http_get, start_exporter, stop_process, wait_for


def _post(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _get(url: str) -> str:
    return http_get(url, timeout=10)[1]


@pytest.mark.parametrize(("content", "words"), [
    (b"", "is empty"),
    (b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", "no readable PEM certificate"),
    (b"\x00\x01binary junk\xff" * 100, "no readable PEM certificate"),
])
def test_ca_files_that_cannot_be_loaded_fail_validation(tmp_path: Path, content: bytes, words: str) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(content)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"trust": {"use_system": False, "ca_files": [str(ca)]}}))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert any(words in e and "trust.ca_files.0" in e for e in caught.value.errors), caught.value.errors


def test_cert_files_key_and_password_files_must_be_readable(tmp_path: Path) -> None:
    data = {"cert_files": [{"path": str(tmp_path / "*.pem"), "key": str(tmp_path / "missing.key"),
                            "password_file": str(tmp_path / "missing.pass")}]}
    with pytest.raises(Exception) as caught:
        Config.model_validate(data)
    text = str(caught.value)
    assert "key file" in text and "password file" in text and "cannot be read" in text
    # A per-file pattern is checked with each file, not at load.
    Config.model_validate({"cert_files": [{"path": str(tmp_path / "*.pem"), "key": "{dir}/{stem}.key"}]})


def test_a_reload_with_an_unloadable_ca_file_keeps_the_running_config(lab: Lab, tmp_path: Path) -> None:
    config = lab_config_dict(lab, interval="10m")
    config["targets"] = [t for t in config["targets"] if t["name"] in ("ok", "expired")]
    proc, base = start_exporter(config, tmp_path)
    try:
        wait_for(lambda: "sslfault_config_last_reload_successful 1.0" in _get(f"{base}/metrics"), 30, "exporter up")
        for name, content in (("empty.pem", b""), ("junk.pem", b"not a certificate\n")):
            (tmp_path / name).write_bytes(content)
            broken = dict(config, trust={"use_system": False, "ca_files": [lab.root_ca_file, str(tmp_path / name)]},
                          targets=config["targets"][:1])
            (tmp_path / "sslfault.yaml").write_text(yaml.safe_dump(broken))
            status, body = _post(f"{base}/-/reload")
            assert status == 500 and name in body and "Traceback" not in body, body
            metrics = _get(f"{base}/metrics")
            assert "sslfault_config_last_reload_successful 0.0" in metrics
            assert 'target="expired"' in metrics  # the running config stays
        (tmp_path / "sslfault.yaml").write_text(yaml.safe_dump(config))
        assert _post(f"{base}/-/reload")[0] == 200
        assert "sslfault_config_last_reload_successful 1.0" in _get(f"{base}/metrics")
    finally:
        stop_process(proc)
    log = (tmp_path / "sslfault.log").read_text()
    assert "Traceback" not in log and log.count('msg="config reload failed, keeping the running config"') >= 2


def test_a_config_that_fails_while_applying_changes_nothing(lab: Lab, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """What validation cannot foresee (a CA file replaced between validation and apply) keeps the old config."""
    from exporter.engine import context

    path = tmp_path / "sslfault.yaml"
    data = lab_config_dict(lab, interval="10m")
    data["targets"] = data["targets"][:2]
    path.write_text(yaml.safe_dump(data))

    async def go() -> tuple[bool, list[str], Daemon, object]:
        daemon = Daemon(load_config(path), str(path))
        await daemon.fleet.start(daemon.config)
        before = daemon.scheduler.resources
        path.write_text(yaml.safe_dump(dict(data, targets=data["targets"][:1], resolver={"timeout": "1s"})))

        def vanished(*_args: object) -> list[object]:
            raise FileNotFoundError(2, "No such file or directory", lab.root_ca_file)

        monkeypatch.setattr(context, "load_trust", vanished)
        ok, errors = await daemon.reload()
        await daemon.scheduler.shutdown()
        return ok, errors, daemon, before

    ok, errors, daemon, before = run_async(go())
    assert not ok and "cannot apply the configuration: FileNotFoundError" in errors[0]
    assert daemon.store.reload.successful is False
    assert daemon.scheduler.resources is before and len(daemon.store.states()) == 2
    # Discovery did not take the refused config either (a later discovery change would have applied it).
    assert daemon.fleet.config is daemon.config and len(daemon.config.targets) == 2


def test_a_reload_lets_runs_in_flight_finish_with_their_session(tmp_path: Path) -> None:
    """A reload that rebuilt the resources closed the HTTP session under a run still fetching ("Connector is
    closed"). The old resources now close only when the last run holding them ends."""
    pki_docs: dict[str, bytes] = {}

    def reply(head: bytes) -> bytes:
        path = head.split(b" ", 2)[1].decode()
        body = pki_docs.get(path.removeprefix("/ca/"), b"")
        return (f"HTTP/1.1 {200 if body else 404} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                .encode() + body)

    with CountingListener("127.0.0.1", reply=reply, delay=1.5) as aia:
        pki = LabPKI(f"{aia.url}/ca")
        pki_docs.update(pki.published())
        from tests.net.test_guard import _tls_listener

        listener, port, stop = _tls_listener(pki, ["127.0.0.1"], f"{aia.url}/ocsp", f"{aia.url}/crl", tmp_path)
        (tmp_path / "root.pem").write_bytes(pki.root_pem)
        base = {"trust": {"use_system": False, "ca_files": [str(tmp_path / "root.pem")]},
                "resolver": {"nameservers": ["127.0.0.1:9"], "timeout": "1s"},
                "targets": [{"host": "127.0.0.1", "port": port, "timeout": "6s", "interval": "10m",
                             "checks": ["chain"]}]}

        async def go() -> tuple[str, bool]:
            scheduler = Scheduler(ResultsStore())
            scheduler.apply(Config.model_validate(base))
            old = scheduler.resources
            assert old is not None
            target = Config.model_validate(base).resolved_targets()[0]
            run = asyncio.ensure_future(scheduler.run_once(target))
            await asyncio.sleep(0.7)  # the AIA fetch is in flight on the old session
            scheduler.apply(Config.model_validate(dict(base, resolver={"nameservers": ["127.0.0.1:9"],
                                                                       "timeout": "2s"})))
            assert scheduler.resources is not old
            results = await run
            await asyncio.sleep(0.1)
            closed = old._session is None or old._session.closed
            await scheduler.shutdown()
            result = results["chain"]
            return " ".join(f.detail for f in result.outcome.findings) + (result.error or ""), closed

        try:
            start = time.monotonic()
            details, closed = run_async(go())
        finally:
            stop.set()
            listener.close()
    assert "closed" not in details and "reloaded" not in details, details
    assert time.monotonic() - start > 1.4
    assert "chain_incomplete" in details or "fetched" in details or "from http" in details, details
    assert closed, "the old session is closed once the run that held it ended"
