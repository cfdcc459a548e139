"""The ``netid`` command's exit codes: one table, read by ``netid --help``, the README and the tests.

Like ``grep``: 0 is yes, 1 is no, 2 and above are trouble. A script that reads a card can therefore tell a
card that failed verification (reject it) from a reader that lost the card (try again) from its own
mistake (fix the command). Codes never change meaning; new ones are added at the end of their range.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``netid`` exits with. :data:`EXIT_CODES` says what each means, in words."""

    OK = 0
    NOT_VERIFIED = 1
    USAGE = 2
    READER = 3
    CARD = 4
    FILE = 5
    MISSING_PACKAGE = 6
    NETWORK = 7
    REFUSED = 8
    FAILED = 9
    PIN = 10
    INTERNAL = 70
    INTERRUPTED = 130


#: every exit code with its meaning, in the order ``netid --help`` and the README list them
EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "success; for `card read`: the card was read and passed passive and active authentication",
    ExitCode.NOT_VERIFIED: "read, but NOT genuine or not trusted: passive or active authentication failed",
    ExitCode.USAGE: "bad command line or input value (an unknown reader spec, a malformed `--mrz` date)",
    ExitCode.READER: "reader trouble: no reader, no card, the card moved away or stopped answering",
    ExitCode.CARD: "the chip refused: wrong MRZ data or CAN, an error status, broken secure messaging",
    ExitCode.FILE: "a file given on the command line cannot be read, parsed or written (`--trust`, `--out`)",
    ExitCode.MISSING_PACKAGE: "an optional package is not installed: a reader backend, or rich",
    ExitCode.NETWORK: "the issuer or a relying party was unreachable or refused: its problem code is shown",
    ExitCode.REFUSED: "the wallet refused a request (outside the RP's certificate, badly signed, declined) "
    "or to enable face verification (not the enrolled card, no guardian's consent, another face)",
    ExitCode.FAILED: "another failure NetID reported; the message says which",
    ExitCode.PIN: "wrong wallet PIN or recovery code (the message says how many tries are left), or locked",
    ExitCode.INTERNAL: "a bug in NetID: the traceback is printed; please report it",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_table() -> str:
    """The table as plain text, for ``netid --help``."""
    return "\n".join(f"  {int(code):>3}  {text.replace('`', '')}" for code, text in EXIT_CODES.items())
