"""Which replica probes which target: rendezvous (highest random weight) hashing on the target name.

Every replica scores each target name against every shard index and owns the names where its
own index scores highest. The scores depend only on (index, name), so replicas agree without
talking to each other, and going from N to N+1 shards moves only the names the new index wins:
about 1/(N+1) of them, all onto the new shard. Removing the last shard moves only its names.

The score is the first 8 bytes of BLAKE2b over "<index>\\0<name>" (big-endian), so it is the
same on every machine and Python version (unlike hash()).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass

_ORDINAL = re.compile(r"-(\d+)$")


def score(index: int, name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{index}\0{name}".encode(), digest_size=8).digest(), "big")


def owner(name: str, count: int) -> int:
    """The shard index (0..count-1) that owns `name`."""
    if count == 1:
        return 0
    return max(range(count), key=lambda index: score(index, name))


@dataclass(frozen=True)
class Shard:
    """This replica's place: index `index` of `count` shards (0 of 1: everything, no sharding)."""

    count: int = 1
    index: int = 0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"--shard.count must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            hint = "; give --shard.count, the number of replicas, too" if self.count == 1 else ""
            raise ValueError(f"--shard.index must be from 0 to {self.count - 1} (--shard.count {self.count}), "
                             f"got {self.index}{hint}")

    def owns(self, name: str) -> bool:
        return self.count == 1 or owner(name, self.count) == self.index


def index_from_hostname(hostname: str | None = None) -> int:
    """The ordinal at the end of a StatefulSet pod's name: sslfault-2 -> 2.

    Without an argument: $HOSTNAME (Kubernetes sets it to the pod name), else the system's host name."""
    name = hostname if hostname is not None else (os.environ.get("HOSTNAME") or socket.gethostname())
    match = _ORDINAL.search(name.split(".", 1)[0])
    if match is None:
        raise ValueError(f"host name {name!r} does not end in -<number> (a StatefulSet pod name such as sslfault-2)")
    return int(match[1])
