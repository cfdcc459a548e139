"""Building and signing Token Status Lists, and drawing status indices (the issuer's side).

The list format and its parsing are :mod:`netid.credentials.status_list`; the rules for drawing indices are
``specs/protocol.md`` §3 rule 6.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Final

from netid.credentials.jose import sign_jws
from netid.credentials.status_list import STATUS_LIST_TYP, StatusList
from netid.errors import UsageError
from netid.issuance.keys import IssuerKey

__all__ = ["MAX_FILL", "RECOMMENDED_MIN_LIST_SIZE", "allocate_indices", "status_claim", "status_list_token"]

#: Recommended minimum number of entries in a list that batch indices are drawn from (protocol.md §3).
RECOMMENDED_MIN_LIST_SIZE: Final = 2**16
#: :func:`allocate_indices` refuses once more than this share of a list would be in use.
MAX_FILL: Final = 0.5


def allocate_indices(size: int, used: Collection[int], count: int, rng: Callable[[int], bytes]) -> list[int]:
    """``count`` distinct status indices drawn uniformly at random from ``range(size)`` minus ``used``.

    Batch credentials MUST NOT get consecutive indices (protocol.md §3): two RPs that see ``idx`` 4711
    and 4712 with the same day-aligned ``iat`` would link one person. Rejection sampling over
    ``rng(4)`` (32-bit draws, reduced without modulo bias), so the result is uniform over the free
    indices and deterministic for a seeded ``rng``. Pure: the caller records the result in ``used``.

    Raises :class:`UsageError` if ``size``/``count`` are not sensible, or if the allocation would leave
    more than half of the list (:data:`MAX_FILL`) in use — a fuller list makes the remaining indices
    guessable from one another and rejection sampling slow; start a new list instead.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= 2**32:
        raise UsageError("size must be an integer in 1..2^32")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UsageError("count must be a non-negative integer")
    if len(used) + count > size * MAX_FILL:
        raise UsageError("status list is too full for this batch: start a new list")
    limit = (2**32 // size) * size  # accept draws below a multiple of size: no modulo bias
    out: list[int] = []
    taken: set[int] = set()
    while len(out) < count:
        r = int.from_bytes(rng(4), "big")
        if r >= limit:
            continue
        idx = r % size
        if idx in used or idx in taken:
            continue
        taken.add(idx)
        out.append(idx)
    return out


def status_claim(uri: str, idx: int) -> dict[str, Any]:
    """The credential's ``status`` claim value pointing at entry ``idx`` of the list at ``uri``."""
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise UsageError("idx must be a non-negative integer")
    return {"status_list": {"idx": idx, "uri": uri}}


def status_list_token(
    lst: StatusList,
    key: IssuerKey,
    *,
    sub: str,
    iat: int,
    exp: int | None = None,
    ttl: int | None = None,
) -> str:
    """Sign ``lst`` as a Status List Token (JWT, ``typ: statuslist+jwt``) for the list at URI ``sub``,
    with the issuer's status-list key."""
    if key.purpose != "status_list":
        raise UsageError("status lists are signed with the issuer's status_list key")
    payload: dict[str, Any] = {"sub": sub, "iat": iat}
    if exp is not None:
        payload["exp"] = exp
    if ttl is not None:
        payload["ttl"] = ttl
    payload["status_list"] = {"bits": lst.bits, "lst": lst.encode_lst()}
    return sign_jws(payload, key.signer, typ=STATUS_LIST_TYP, kid=key.kid)
