"""Benchmark: basic-auth rejection time for a known user with a wrong password vs an unknown user.

Both must cost one bcrypt comparison, so a caller cannot tell which user names exist.
Prints numbers; asserts nothing. Run: python bench/bench_basic_auth.py [--rounds N]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from pathlib import Path

import bcrypt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.http.webconfig import BasicAuth


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def timed(auth: BasicAuth, value: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        assert not auth.check(value)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--cost", type=int, default=12, help="bcrypt cost of the configured user's hash")
    args = parser.parse_args()
    auth = BasicAuth({"prometheus": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=args.cost)).decode()})
    known = timed(auth, header("prometheus", "wrong"), args.rounds)
    unknown = timed(auth, header("nobody", "wrong"), args.rounds)
    assert auth.check(header("prometheus", "s3cret"))  # the first right answer pays bcrypt once
    start = time.perf_counter()
    for _ in range(args.rounds):
        assert auth.check(header("prometheus", "s3cret"))
    cached = (time.perf_counter() - start) / args.rounds
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"wrong password, known user:   median {k * 1000:.1f} ms")
    print(f"wrong password, unknown user: median {u * 1000:.1f} ms")
    print(f"difference: {abs(k - u) * 1000:.2f} ms ({abs(k - u) / max(k, u) * 100:.1f}% of one check)")
    print(f"right password (after the first, cached): {cached * 1e6:.0f} us per request")


if __name__ == "__main__":
    main()
