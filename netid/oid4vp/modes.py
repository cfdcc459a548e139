"""Holder-authentication modes (CTID-style): how the holder unlocked the device key for a presentation.

The wallet states its mode in the KB-JWT ``amr`` claim (RFC 8176 values); a request may ask for a
minimum (``netid.min_mode``). Both sides rank modes the same way, from this module.

>>> amr_for_mode("pin", hardware_key=True)
['hwk', 'pin']
>>> mode_from_amr(["swk", "pin", "face"])
'pin+face'
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["MODES", "AuthMode", "amr_for_mode", "mode_from_amr", "mode_rank"]

AuthMode = Literal["device", "pin", "face", "pin+face"]

#: CTID-style holder authentication modes, weakest first. ``face`` ranks above ``pin`` because it binds
#: the presentation to the enrolled person rather than to a shared secret.
MODES: Final[tuple[AuthMode, ...]] = ("device", "pin", "face", "pin+face")

_RANK: Final[dict[str, int]] = {m: i for i, m in enumerate(MODES)}

# RFC 8176 authentication method reference values carried in the KB-JWT ``amr`` claim.
_AMR_DEVICE_HW: Final = "hwk"
_AMR_DEVICE_SW: Final = "swk"


def mode_rank(mode: str) -> int:
    """Position of ``mode`` in :data:`MODES` (higher is stronger); ``-1`` if unknown."""
    return _RANK.get(mode, -1)


def amr_for_mode(mode: AuthMode, *, hardware_key: bool) -> list[str]:
    """The RFC 8176 ``amr`` list a wallet puts in its KB-JWT for ``mode``."""
    amr = [_AMR_DEVICE_HW if hardware_key else _AMR_DEVICE_SW]
    if mode in ("pin", "pin+face"):
        amr.append("pin")
    if mode in ("face", "pin+face"):
        amr.append("face")
    return amr


def mode_from_amr(amr: object) -> AuthMode | None:
    """Map a KB-JWT ``amr`` value back to a mode; ``None`` if absent or not understood."""
    if type(amr) is list and len(amr) <= 3 and all(type(a) is str for a in amr):
        cached = _AMR_CACHE.get(tuple(amr))
        if cached is not None:
            return cached
    return _mode_from_amr(amr)


def _mode_from_amr(amr: object) -> AuthMode | None:
    if not isinstance(amr, list) or not all(isinstance(a, str) for a in amr) or len(set(amr)) != len(amr):
        return None
    methods = set(amr)
    if not methods & {_AMR_DEVICE_HW, _AMR_DEVICE_SW}:
        return None
    extra = methods - {_AMR_DEVICE_HW, _AMR_DEVICE_SW}
    if extra - {"pin", "face"}:
        return None
    if extra == {"pin", "face"}:
        return "pin+face"
    if extra == {"face"}:
        return "face"
    if extra == {"pin"}:
        return "pin"
    return "device"


#: the amr lists wallets send, pre-mapped (the verifier's hot path looks them up instead of parsing)
_AMR_CACHE: Final[dict[tuple[str, ...], AuthMode]] = {
    tuple(amr_for_mode(m, hardware_key=hw)): m for m in MODES for hw in (True, False)
}
