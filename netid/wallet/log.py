"""The holder's own log: who asked what, when, what the wallet answered, and what it refused.

The national rules give a person the right to see how their identity was used; this is where a NetID
wallet keeps that record for them. It lives inside the encrypted wallet store
(:class:`netid.wallet.store.WalletStore`) and nowhere else: the issuer and the relying parties never see it.

An entry records only what the wallet itself knows and did:

- **who**: the RP's name and id *from its issuer-signed access certificate* (never from the unsigned parts
  of a request). A request refused before its certificate checked out is logged without a name: an
  unverified name could be anyone's, and a log that repeats it would help a phisher;
- **when** (the wallet's clock), the registered **purpose**, and the **questions** (predicate names such as
  ``age_over_18``, ``name_equals``, ``region_in``);
- **what was answered**, per question, as the wallet disclosed it: ``True`` when it proved the predicate,
  ``False`` when it withheld the claim (the RP then sees "not proven"). For comparisons (``name_equals``,
  ``id_number_equals``, ``region_in``) that is all: the values the RP sent to compare are **never** stored,
  only that a comparison was asked and whether it matched;
- whether a **subject identifier** (the pairwise ``sub`` for that RP) or the **network number** was shared;
- for a refusal, its stable **code** (``rp_scope``, ``request_signature``, ``consent_denied``, …).

Enrollment, refresh and revocation are logged too (``event``), so the person sees when credentials arrived
and when this device was revoked.

:func:`presentation_entry` builds an entry from what the presentation path has at hand — the checked
:class:`~netid.oid4vp.request.RequestTerms`, the names of the disclosed claims, and the outcome (``None``
for success, the :class:`~netid.errors.WalletRefusal` otherwise) — which is exactly the signature of the
``log`` hook of :class:`netid.wallet.Wallet`. :func:`export_json` writes a list of entries for the person to
keep or read.

>>> entry = LogEntry(event="refused", at=1_795_000_000, refusal="request_signature")
>>> entry.summary()
'2026-11-18 11:06 UTC  refused an unverified request (request_signature)'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from netid.errors import UsageError, WalletRefusal
from netid.oid4vp.request import RequestTerms

__all__ = ["EVENTS", "Event", "LogEntry", "export_json", "presentation_entry"]

Event = Literal["presented", "refused", "enrolled", "refreshed", "revoked"]
#: what an entry can record
EVENTS: Final[tuple[Event, ...]] = ("presented", "refused", "enrolled", "refreshed", "revoked")
#: the export's ``format`` member
EXPORT_FORMAT: Final = "netid-wallet-log/1"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the holder's log (see the module docstring for what each member means).

    ``answers`` maps each asked predicate to whether the wallet proved it (``True``) or withheld it
    (``False``); it is empty for a refusal (nothing was disclosed). ``credentials`` counts credentials
    received (``enrolled``/``refreshed``) or revoked (``revoked``).
    """

    event: Event
    at: int
    rp_id: str | None = None
    rp_name: str | None = None
    purpose: str | None = None
    questions: tuple[str, ...] = ()
    answers: Mapping[str, bool] = field(default_factory=dict)
    subject_shared: bool = False
    netno_shared: bool = False
    refusal: str | None = None
    issuer: str | None = None
    credentials: int | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise UsageError(f"unknown log event {self.event!r}")
        if (self.event == "refused") != (self.refusal is not None):
            raise UsageError("a refusal, and only a refusal, carries its code")

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (the form it is stored and exported in)."""
        return {
            "event": self.event,
            "at": self.at,
            "time": _iso(self.at),
            "rp_id": self.rp_id,
            "rp_name": self.rp_name,
            "purpose": self.purpose,
            "questions": list(self.questions),
            "answers": dict(self.answers),
            "subject_shared": self.subject_shared,
            "netno_shared": self.netno_shared,
            "refusal": self.refusal,
            "issuer": self.issuer,
            "credentials": self.credentials,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogEntry:
        """Read back :meth:`to_json` (``UsageError`` if it is not one)."""
        try:
            answers = data.get("answers") or {}
            if not isinstance(answers, Mapping) or not all(isinstance(v, bool) for v in answers.values()):
                raise TypeError("answers")
            return cls(
                event=data["event"],
                at=int(data["at"]),
                rp_id=data.get("rp_id"),
                rp_name=data.get("rp_name"),
                purpose=data.get("purpose"),
                questions=tuple(str(q) for q in data.get("questions") or ()),
                answers={str(k): v for k, v in answers.items()},
                subject_shared=bool(data.get("subject_shared", False)),
                netno_shared=bool(data.get("netno_shared", False)),
                refusal=data.get("refusal"),
                issuer=data.get("issuer"),
                credentials=data.get("credentials"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError("not a wallet log entry") from exc

    def summary(self) -> str:
        """One line in plain words, for a terminal."""
        when = _iso(self.at)[:16].replace("T", " ") + " UTC"
        who = f"{self.rp_name} ({self.rp_id})" if self.rp_name else None
        if self.event == "refused":
            target = f"a request from {who}" if who else "an unverified request"
            return f"{when}  refused {target} ({self.refusal})"
        if self.event == "presented":
            parts = [f"{q}: {'yes' if self.answers.get(q) else 'not shared'}" for q in self.questions]
            if self.subject_shared:
                parts.append("account identifier shared")
            if self.netno_shared:
                parts.append("network number shared")
            asked = "; ".join(parts) or "that you are a verified person"
            return f"{when}  answered {who} for {self.purpose!r}: {asked}"
        count = f"{self.credentials} credentials" if self.credentials is not None else "credentials"
        verbs = {"enrolled": "enrolled with", "refreshed": "received new credentials from",
                 "revoked": "revoked this device at"}  # fmt: skip
        return f"{when}  {verbs[self.event]} {self.issuer} ({count})"


def _iso(at: int) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def presentation_entry(
    terms: RequestTerms | None,
    disclosed: Collection[str] | None,
    refusal: WalletRefusal | None,
    *,
    at: int,
) -> LogEntry:
    """The entry for one presentation request: answered (``refusal`` is ``None``; ``disclosed`` names the
    claims the wallet disclosed) or refused (``terms`` is ``None`` when the request itself did not check
    out: then nothing about the RP is trusted, so nothing is recorded about it)."""
    if refusal is None and (terms is None or disclosed is None):
        raise UsageError("an answered request needs its terms and what was disclosed")
    questions = tuple(p.name for p in terms.predicates) if terms is not None else ()
    who: dict[str, Any] = {}
    if terms is not None:
        who = {"rp_id": terms.certificate.rp_id, "rp_name": terms.certificate.name, "purpose": terms.purpose}
    if refusal is not None:
        return LogEntry(event="refused", at=at, questions=questions, refusal=refusal.code, **who)
    assert terms is not None and disclosed is not None
    shown = frozenset(disclosed)
    answers = {
        # an identifier request is answered by presenting it; a value predicate by disclosing its claim
        p.name: (p.claim in shown or p.claim == "sub") if p.values is None else p.claim in shown
        for p in terms.predicates
    }
    return LogEntry(
        event="presented",
        at=at,
        questions=questions,
        answers=answers,
        # an RP-scoped credential answers both, and its subject is always visible
        subject_shared=terms.wants_subject or terms.wants_netno,
        netno_shared="netno" in shown,
        **who,
    )


def export_json(entries: Iterable[LogEntry]) -> str:
    """The log as one JSON document (UTF-8 text), newest last, for the person to keep."""
    document = {"format": EXPORT_FORMAT, "entries": [e.to_json() for e in entries]}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
