"""A small LRU with per-entry expiry and an optional total weight: the AIA and CRL caches."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any


class TTLCache:
    """Bounded in entries (and bytes, when weights are given) so hostile URLs cannot grow it."""

    def __init__(self, max_entries: int = 512, max_weight: int | None = None) -> None:
        self._data: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        self._max = max_entries
        self._max_weight = max_weight
        self._weight = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> Any | None:
        item = self._data.get(key)
        if item is None or item[0] < time.monotonic():
            self._pop(key)
            return None
        self._data.move_to_end(key)
        return item[1]

    def put(self, key: str, value: Any, ttl: float, weight: int = 0) -> None:
        if self._max_weight is not None and weight > self._max_weight:
            return  # larger than the whole cache: never kept
        self._pop(key)
        self._data[key] = (time.monotonic() + ttl, value, weight)
        self._weight += weight
        while len(self._data) > self._max or (self._max_weight is not None and self._weight > self._max_weight):
            self._pop(next(iter(self._data)))

    def _pop(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self._weight -= item[2]
