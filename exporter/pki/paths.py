"""What a server sends, judged: the shape of the sent chain, and the verdict with AIA completion.

`judge_served` is the one entry the daemon's checks use (memoised per handshake by the probe
context, so the tls and chain checks share it); `lint-cert` calls `verify.judge` directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509

from exporter.pki.aia import Completion, Fetch, complete
from exporter.pki.roots import TrustStore
from exporter.pki.verify import Problem, Verdict, issued, judge, self_signed, strict_profile_note

# Path building compares certificates pairwise: a 300-certificate "chain" must not cost seconds.
MAX_SERVED = 16


@dataclass(frozen=True)
class ServedShape:
    """How the served certificates relate: the path they form and what else was sent."""

    path: tuple[int, ...]  # indexes into the served list, leaf (0) first, following issuers
    wrong_order: bool
    root_index: int | None  # a self-signed certificate that was sent
    extra: tuple[int, ...]  # sent but not on the path (duplicates, unrelated)


def served_shape(chain: Sequence[x509.Certificate]) -> ServedShape:
    path = [0]
    unused = set(range(1, len(chain)))
    while not self_signed(chain[path[-1]]):
        nxt = next((i for i in sorted(unused) if issued(chain[path[-1]], chain[i])), None)
        if nxt is None:
            break
        path.append(nxt)
        unused.discard(nxt)
    # In order means: the path certificates are sent as leaf, its issuer, its issuer's issuer...
    on_path_in_sent_order = [i for i in range(len(chain)) if i in path]
    wrong_order = on_path_in_sent_order != path or path != list(range(len(path)))
    root = next((i for i in range(1, len(chain)) if self_signed(chain[i])), None)
    extra = tuple(sorted(unused - ({root} if root is not None and root in path else set())))
    return ServedShape(tuple(path), wrong_order, root, extra)


@dataclass(frozen=True)
class Judgement:
    """The verdict on what was sent, completed via AIA when an issuer was missing."""

    verdict: Verdict  # the final one (with fetched issuers when they helped)
    served: Verdict  # on the sent certificates alone
    completion: Completion | None = None  # None: nothing was missing, no fetch tried
    # What checks derive from this verdict alone, kept with it: a judgement is cached and shared by every
    # target that sends the same chain, and so is what follows from it (see the chain check).
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def incomplete(self) -> bool:
        """The sent certificates reach no root, but do once the fetched issuers are added."""
        return not self.served.anchored and self.verdict.anchored


async def judge_served(chain: Sequence[x509.Certificate], trust: TrustStore, at: dt.datetime, fetch: Fetch,
                       max_fetches: int) -> Judgement:
    """`chain` as sent (leaf first, at most MAX_SERVED); `fetch` downloads an AIA caIssuers URL."""
    served = judge(chain[0], chain[1:MAX_SERVED], trust, at)
    missing = not served.anchored and served.issues and served.issues[0].problem is Problem.NO_ISSUER
    if not missing or max_fetches <= 0:
        return Judgement(_noted(served, at), served)
    completion = await complete(served.path[-1], fetch, max_fetches)
    if not completion.fetched:
        return Judgement(served, served, completion)
    completed = judge(chain[0], [*chain[1:MAX_SERVED], *(c for c, _ in completion.fetched)], trust, at)
    return Judgement(_noted(completed, at) if completed.anchored else served, served, completion)


def _noted(verdict: Verdict, at: dt.datetime) -> Verdict:
    note = strict_profile_note(verdict, at)
    return replace(verdict, notes=(*verdict.notes, note)) if note else verdict
