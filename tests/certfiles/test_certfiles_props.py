"""Property tests: no byte sequence makes the linter raise; every input ends in a verdict."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.catalog.faults import get_fault
from exporter.certfiles import lint_files
from exporter.certfiles.parse import parse_bytes
from exporter.models import Finding
from sslfault_lab.pki import LabPKI

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[bytes, bytes]:
    """A good combined PEM (key, leaf, intermediate, root) and the lab root."""
    pki = LabPKI("http://aia.lab.test/ca")
    leaf = pki.issue_leaf(["www.lab.test"])
    return leaf.key_pem + leaf.cert_pem + pki.ecc_intermediate.cert_pem + pki.root_pem, pki.root_pem


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("props")
    (path / "root.pem").write_bytes(corpus()[1])
    return path


def check_verdict(findings: tuple[Finding, ...] | list[Finding]) -> None:
    for finding in findings:
        get_fault(finding.fault)  # a catalog id
        assert set(finding.data) >= {"file", "line"} and finding.detail
        assert finding.data["line"] is None or finding.data["line"] >= 1


def _lint(workdir: Path, data: bytes) -> None:
    target = workdir / "input.pem"
    target.write_bytes(data)
    result = lint_files([str(target)], key_path=str(target), ca_file=str(workdir / "root.pem"),
                        use_system_roots=False, password=b"pw")
    check_verdict(result.findings)
    assert result.findings or result.certificates  # something was said about it


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_raise(workdir: Path, data: bytes) -> None:
    check_verdict(parse_bytes("random.bin", data).findings)
    _lint(workdir, data)


_EDIT = st.tuples(st.sampled_from(["replace", "insert", "delete", "dup_line", "drop_line"]),
                  st.integers(min_value=0), st.binary(min_size=1, max_size=4))


def mutate(pem: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    for kind, where, chunk in edits:
        if kind in ("dup_line", "drop_line"):
            lines = pem.split(b"\n")
            n = where % len(lines)
            lines[n:n + 1] = [lines[n], lines[n]] if kind == "dup_line" else []
            pem = b"\n".join(lines)
            continue
        at = where % (len(pem) + 1)
        if kind == "replace":
            pem = pem[:at] + chunk + pem[at + len(chunk):]
        elif kind == "insert":
            pem = pem[:at] + chunk + pem[at:]
        else:
            pem = pem[:at] + pem[at + len(chunk):]
    return pem


@SETTINGS
@given(edits=st.lists(_EDIT, min_size=1, max_size=6),
       alphabet=st.sampled_from([b" ", b"\r", b"\t", b"-", b"=", b"\xe3\x80\x80", b"\xef\xbb\xbf", b""]))
def test_mutated_pem_never_raises(workdir: Path, edits: list[tuple[str, int, bytes]], alphabet: bytes) -> None:
    good = corpus()[0]
    edits = [(kind, where, alphabet or chunk) for kind, where, chunk in edits]  # bias toward PEM-ish damage
    _lint(workdir, mutate(good, edits))
