"""The chain corpus judged both by the pki engine and by `openssl verify`.

Three sources: synthetic chains (the private-CA profile cases of issue 11, weak crypto, cross
signing, path lengths...), the public vectors of `cryptography_vectors` (NIST PKITS, real
chains and roots), and the real Mozilla roots of certifi as anchors.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from exporter.pki.certinfo import quiet
from exporter.pki.roots import system_roots
from tests.support.certmaker import DAY, KU_CA, NOW, Made, leaf, make, name

UTC = dt.UTC


@dataclass(frozen=True)
class Case:
    name: str
    leaf: x509.Certificate
    untrusted: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]
    at: dt.datetime = NOW


def _pem(certs: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def openssl_verify(case: Case, workdir: Path) -> tuple[bool, str]:
    """OpenSSL's default verification with the case's roots only (no system CApath/CAstore)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "leaf.pem").write_bytes(_pem([case.leaf]))
    (workdir / "roots.pem").write_bytes(_pem(case.roots))
    command = ["openssl", "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(workdir / "roots.pem"),
               "-attime", str(int(case.at.timestamp()))]
    if case.untrusted:
        (workdir / "untrusted.pem").write_bytes(_pem(case.untrusted))
        command += ["-untrusted", str(workdir / "untrusted.pem")]
    done = subprocess.run([*command, str(workdir / "leaf.pem")], capture_output=True, text=True, timeout=30)
    return done.returncode == 0, (done.stdout + done.stderr).strip().replace("\n", " | ")


def openssl_verify_many(cases: list[Case], workdir: Path) -> list[tuple[bool, str]]:
    """`openssl_verify` for many cases, one openssl run per group sharing roots, chain and time
    (`openssl verify` takes several leaf files and reports each)."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault((case.roots, case.untrusted, case.at), []).append(index)
    out: list[tuple[bool, str]] = [(False, "")] * len(cases)
    for number, indexes in enumerate(groups.values()):
        first = cases[indexes[0]]
        folder = workdir / f"group{number}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "roots.pem").write_bytes(_pem(first.roots))
        command = ["openssl", "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(folder / "roots.pem"),
                   "-attime", str(int(first.at.timestamp()))]
        if first.untrusted:
            (folder / "untrusted.pem").write_bytes(_pem(first.untrusted))
            command += ["-untrusted", str(folder / "untrusted.pem")]
        leaves = []
        for index in indexes:
            leaf_file = folder / f"leaf{index}.pem"
            leaf_file.write_bytes(_pem([cases[index].leaf]))
            leaves.append(str(leaf_file))
        done = subprocess.run([*command, *leaves], capture_output=True, text=True, timeout=120)
        lines = (done.stdout + done.stderr).splitlines()
        for index, leaf_file in zip(indexes, leaves, strict=True):
            ok = f"{leaf_file}: OK" in lines
            said = [line for line in lines if leaf_file in line or line.startswith("error ")]
            out[index] = ok, " | ".join(said[:3])
    return out


# -- synthetic ------------------------------------------------------------------------------


def _chain(name_: str, root: Made, *cas: Made, leaf_cert: Made | None = None, **leaf_kw: object) -> Case:
    top = cas[-1] if cas else root
    end = leaf_cert or leaf(f"{name_}.test", top, **leaf_kw)
    return Case(name_, end.cert, tuple(c.cert for c in reversed(cas)), (root.cert,))


def synthetic() -> Iterator[Case]:
    root = make("Corpus Root")
    rsa_root = make("Corpus RSA Root", key_kind="rsa2048")
    yield _chain("ok-ec", root, make("Int EC", root))
    yield _chain("ok-rsa", rsa_root, make("Int RSA", rsa_root, key_kind="rsa2048"), key_kind="rsa2048")
    yield _chain("ok-leaf-direct-from-root", root)
    # Private-CA profile details OpenSSL and browsers accept
    yield _chain("int-bc-not-critical", root, make("Int BC", root, bc_critical=False))
    yield _chain("root-bc-not-critical", (r := make("Root BC", bc_critical=False)), make("Int", r))
    yield _chain("int-without-keyusage", root, make("Int no KU", root, ku=None))
    yield _chain("root-without-keyusage", (r := make("Root no KU", ku=None)), make("Int", r))
    yield _chain("int-keyusage-not-critical", root, make("Int KU", root, ku_critical=False))
    yield _chain("int-aki-without-keyid", root, make("Int AKI", root, aki="issuer_serial"))
    yield _chain("leaf-aki-without-keyid", root, (i := make("Int", root)),
                 leaf_cert=leaf("aki.test", i, aki="issuer_serial"))
    yield _chain("no-ski-no-aki", root, make("Int bare", root, ski=False, aki="none"),
                 ski=False, aki="none")
    yield _chain("all-quirks-together", (r := make("Quirky Root", bc_critical=False, ku=None)),
                 make("Quirky Int", r, bc_critical=False, ku=None, aki="issuer_serial"))
    # Not a CA, or not allowed to sign certificates
    yield _chain("int-ca-false", root, make("Int CA false", root, ca=False))
    yield _chain("int-no-bc-keycertsign", root, make("Int no BC", root, ca=None))
    yield _chain("int-no-bc-no-ku", root, make("Int nothing", root, ca=None, ku=None))
    yield _chain("int-ku-without-certsign", root, make("Int KU DS", root, ku=("digital_signature",)))
    yield _chain("root-ca-false", (r := make("Root CA false", ca=False)), make("Int", r))
    yield _chain("root-no-bc-keycertsign", (r := make("Root no BC", ca=None)), make("Int", r))
    yield _chain("root-no-bc-no-ku", (r := make("Root nothing", ca=None, ku=None)), make("Int", r))
    yield _chain("root-ku-without-certsign", (r := make("Root KU DS", ku=("digital_signature",))), make("Int", r))
    yield _chain("leaf-is-ca", root, make("Int", root), ca=True)
    yield _chain("leaf-without-bc", root, make("Int", root), ca=None)
    # Key identifiers
    yield _chain("int-aki-wrong-keyid", root, make("Int wrong AKI", root, aki="wrong"))
    yield _chain("leaf-aki-wrong-keyid", root, (i := make("Int", root)), leaf_cert=leaf("w.test", i, aki="wrong"))
    # Validity at the moment judged
    yield _chain("leaf-expired", root, make("Int", root), not_before=NOW - 100 * DAY, not_after=NOW - DAY)
    yield _chain("leaf-not-yet-valid", root, make("Int", root), not_before=NOW + DAY, not_after=NOW + 90 * DAY)
    yield _chain("int-expired", root, make("Int old", root, not_before=NOW - 400 * DAY, not_after=NOW - DAY))
    yield _chain("int-not-yet-valid", root, make("Int new", root, not_before=NOW + DAY, not_after=NOW + 900 * DAY))
    yield _chain("root-expired", (r := make("Root old", not_before=NOW - 400 * DAY, not_after=NOW - DAY)),
                 make("Int", r))
    renewed_key = make("Int renewable", root)
    expired_twin = make("Int renewable", root, key=renewed_key.key, not_before=NOW - 400 * DAY,
                        not_after=NOW - DAY)
    yield Case("expired-and-renewed-intermediate-both-sent", leaf("renew.test", renewed_key).cert,
               (expired_twin.cert, renewed_key.cert), (root.cert,))
    # Shape of what is sent
    i1, i2 = make("Int level 1", root, path_length=1), None
    i2 = make("Int level 2", i1)
    end = leaf("order.test", i2)
    yield Case("wrong-order", end.cert, (i1.cert, i2.cert), (root.cert,))
    yield Case("missing-intermediate", end.cert, (i1.cert,), (root.cert,))
    yield Case("leaf-only", end.cert, (), (root.cert,))
    yield Case("with-root-sent", end.cert, (i2.cert, i1.cert, root.cert), (root.cert,))
    yield Case("duplicates-and-extras", end.cert, (i2.cert, i2.cert, make("Unrelated", root).cert, i1.cert),
               (root.cert,))
    yield Case("intermediate-as-only-anchor", end.cert, (i2.cert,), (i1.cert,))
    yield Case("intermediate-and-root-anchors", end.cert, (), (i2.cert, i1.cert, root.cert))
    yield Case("trusted-intermediate-untrusted-root", end.cert, (root.cert,), (i1.cert, i2.cert))
    yield Case("leaf-itself-in-store", end.cert, (i2.cert, i1.cert), (end.cert,))
    other = make("Other Root")
    yield Case("unknown-root-sent", end.cert, (i2.cert, i1.cert, root.cert), (other.cert,))
    # Self-signed
    alone = leaf("self.test", None)
    yield Case("self-signed-untrusted", alone.cert, (), (root.cert,))
    yield Case("self-signed-trusted", alone.cert, (), (alone.cert,))
    yield Case("self-signed-ca-trusted", root.cert, (), (root.cert,))
    yield Case("self-signed-expired-trusted", (x := leaf("old.test", None, not_after=NOW - DAY)).cert, (), (x.cert,))
    # Signatures
    impostor = make("Int", root)  # same name as the real issuer, another key, no identifiers to tell
    real = make("Int", root)
    yield Case("bad-signature", leaf("sig.test", real, aki="none").cert, (impostor.cert,), (root.cert,))
    yield Case("wrong-name", leaf("name.test", real, issuer_name=name("Nobody")).cert, (real.cert,), (root.cert,))
    yield Case("name-case-and-spaces", leaf("case.test", real, issuer_name=x509.Name(
        [x509.NameAttribute(x509.oid.NameOID.ORGANIZATION_NAME, "pki  CORPUS"),
         x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, " int")])).cert, (real.cert,), (root.cert,))
    # Path length
    yield from _path_lengths(root)
    # Cross-signing (the 2021 Let's Encrypt case: an expired cross-sign next to a trusted new root)
    yield from _cross_signed()
    # Critical extensions
    yield _chain("leaf-unknown-critical", root, make("Int", root), unknown_critical=True)
    yield _chain("int-unknown-critical", root, make("Int crit", root, unknown_critical=True))
    yield _chain("root-unknown-critical", (r := make("Root crit", unknown_critical=True)), make("Int", r))
    # Weak crypto: trusted by OpenSSL, refused by browsers (its own fault id)
    yield from _weak(rsa_root)
    # Key types
    yield _chain("ed25519-chain", (r := make("Ed Root", key_kind="ed25519")), make("Ed Int", r, key_kind="ed25519"),
                 key_kind="ed25519")
    yield _chain("mixed-rsa-root-ec-leaf", rsa_root, make("Int mixed", rsa_root))
    # A loop without a root: must end, untrusted
    a_key, b_key = make("Loop A").key, make("Loop B").key
    loop_a = make("Loop A", Made(make("Loop B", key=b_key).cert, b_key), key=a_key)
    loop_b = make("Loop B", Made(make("Loop A", key=a_key).cert, a_key), key=b_key)
    yield Case("issuer-loop", leaf("loop.test", loop_a).cert, (loop_a.cert, loop_b.cert), (root.cert,))


def _path_lengths(root: Made) -> Iterator[Case]:
    a0 = make("PL A0", root, path_length=0)
    yield _chain("pathlen-0-violated", root, a0, make("PL B", a0))
    a1 = make("PL A1", root, path_length=1)
    yield _chain("pathlen-1-respected", root, a1, make("PL B1", a1))
    r0 = make("PL Root0", path_length=0)
    yield _chain("root-pathlen-0-one-intermediate", r0, make("PL Int", r0))
    yield _chain("root-pathlen-0-leaf-direct", r0)
    # A self-issued intermediate (key rollover) does not count towards pathLen
    a0b = make("PL Rollover", root, path_length=0)
    rolled = make("PL Rollover", a0b, path_length=0)
    yield _chain("pathlen-self-issued-not-counted", root, a0b, rolled)
    deep = [root]
    for level in range(5):
        deep.append(make(f"Deep {level}", deep[-1]))
    yield _chain("five-intermediates", root, *deep[1:])


def _cross_signed() -> Iterator[Case]:
    old_root = make("Cross Old Root")
    new_root = make("Cross New Root")
    cross = make("Cross New Root", old_root, key=new_root.key)  # the new root's key, signed by the old root
    expired_cross = make("Cross New Root", old_root, key=new_root.key, not_before=NOW - 900 * DAY,
                         not_after=NOW - DAY)
    issuing = make("Cross Issuing", new_root)
    end = leaf("cross.test", issuing)
    yield Case("cross-only-old-root-trusted", end.cert, (issuing.cert, cross.cert), (old_root.cert,))
    yield Case("cross-only-new-root-trusted", end.cert, (issuing.cert, cross.cert), (new_root.cert,))
    yield Case("cross-both-roots-trusted", end.cert, (issuing.cert, cross.cert), (old_root.cert, new_root.cert))
    yield Case("cross-expired-new-root-trusted", end.cert, (issuing.cert, expired_cross.cert), (new_root.cert,))
    yield Case("cross-expired-only-old-root-trusted", end.cert, (issuing.cert, expired_cross.cert),
               (old_root.cert,))
    yield Case("cross-new-root-sent-untrusted", end.cert, (issuing.cert, new_root.cert, cross.cert),
               (old_root.cert,))


def _weak(rsa_root: Made) -> Iterator[Case]:
    sha1_int = make("SHA1 Int", rsa_root, key_kind="rsa2048", hash_name="sha1")
    yield _chain("sha1-intermediate", rsa_root, sha1_int)
    strong_int = make("Strong Int", rsa_root, key_kind="rsa2048")
    yield _chain("md5-leaf", rsa_root, strong_int, key_kind="rsa2048", hash_name="md5")
    yield _chain("sha1-leaf", rsa_root, strong_int, hash_name="sha1")
    yield _chain("rsa512-intermediate", rsa_root, make("RSA512 Int", rsa_root, key_kind="rsa512"))
    yield _chain("rsa512-leaf", rsa_root, strong_int, key_kind="rsa512")
    yield _chain("rsa1024-leaf", rsa_root, strong_int, key_kind="rsa1024")
    sha1_root = make("SHA1 Root", key_kind="rsa2048", hash_name="sha1")
    yield _chain("sha1-self-signed-root", sha1_root, make("Int", sha1_root))


# -- public vectors ------------------------------------------------------------------------


def vectors_dir() -> Path:
    import cryptography_vectors

    return Path(cryptography_vectors.__file__).parent / "x509"


def _load_any(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    with quiet():
        if b"-----BEGIN" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]


PKITS_AT = dt.datetime(2020, 6, 1, tzinfo=UTC)  # inside the PKITS 2011 certificates' validity


def _parsable(path: Path) -> x509.Certificate | None:
    """None for the PKITS certificates cryptography cannot parse (DSA keys with inherited parameters)."""
    try:
        cert = _load_any(path)[0]
        cert.public_key()
    except ValueError:
        return None
    return cert


def pkits() -> Iterator[Case]:
    """Every NIST PKITS end-entity certificate, with all PKITS CA certificates as the untrusted pool."""
    certs = vectors_dir() / "PKITS_data" / "certs"
    anchor = _load_any(certs / "TrustAnchorRootCertificate.crt")[0]
    pool = tuple(c for p in sorted(certs.glob("*.crt"))
                 if not p.name.endswith("EE.crt") and p.name != "TrustAnchorRootCertificate.crt"
                 and (c := _parsable(p)) is not None)
    for path in sorted(certs.glob("*EE.crt")):
        if (cert := _parsable(path)) is not None:
            yield Case(f"pkits/{path.stem}", cert, pool, (anchor,), PKITS_AT)


def real_chains() -> Iterator[Case]:
    """Real certificates from the vectors, judged against Mozilla's roots (certifi)."""
    roots = system_roots()
    base = vectors_dir()
    chain = _load_any(base / "cryptography.io.chain.pem")
    at = chain[0].not_valid_before_utc + 30 * DAY
    yield Case("real/cryptography.io-chain", chain[0], tuple(chain[1:]), roots, at)
    yield Case("real/cryptography.io-leaf-only", chain[0], (), roots, at)
    for file in ("letsencryptx3.pem", "rapidssl_sha256_ca_g3.pem", "department-of-state-root.pem",
                 "wosign-bc-invalid.pem", "v1_cert.pem", "verisign_md2_root.pem", "accvraiz1.pem",
                 "ecdsa_root.pem", "e-trust.ru.der"):
        cert = _load_any(base / file)[0]
        at = cert.not_valid_before_utc + DAY
        yield Case(f"real/{file}", cert, (), roots, at)
        yield Case(f"real/{file}-as-its-own-anchor", cert, (), (cert,), at)


def mozilla_roots(limit: int | None = None) -> Iterator[Case]:
    """Each certifi root as the leaf: trusted against the bundle at NOW, untrusted against another root."""
    roots = system_roots()
    for index, root in enumerate(roots[:limit]):
        label = root.subject.rfc4514_string()[:60]
        yield Case(f"mozilla/{index:03d} {label}", root, (), roots, NOW)
        if index % 10 == 0:
            yield Case(f"mozilla/{index:03d} {label} (not in store)", root, (), (roots[index - 1],), NOW)


__all__ = ["KU_CA", "Case", "mozilla_roots", "openssl_verify", "openssl_verify_many", "pkits", "real_chains",
           "synthetic"]
