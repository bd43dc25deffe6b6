"""Watched certificate files in the daemon: certbot live/ symlinks swapped, broken files, metrics."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sslfault_lab.lab import Lab
from sslfault_lab.pki import DAY
from tests.support.processes import http_get, start_exporter, stop_process, wait_for


def _swap(link: Path, target: str) -> None:
    """What certbot does: point live/ at a new archive version with an atomic rename."""
    tmp = link.with_name(link.name + ".new")
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _series(text: str, name: str, target: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name) and f'target="{target}"' in line]


def test_watched_files_follow_symlink_swaps_and_report_broken_files(lab: Lab, tmp_path: Path) -> None:
    pki = lab.pki
    archive, live = tmp_path / "archive" / "shop", tmp_path / "live" / "shop"
    archive.mkdir(parents=True)
    live.mkdir(parents=True)
    good = pki.issue_leaf(["shop.example.com"])
    old = pki.issue_leaf(["shop.example.com"], not_before=pki.now - 100 * DAY, not_after=pki.now - 2 * DAY)
    (archive / "fullchain1.pem").write_bytes(good.cert_pem + pki.ecc_intermediate.cert_pem)
    (archive / "privkey1.pem").write_bytes(good.key_pem)
    (archive / "fullchain2.pem").write_bytes(old.cert_pem + pki.ecc_intermediate.cert_pem)
    (archive / "privkey2.pem").write_bytes(old.key_pem)
    _swap(live / "fullchain.pem", "../../archive/shop/fullchain1.pem")
    _swap(live / "privkey.pem", "../../archive/shop/privkey1.pem")
    broken_dir = tmp_path / "upload"
    broken_dir.mkdir()
    (broken_dir / "site.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")

    config = {
        "trust": {"use_system": False, "ca_files": [lab.root_ca_file]},
        "cert_files": [
            {"path": str(tmp_path / "live" / "*" / "fullchain.pem"), "key": "{dir}/privkey.pem", "interval": "1h",
             "poll": "0.3s"},
            {"path": str(broken_dir / "*.crt"), "poll": "0.3s"},
        ],
    }
    proc, base = start_exporter(config, tmp_path)
    shop = f"file:{live / 'fullchain.pem'}"
    broken = f"file:{broken_dir / 'site.crt'}"
    try:
        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 20, "files linted once")
        text = http_get(f"{base}/metrics")[1]
        not_after = float(_series(text, "sslfault_cert_not_after_timestamp_seconds", shop)[0].split()[-1])
        assert not_after == good.cert.not_valid_after_utc.timestamp()
        assert not _series(text, "sslfault_fault{", shop)
        assert f'sslfault_fault{{address="",fault="cert_file_invalid_pem",severity="critical",target="{broken}"}} 1.0' in text
        # Each file's interval, for the staleness alert: 1h as configured, else the defaults' (5m).
        assert f'sslfault_target_interval_seconds{{target="{shop}"}} 3600.0' in text
        assert f'sslfault_target_interval_seconds{{target="{broken}"}} 300.0' in text

        # Renewal wrote only the certificate (key still the old one): caught before a reload serves it.
        _swap(live / "fullchain.pem", "../../archive/shop/fullchain2.pem")
        wait_for(lambda: 'fault="cert_file_key_mismatch"' in "".join(
            _series(http_get(f"{base}/metrics")[1], "sslfault_fault{", shop)), 15, "key mismatch after the swap")
        text = http_get(f"{base}/metrics")[1]
        assert 'fault="cert_expired"' in "".join(_series(text, "sslfault_fault{", shop))
        not_after = float(_series(text, "sslfault_cert_not_after_timestamp_seconds", shop)[0].split()[-1])
        assert not_after == old.cert.not_valid_after_utc.timestamp() < dt.datetime.now(dt.UTC).timestamp()

        # The key follows: only the expiry remains. Then the file disappears: so does its target.
        _swap(live / "privkey.pem", "../../archive/shop/privkey2.pem")
        wait_for(lambda: 'cert_file_key_mismatch' not in http_get(f"{base}/metrics")[1], 15, "mismatch to clear")
        (broken_dir / "site.crt").unlink()
        wait_for(lambda: broken not in http_get(f"{base}/metrics")[1], 15, "removed file to vanish")
    finally:
        stop_process(proc)
