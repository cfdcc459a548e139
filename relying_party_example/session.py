"""The browser session: what the shop remembers about one browser, in a signed cookie.

A :class:`ShopSession` holds the pending check — the ids of the transactions this browser started (the
one behind the QR code and the one behind the same-device link) — and, once the wallet has answered,
what the shop learned: the pairwise subject, the assurance, over 18 yes/no, and whether the name the
customer typed is their real name. Never a disclosed value, never an ID number.

:class:`SessionCodec` puts it in a cookie: ``base64url(JSON) "." base64url(HMAC-SHA256)``, under a key
only the shop holds. The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (another site's
form posts arrive without it; a top-level link back from the wallet, the same-device flow, carries it) and
``Secure`` on https. The answers are signed, not encrypted: the browser may read its own booleans and
subject, it cannot change them. Because the transaction ids live only in this cookie, a transaction started
in one browser can be completed only into that browser: another browser has no cookie naming it and cannot
make one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

__all__ = [
    "COOKIE_NAME",
    "CheckKind",
    "NameCheck",
    "PendingCheck",
    "SessionCodec",
    "ShopSession",
]

COOKIE_NAME: Final = "netid_shop"
CheckKind = Literal["signin", "age", "name"]
CHECK_KINDS: Final[tuple[CheckKind, ...]] = ("signin", "age", "name")
_CONTEXT: Final = b"netid-shop/session/v1\x00"
_MAX_COOKIE: Final = 3800  # below the 4096 bytes browsers keep per cookie, with room for attributes
_FUTURE_SKEW: Final = 60
_MAX_TEXT: Final = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class PendingCheck:
    """A check this browser started: its kind, the cross-device (QR) and same-device (link) transaction
    ids, and for a name check the name the customer typed (the shop's own input)."""

    kind: CheckKind
    cross: str
    same: str
    typed_name: str | None = field(default=None, repr=False)

    def tx_ids(self) -> tuple[str, str]:
        return (self.cross, self.same)


@dataclass(frozen=True, slots=True)
class NameCheck:
    """The last real-name check: the name the customer typed, and whether the wallet proved it."""

    typed: str = field(repr=False)
    match: bool


@dataclass(frozen=True, slots=True)
class ShopSession:
    """What the shop knows about this browser (see the module docstring). ``issued_at`` is when the
    cookie was last written (Unix seconds)."""

    issued_at: int = 0
    subject: str | None = None
    assurance: Mapping[str, Any] | None = None
    doc_valid: bool | None = None
    age_over_18: bool | None = None
    name_check: NameCheck | None = None
    pending: PendingCheck | None = None

    @property
    def signed_in(self) -> bool:
        return self.subject is not None

    def with_pending(self, pending: PendingCheck | None) -> ShopSession:
        return replace(self, pending=pending)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"iat": self.issued_at}
        if self.subject is not None:
            out["sub"] = self.subject
            out["asr"] = dict(self.assurance or {})
        if self.doc_valid is not None:
            out["dv"] = self.doc_valid
        if self.age_over_18 is not None:
            out["a18"] = self.age_over_18
        if self.name_check is not None:
            out["nm"] = [self.name_check.typed, self.name_check.match]
        if self.pending is not None:
            p = self.pending
            out["p"] = [p.kind, p.cross, p.same, p.typed_name]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShopSession:
        """:class:`ValueError` if ``data`` is not what :meth:`to_json` writes."""
        iat = data.get("iat")
        if type(iat) is not int:
            raise ValueError("iat")
        sub, asr, dv, a18 = data.get("sub"), data.get("asr"), data.get("dv"), data.get("a18")
        if not (sub is None or (type(sub) is str and len(sub) <= _MAX_TEXT)):
            raise ValueError("sub")
        if not (asr is None or isinstance(asr, dict)):
            raise ValueError("asr")
        if not all(v is None or type(v) is bool for v in (dv, a18)):
            raise ValueError("dv or a18")
        name_check = None
        if (nm := data.get("nm")) is not None:
            if not (isinstance(nm, list) and len(nm) == 2 and type(nm[0]) is str and type(nm[1]) is bool):
                raise ValueError("nm")
            name_check = NameCheck(nm[0], nm[1])
        pending = None
        if (p := data.get("p")) is not None:
            if not (
                isinstance(p, list)
                and len(p) == 4
                and p[0] in CHECK_KINDS
                and all(type(x) is str and 0 < len(x) <= _MAX_TEXT for x in p[1:3])
                and (p[3] is None or type(p[3]) is str)
            ):
                raise ValueError("p")
            pending = PendingCheck(p[0], p[1], p[2], p[3])
        return cls(
            issued_at=iat,
            subject=sub,
            assurance=asr if sub is not None else None,
            doc_valid=dv,
            age_over_18=a18,
            name_check=name_check,
            pending=pending,
        )


class SessionCodec:
    """Signs and reads the session cookie. ``max_age`` (seconds since the cookie was last written) bounds
    how long one is accepted; ``clock`` gives Unix seconds."""

    def __init__(self, secret: bytes, *, max_age: int, clock: Callable[[], int]) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 bytes")
        self._key = hashlib.sha256(_CONTEXT + secret).digest()
        self.max_age = max_age
        self._clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def dumps(self, session: ShopSession) -> str:
        """The cookie value for ``session``, stamped with the current time."""
        stamped = replace(session, issued_at=self._clock())
        payload = _b64(json.dumps(stamped.to_json(), separators=(",", ":"), ensure_ascii=False).encode())
        value = f"{payload}.{self._mac(payload)}"
        if len(value) > _MAX_COOKIE:
            raise ValueError("the session no longer fits a cookie")
        return value

    def loads(self, value: str | None) -> ShopSession:
        """The session in a cookie value; a new, empty session if there is none, or if it is forged,
        malformed or older than ``max_age``."""
        if not value or len(value) > _MAX_COOKIE or not value.isascii() or value.count(".") != 1:
            return ShopSession()
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return ShopSession()
        try:
            session = ShopSession.from_json(json.loads(_unb64(payload)))
        except (ValueError, binascii.Error, UnicodeDecodeError, TypeError):
            return ShopSession()
        now = self._clock()
        if not now - self.max_age <= session.issued_at <= now + _FUTURE_SKEW:
            return ShopSession()
        return session
