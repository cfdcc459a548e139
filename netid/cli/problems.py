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
    NetIDError,
    NoCardError,
    PassiveAuthenticationError,
    ReaderError,
    TagLostError,
    UsageError,
    VerificationError,
    WalletRefusal,
)


@dataclass(frozen=True)
class Problem:
    """One failure as shown: ``message`` and ``hint`` are one line each."""

    code: ExitCode
    message: str
    hint: str | None = None

    def print(self, *, file: Any = None) -> None:
        out = file if file is not None else sys.stderr
        print(f"error: {_one_line(self.message)}", file=out)
        if self.hint:
            print(f"hint: {_one_line(self.hint)}", file=out)

    def as_json(self) -> dict[str, Any]:
        return {"exit_code": int(self.code), "kind": self.code.name.lower(), "message": self.message,
                "hint": self.hint}  # fmt: skip


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
    from netid.card.backends.registry import MissingBackendError, describe_reader_error

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
    if isinstance(exc, NetIDError):
        return Problem(ExitCode.FAILED, str(exc) or type(exc).__name__)
    if isinstance(exc, OSError) and exc.filename is not None:
        return Problem(
            ExitCode.FILE,
            f"{exc.filename}: {exc.strerror or exc}",
            "check the path and its permissions",
        )
    return None
