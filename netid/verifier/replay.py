"""Single-use enforcement for presentation nonces.

A verified presentation is bound to the request's ``nonce`` by its KB-JWT, so replaying the exact same
``vp_token`` would pass every signature check a second time. The verifier therefore *consumes* the
nonce: the first successful consumption wins, every later one is refused (``nonce_reused``).

:class:`ReplayCache` is a Protocol so a deployment with several verifier processes can back it with a
shared store (e.g. Redis ``SET key 1 NX EXAT <expires_at + 1>``: Redis drops a key *at* its ``EXAT``
instant, while a NetID entry must still be live *during* second ``expires_at``);
:class:`InMemoryReplayCache` is the single-process implementation used by default and in tests.

**Expiry is inclusive.** ``consume(key, expires_at)`` remembers ``key`` through the whole second
``expires_at``: at ``now <= expires_at`` a second call is refused, from ``now > expires_at`` on the key
may be forgotten. Callers pass the *last* second at which they would still accept the presentation (the
online verifier accepts while ``now < request.exp + max_presentation_age`` and passes
``request.exp + max_presentation_age``; the counter accepts while ``now <= iat + window`` and passes
``iat + window``), so a key is never forgotten while its presentation could still be accepted.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["InMemoryReplayCache", "ReplayCache"]


@runtime_checkable
class ReplayCache(Protocol):
    """Remembers consumed keys until they expire."""

    def consume(self, key: str, expires_at: int) -> bool:
        """Record ``key`` as used through ``expires_at`` (Unix seconds, **inclusive**).

        Return ``True`` if this is the first use, ``False`` if the key was already consumed and
        ``now <= expires_at`` of that consumption (the entry is live during the whole second
        ``expires_at`` and may be forgotten only once ``now > expires_at``). Must be atomic: two
        concurrent calls with one key cannot both return ``True``.
        """
        ...


class InMemoryReplayCache:
    """A process-local :class:`ReplayCache` with expiry.

    Entries are dropped once their (inclusive) expiry has passed, i.e. when ``now > expires_at``
    (checked lazily on every call, cheapest-first via a heap), so memory stays proportional to the
    presentations seen within the validity window.
    ``max_entries`` bounds memory under a flood: when full, the call refuses (returns ``False``) rather
    than forgetting a live nonce, because forgetting would re-open a replay window.
    """

    def __init__(self, clock: Callable[[], int], *, max_entries: int = 1_000_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._live: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._live)

    def _expire(self, now: int) -> None:
        heap, live = self._heap, self._live
        while heap and heap[0][0] < now:  # inclusive expiry: live through second ``exp``
            exp, key = heapq.heappop(heap)
            if live.get(key) == exp:
                del live[key]

    def consume(self, key: str, expires_at: int) -> bool:
        now = self._clock()
        if self._heap and self._heap[0][0] < now:
            self._expire(now)
        seen = self._live.get(key)
        if seen is not None and seen >= now:
            return False
        if len(self._live) >= self._max:
            return False
        # Keep the entry at least through this second even if the caller's expiry is already past, so a
        # replay inside the same second is still caught.
        exp = max(expires_at, now)
        self._live[key] = exp
        heapq.heappush(self._heap, (exp, key))
        return True
