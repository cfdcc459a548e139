"""From an exception to what the person at the terminal sees: one line saying what went wrong, one line
saying what to do, and the exit code a script acts on. No rich here: errors print as plain text, so an
install command such as ``pip install 'netid[pcsc]'`` reaches the terminal intact."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from netid.cli.exit_codes import ExitCode
from netid.errors import (
    AccessControlError,
    ActiveAuthenticationError,
    CardError,
    CardTimeoutError,
    EnrollmentError,
    FaceError,
    NetIDError,
    NoCardError,
    PassiveAuthenticationError,
    ReaderError,
    TagLostError,
    UsageError,
    VerificationError,
    WalletError,
    WalletRefusal,
)


@dataclass(frozen=True)
class Problem:
    """One failure as shown: ``message`` and ``hint`` are one line each; ``reason`` is the SDK's stable
    code for it where a script may act on it (``--json``'s ``error.code``, e.g. ``guardian_required``)."""

    code: ExitCode
    message: str
    hint: str | None = None
    reason: str | None = None

    def print(self, *, file: Any = None) -> None:
        out = file if file is not None else sys.stderr
        print(f"error: {_one_line(self.message)}", file=out)
        if self.hint:
            print(f"hint: {_one_line(self.hint)}", file=out)

    def as_json(self) -> dict[str, Any]:
        document = {"exit_code": int(self.code), "kind": self.code.name.lower(), "message": self.message,
                    "hint": self.hint}  # fmt: skip
        if self.reason is not None:
            document["code"] = self.reason
        return document


class CliError(Exception):
    """Raised by a command for a failure that is not the SDK's: a file it cannot read, a bad value."""

    def __init__(self, code: ExitCode, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.problem = Problem(code, message, hint)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def problem_for(exc: BaseException, *, help_command: str = "netid") -> Problem | None:
    """The :class:`Problem` for ``exc``; ``help_command`` is the command whose ``--help`` the hint names.

    ``None`` when ``exc`` is not a failure NetID reports on purpose: a bug, whose traceback must be seen.
    """
    from netid.card.backends.registry import describe_reader_error
    from netid.errors import MissingBackendError

    if isinstance(exc, CliError):
        return exc.problem
    if isinstance(exc, MissingBackendError):
        return Problem(
            ExitCode.MISSING_PACKAGE,
            describe_reader_error(exc),
            "`netid card readers` shows which reader backends are installed",
        )
    if isinstance(exc, NoCardError | TagLostError | CardTimeoutError):
        return Problem(ExitCode.READER, describe_reader_error(exc), "run the command again")
    if isinstance(exc, ReaderError):
        return Problem(
            ExitCode.READER,
            describe_reader_error(exc),
            "`netid card readers` lists the readers NetID sees and the backends it can use",
        )
    if isinstance(exc, PassiveAuthenticationError | ActiveAuthenticationError | VerificationError):
        return Problem(ExitCode.NOT_VERIFIED, str(exc), "do not accept this card or presentation")
    if isinstance(exc, AccessControlError):
        return Problem(
            ExitCode.CARD,
            str(exc),
            "check the document number, birth date and expiry date (--mrz) or the 6-digit CAN (--can) "
            "printed on the card",
        )
    if isinstance(exc, CardError):
        return Problem(ExitCode.CARD, str(exc), "hold the card still, flat on the reader, and try again")
    if isinstance(exc, UsageError):
        return Problem(ExitCode.USAGE, str(exc), f"`{help_command} --help` shows the options")
    if isinstance(exc, WalletRefusal):
        return Problem(ExitCode.REFUSED, str(exc))
    if isinstance(exc, EnrollmentError):
        return _issuer_problem(exc)
    if isinstance(exc, WalletError):
        return _wallet_problem(exc)
    if isinstance(exc, NetIDError):
        return Problem(ExitCode.FAILED, str(exc) or type(exc).__name__)
    if isinstance(exc, OSError) and exc.filename is not None:
        return Problem(
            ExitCode.FILE,
            f"{exc.filename}: {exc.strerror or exc}",
            "check the path and its permissions",
        )
    return None


#: what to do about an issuer's refusal, by its problem code (others: the message says)
_ISSUER_HINTS = {
    "transport": "check the issuer URL and the network connection, then try again",
    "protocol": "check the issuer URL: the server did not answer as a NetID issuer",
    "invalid_grant": "this device can no longer fetch netcerts with its token: enroll again with your card",
    "device_revoked": "this device was revoked: enroll again with your card",
    "passive_authentication": "the card's data is not signed by an authority this issuer trusts",
    "active_authentication": "the chip did not prove it is genuine: hold the card still and try again",
    "document_expired": "the ID card has expired: enroll with a valid card",
    "guardian_required": "a person this young enrolls with --guardian NETNO (an enrolled adult's netno)",
    "key_attestation_required": "this issuer takes only device keys attested to be in secure hardware; "
    "this wallet keeps its keys in software, so it cannot enroll there",
    "enrollment_unknown": "the enrollment expired: run the command again",
    "rate_limited": "the issuer is busy: wait a minute and try again",
}


def _issuer_problem(exc: EnrollmentError) -> Problem:
    """The issuer could not be reached, or answered with a problem: exit code 7, its code shown."""
    where = {
        "transport": "could not reach the issuer",
        "key_attestation_required": "the issuer requires a key attestation",  # read in its metadata
    }.get(exc.code, f"the issuer answered {exc.code}")
    return Problem(
        ExitCode.NETWORK,
        f"{where}: {exc.message}",
        _ISSUER_HINTS.get(exc.code, f"the issuer's problem code is {exc.code}"),
    )


def _wallet_problem(exc: WalletError) -> Problem:
    """The wallet store's own failures (netid.wallet.store), or another wallet error."""
    from netid import errors

    if isinstance(exc, FaceError):
        return _face_problem(exc)
    if isinstance(exc, errors.WrongPinError):
        hint = (
            "try again; after the last try only the recovery code unlocks it (`netid pin unlock`)"
            if exc.what == "PIN"
            else "check the recovery code shown when the wallet was created"
        )
        return Problem(ExitCode.PIN, str(exc), hint)
    if isinstance(exc, errors.WalletLockedError):
        if exc.recovery_tries_left:
            hint = (
                f"`netid pin unlock` with the recovery code sets a new PIN "
                f"({exc.recovery_tries_left} tries left)"
            )
        else:
            hint = "`netid wallet wipe`, then enroll again with your card"
        return Problem(ExitCode.PIN, str(exc), hint)
    if isinstance(exc, errors.WalletNotFoundError):
        return Problem(
            ExitCode.FAILED, str(exc), "`netid enroll --issuer URL` creates a wallet; --wallet PATH names one"
        )
    if isinstance(exc, errors.WalletFileError):
        return Problem(ExitCode.FILE, str(exc), "check --wallet PATH; a damaged wallet can only be wiped")
    if isinstance(exc, errors.NotEnrolledError):
        return Problem(ExitCode.FAILED, str(exc), "`netid enroll --issuer URL` enrolls your card")
    if isinstance(exc, errors.WalletInUseError):
        return Problem(ExitCode.FAILED, str(exc), "wait for the other netid command to finish")
    return Problem(ExitCode.FAILED, str(exc) or type(exc).__name__, "`netid credentials` shows the wallet")


#: face verification could not be enabled (netid.wallet.face), by its code: the exit code and what to do
_FACE_PROBLEMS = {
    "card": (
        ExitCode.NOT_VERIFIED,
        "nothing was stored: use a genuine card that holds a portrait (a real card also needs --trust with "
        "your country's CSCA certificate)",
    ),
    "not_bound": (
        ExitCode.REFUSED,
        "use the ID card this wallet was enrolled with (`netid refresh` first if it holds no netcert)",
    ),
    "guardian_required": (
        ExitCode.REFUSED,
        "a guardian who consents gives their network number: `netid face enable --guardian NETNO`",
    ),
    "face_mismatch": (ExitCode.REFUSED, "the card's holder must look into the camera: try again"),
    "not_enrolled": (ExitCode.FAILED, "`netid enroll --issuer URL` enrolls your card first"),
}


def _face_problem(exc: FaceError) -> Problem:
    """Face verification was not enabled (the wallet is as it was): its code decides the exit code."""
    exit_code, hint = _FACE_PROBLEMS.get(exc.code, (ExitCode.FAILED, "the PIN keeps working"))
    return Problem(exit_code, f"face verification was not enabled: {exc}", hint, reason=exc.code)
