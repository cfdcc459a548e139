"""The NetID exception tree.

Every error the SDK raises on purpose derives from :class:`NetIDError`. The split follows h11: a
*remote* party sending garbage (a card, a wallet, a token) is distinguished from a *local* misuse of the
API, so callers can tell "reject this input" from "fix your code".

Parsers of untrusted bytes (APDUs, TLV, MRZ, data groups, SOD, JWTs, requests) raise only
:class:`ParseError` for malformed input; nothing else escapes them.
"""

from __future__ import annotations


class NetIDError(Exception):
    """Base class of every error NetID raises on purpose."""


class UsageError(NetIDError, ValueError):
    """The caller misused the API (bad argument, wrong state). A bug in the calling code."""


class ParseError(NetIDError, ValueError):
    """Untrusted input was malformed: truncated, over-long, wrongly tagged or out of range.

    ``what`` names the structure being parsed (e.g. ``"BER-TLV"``, ``"DG1"``, ``"EF.SOD"``) so a log
    line says where the input broke without echoing the input itself.
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


# --- card layer ---------------------------------------------------------------------------------


class CardError(NetIDError):
    """Anything that went wrong talking to an ID card chip."""


class ReaderError(CardError):
    """The reader or its transport failed (no reader, driver error, protocol error on the link)."""


class NoReaderError(ReaderError):
    """No reader is attached or the named reader does not exist."""


class NoCardError(ReaderError):
    """No card was presented to the reader within the wait time."""


class TagLostError(ReaderError):
    """The card left the field (or was pulled) in the middle of an exchange. Hold the card still."""


class CardTimeoutError(ReaderError):
    """The card did not answer in time."""


class CardStatusError(CardError):
    """The card answered with an error status word (ISO 7816-4 §5.6)."""

    #: status word this class stands for, or ``None`` for a family/unknown one
    sw: int | None = None

    def __init__(self, sw: int, message: str | None = None) -> None:
        self.sw = sw
        super().__init__(message or f"card returned status {sw:04X}")


class SecureMessagingError(CardError):
    """A secure-messaging response failed its MAC check or was malformed: the channel is broken."""


class AccessControlError(CardError):
    """BAC or PACE failed: the access key (MRZ data or CAN) is wrong or the chip refused."""


class PassiveAuthenticationError(CardError):
    """Passive authentication failed.

    ``check`` is a stable code naming the failed step (``"sod_signature"``, ``"ds_chain"``,
    ``"ds_validity"``, ``"dg_hash"``, ``"dg_missing"``, ``"algorithm"``); ``data_group`` names the
    data group for hash failures (e.g. ``"DG11"``).
    """

    def __init__(self, check: str, message: str, data_group: str | None = None) -> None:
        super().__init__(message)
        self.check = check
        self.data_group = data_group


class ActiveAuthenticationError(CardError):
    """Active authentication failed: the chip could not prove it holds the DG15 key (possible clone)."""


# --- credentials and verification -----------------------------------------------------------------


class NetnoError(NetIDError, ValueError):
    """A network number is malformed or its check character does not match."""


class CredentialError(NetIDError):
    """An SD-JWT / netcert could not be issued, presented or processed."""


class VerificationError(NetIDError):
    """A presentation failed verification.

    ``code`` is stable and machine-readable (e.g. ``"issuer_signature"``, ``"nonce_reused"``); the
    message is for humans and never contains claim values.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
