"""The ``netid`` command line: every command's arguments, and which function runs it.

Building the parser imports nothing heavy (no rich, no cryptography), so ``netid --help`` and
``netid --version`` are quick and work without the ``cli`` extra. A command names its handler as
``"module:function"`` (the reader registry's convention); :func:`netid.cli.main` imports it when the
command runs. A new command group adds one ``_add_…`` function here and its handlers in their own module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from netid.cli.exit_codes import ExitCode, exit_code_table
from netid.cli.problems import Problem

DESCRIPTION = """\
NetID: read and verify ID card chips, list card readers, and run the whole journey
(card, network certificates, an app's yes/no questions) on a simulated card.

examples:
  netid card readers                          readers attached, and every reader backend
  netid card read --reader sim                read and verify a simulated TEST card
  netid card read --reader pcsc --can 123456 --trust csca.pem
  netid card read --reader sim --json         the same, as JSON for scripts
  netid demo --out demo-out                   card -> issuer -> wallet -> shop asks -> yes/no answers
  netid enroll --issuer https://issuer.example --reader pcsc --can 123456
                                              enroll a card: a PIN-protected wallet with netcerts
  netid present 'openid4vp://?client_id=…&request_uri=…'
                                              answer an app's request (its QR code's text)
  netid credentials | log | revoke | refresh  the wallet's netcerts, your own log, this device
  netid face enable | disable | status        opt in to or out of face verification (the PIN always works)
  netid pin change | unlock,  netid wallet wipe"""

READER_HELP = (
    "sim[:SEED] (a TEST card; sim:SEED:tampered-dgN and sim:SEED:cloned fail verification) | "
    "nfc[:usb[:VID:PID]] | nfc:udp:HOST:PORT | pcsc[:NAME]   (default: sim)"
)


class _Parser(argparse.ArgumentParser):
    """argparse with NetID's error format: the usage, one error line, one hint line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        Problem(ExitCode.USAGE, message, f"`{self.prog} --help` shows the options").print()
        raise SystemExit(ExitCode.USAGE)


class _Version(argparse.Action):
    """``--version``, reading the installed version only when asked (importlib.metadata is slow to load)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> NoReturn:
        import netid

        print(f"netid {netid.__version__}")
        parser.exit(ExitCode.OK)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("the timeout is more than 0 and at most 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``netid`` parser. Each command sets ``handler`` (``"module:function"``, or ``None`` for a group
    that only shows its help) and ``help_parser`` (whose ``--help`` a usage hint names)."""
    parser = _Parser(
        prog="netid",
        description=DESCRIPTION,
        epilog=f"exit codes:\n{exit_code_table()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    parser.set_defaults(handler=None, help_parser=parser)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout for scripts (progress on stderr)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_card(commands, common)
    _add_demo(commands)
    _add_wallet(commands, common)
    return parser


def _add_card(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    card = commands.add_parser("card", help="work with ID card chips", description="Work with ID card chips.")
    card.set_defaults(help_parser=card)
    sub = card.add_subparsers(title="commands", metavar="COMMAND")

    readers = sub.add_parser(
        "readers",
        parents=[common],
        help="list the card readers NetID can use",
        description="List the attached card readers, and every reader backend with its install command.",
    )
    readers.set_defaults(handler="netid.cli.card:readers_command", help_parser=readers)

    read = sub.add_parser(
        "read",
        parents=[common],
        help="read and verify an ID card chip",
        description=(
            "Read an ID card chip and verify it: passive authentication (the data is signed by a Document "
            "Signer that chains to a trusted CSCA) and active authentication (the chip signs a fresh "
            "challenge, so it is not a clone). The personal number is shown masked, also with --json. "
            "Exit code 0: the card verified; 1: it did not (see `netid --help` for the others)."
        ),
    )
    read.set_defaults(handler="netid.cli.card:read_command", help_parser=read)
    _add_card_options(read, trust=True)


def _add_card_options(parser: argparse.ArgumentParser, *, trust: bool) -> None:
    """What every command that reads a card takes (netid.cli.card.open_card reads them): the reader, the
    card's access key and how long to wait; with ``trust``, the CSCA certificates to verify it against."""
    parser.add_argument("--reader", default="sim", metavar="SPEC", help=READER_HELP)
    key = parser.add_mutually_exclusive_group()
    key.add_argument(
        "--mrz",
        metavar="DOCNO,YYMMDD,YYMMDD",
        help="document number, birth date and expiry date, as printed in the MRZ",
    )
    key.add_argument("--can", metavar="NNNNNN", help="the card access number printed on the card")
    if trust:
        parser.add_argument(
            "--trust",
            metavar="CSCA.pem",
            action="append",
            default=[],
            help="a trusted CSCA certificate file (PEM with one or more certificates, or DER); repeatable "
            "(a sim card's TEST CSCA is trusted without it)",
        )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait for a card (default 15)",
    )


def _add_demo(commands: argparse._SubParsersAction[Any]) -> None:
    demo = commands.add_parser(
        "demo",
        help="the whole journey over HTTP: issuer, wallet with a simulated card, the example shop",
        description=(
            "Start the issuer and the example shop on 127.0.0.1, enroll a simulated ID card into a wallet, "
            "sign in to the shop and answer its questions; write what crossed the wire, the issuer's "
            "database and logs to --out, then stop both servers. With --serve they keep running until "
            "Ctrl-C, for clicking through in a browser with `netid present` as the wallet."
        ),
    )
    demo.set_defaults(handler="netid.cli.demo:demo_command", help_parser=demo)
    demo.add_argument("--out", default="demo-out", metavar="DIR", help="where to write what crossed the wire")
    demo.add_argument("--seed", type=int, default=7, help="the test card's seed (default 7)")
    demo.add_argument("--serve", action="store_true", help="keep both servers running until Ctrl-C")


WALLET_HELP = (
    "the wallet file (default: $NETID_WALLET, else the user data folder: $XDG_DATA_HOME/netid/wallet.json on "
    "Linux, ~/Library/Application Support/netid on macOS, %%APPDATA%%\\netid on Windows)"
)


def _positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("a batch is 1 to 100 credentials")
    return value


def _add_wallet(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """The holder's commands (handlers in :mod:`netid.cli.wallet`)."""
    wallet_opts = argparse.ArgumentParser(add_help=False)
    wallet_opts.add_argument("--wallet", metavar="PATH", help=WALLET_HELP)
    wallet_opts.add_argument(
        "--pin-stdin",
        action="store_true",
        help="read the PIN (then the new PIN, where one is set) from standard input, one per line; "
        "otherwise $NETID_PIN (and $NETID_NEW_PIN), else it is asked at the terminal",
    )
    parents = [common, wallet_opts]
    handlers = "netid.cli.wallet"

    enroll = commands.add_parser(
        "enroll",
        parents=parents,
        help="enroll your ID card with an issuer: a network number and a batch of netcerts",
        description=(
            "Read your ID card (the chip signs the issuer's challenge), send the sealed evidence to the "
            "issuer, and store the network number and a batch of single-use netcerts in your wallet, "
            "encrypted under your PIN. The first enrollment creates the wallet and shows its recovery code "
            "once."
        ),
    )
    enroll.set_defaults(handler=f"{handlers}:enroll_command", help_parser=enroll)
    enroll.add_argument("--issuer", required=True, metavar="URL", help="the issuer's URL (https)")
    _add_card_options(enroll, trust=False)  # the issuer verifies the card against its own CSCA list
    enroll.add_argument(
        "--batch", type=_positive_count, default=30, metavar="N", help="netcerts to fetch (default 30)"
    )
    enroll.add_argument(
        "--guardian",
        metavar="NETNO",
        help="for a person under the issuer's self-enrollment age (14 by default): the network number of "
        "an enrolled adult guardian, whom the issuer records",
    )

    present = commands.add_parser(
        "present",
        parents=parents,
        help="answer a relying party's request (the text of its QR code, or its link; or a counter's QR)",
        description=(
            "Fetch the relying party's signed request, check it (signed by a registered RP, asking only "
            "what its certificate allows, answering to one of its own addresses, not revoked), show what it "
            "will learn and ask your consent, then send the minimum: yes/no answers bound to this device. "
            "On first contact with an app that signs you in, netcerts for that app are fetched from the "
            "issuer first. Exit code 8: the wallet refused (the reason's code is shown); 7: the app or the "
            "issuer could not be reached or refused. A counter's QR code (NETIDC1:…, an in-person check) is "
            "answered with a dynamic QR code (NETIDP1:…) to show the counter: nothing is posted."
        ),
    )
    present.set_defaults(handler="netid.cli.present:present_command", help_parser=present)
    present.add_argument(
        "uri",
        metavar="URI",
        help="the request: an openid4vp:// URI or a counter's NETIDC1: text (what its QR code says), "
        "or - to read it",
    )
    present.add_argument(
        "--yes", action="store_true", help="do not ask: the person has agreed already (tests, scripts)"
    )
    present.add_argument(
        "--mode",
        choices=("pin", "face"),
        default="pin",
        help="how you confirm: pin (the wallet PIN; always possible) or face (the PIN and your face against "
        "your card's portrait, on this device only; `netid face enable` turns it on). Real face capture is "
        "for platform apps with a camera: this command has none, and uses the TEST ONLY face simulator only "
        "when NETID_TEST_FACE is set",
    )
    present.add_argument("--issuer", metavar="URL", help="which enrollment to use, when there are several")
    present.add_argument(
        "--allow-loopback-http",
        action="store_true",
        help="DEVELOPMENT ONLY: accept http:// request and response addresses on this machine (127.0.0.1, "
        "::1, localhost), e.g. a relying party under test",
    )

    credentials = commands.add_parser(
        "credentials",
        parents=parents,
        help="the netcerts in your wallet: counts by kind and RP, expiry",
        description="Show the wallet's netcerts: unused ones by kind and RP sector, used, revoked, expiry.",
    )
    credentials.set_defaults(handler=f"{handlers}:credentials_command", help_parser=credentials)

    refresh = commands.add_parser(
        "refresh",
        parents=parents,
        help="fetch new netcerts if the batch runs low or expires soon",
        description="Fetch a new batch with the wallet's refresh token (no card needed) when fewer than 5 "
        "unused netcerts stay valid for 3 more days, or always with --force.",
    )
    refresh.set_defaults(handler=f"{handlers}:refresh_command", help_parser=refresh)
    refresh.add_argument("--force", action="store_true", help="fetch a batch even if none is due")
    refresh.add_argument("--batch", type=_positive_count, default=None, metavar="N", help="how many")

    log = commands.add_parser(
        "log",
        parents=parents,
        help="your own log: who asked what, when, and what was answered",
        description="Show the wallet's log of every request answered or refused, enrollment and revocation.",
    )
    log.set_defaults(handler=f"{handlers}:log_command", help_parser=log)
    log.add_argument("--export", metavar="FILE", help="write the log as JSON to FILE (readable only by you)")

    revoke = commands.add_parser(
        "revoke",
        parents=parents,
        help="revoke this device's netcerts at the issuer",
        description="Ask the issuer to revoke every netcert of this device (signed with the device key) and "
        "delete them from the wallet. It cannot be undone: enroll again with your card afterwards.",
    )
    revoke.set_defaults(handler=f"{handlers}:revoke_command", help_parser=revoke)
    revoke.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    pin = commands.add_parser("pin", help="change the wallet PIN, or unlock a locked wallet")
    pin.set_defaults(help_parser=pin)
    pin_sub = pin.add_subparsers(title="commands", metavar="COMMAND")
    change = pin_sub.add_parser(
        "change",
        parents=parents,
        help="set a new PIN (the recovery code keeps working)",
        description="Set a new wallet PIN: asks the current PIN, then the new one (6 or more characters).",
    )
    change.set_defaults(handler=f"{handlers}:pin_change_command", help_parser=change)
    unlock = pin_sub.add_parser(
        "unlock",
        parents=parents,
        help="unlock the wallet with its recovery code and set a new PIN",
        description="After too many wrong PINs the wallet locks; the recovery code shown when it was created "
        "unlocks it and sets a new PIN. With --pin-stdin: the recovery code, then the new PIN; else "
        "$NETID_RECOVERY_CODE and $NETID_NEW_PIN.",
    )
    unlock.set_defaults(handler=f"{handlers}:pin_unlock_command", help_parser=unlock)

    wallet = commands.add_parser("wallet", help="the wallet file itself")
    wallet.set_defaults(help_parser=wallet)
    wallet_sub = wallet.add_subparsers(title="commands", metavar="COMMAND")
    wipe = wallet_sub.add_parser(
        "wipe",
        parents=parents,
        help="delete the wallet: keys, netcerts and log",
        description="Delete the wallet file (no PIN needed: it is your file). Its netcerts stay valid at the "
        "issuer until they expire; `netid revoke` first to revoke them.",
    )
    wipe.set_defaults(handler=f"{handlers}:wallet_wipe_command", help_parser=wipe)
    wipe.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    _add_face(commands, parents)


def _add_face(commands: argparse._SubParsersAction[Any], parents: list[argparse.ArgumentParser]) -> None:
    """``netid face enable|disable|status``: the holder's opt-in to face verification (handlers in
    :mod:`netid.cli.face`)."""
    face = commands.add_parser(
        "face",
        help="opt in to or out of face verification (your face against your card's portrait)",
        description=(
            "Face verification lets you confirm an answer with your face as well as the PIN (`netid present "
            "--mode face`). It is off until you enable it; the PIN always works."
        ),
    )
    face.set_defaults(help_parser=face)
    sub = face.add_subparsers(title="commands", metavar="COMMAND")
    enable = sub.add_parser(
        "enable",
        parents=parents,
        help="read your card's portrait into the wallet (encrypted, never sent anywhere)",
        description=(
            "Read the portrait (DG2) from the ID card this wallet was enrolled with, verify it by passive "
            "authentication against a trusted CSCA, check that the card's personal number is the one in "
            "your netcerts and that your face matches the portrait once, then keep the portrait only in "
            "this wallet's encrypted file. A person under 14 needs a guardian's consent (--guardian). Real "
            "face capture is for platform apps with a camera: this command has none, and runs only with the "
            "TEST ONLY face simulator (NETID_TEST_FACE=holder|stranger|photo, --reader sim). On any failure "
            "the wallet is left as it was. Exit code 1: the card's data did not pass passive "
            "authentication; 8: the wallet refused (not the enrolled person's card, no guardian consent, "
            "the face did not match); 3: no card."
        ),
    )
    enable.set_defaults(handler="netid.cli.face:face_enable_command", help_parser=enable)
    _add_card_options(enable, trust=True)
    enable.add_argument(
        "--guardian",
        metavar="NETNO",
        help="for a person under 14: the guardian's network number; giving it records that the guardian "
        "consents, now, to face verification for this person",
    )
    disable = sub.add_parser(
        "disable",
        parents=parents,
        help="delete the portrait from the wallet; the PIN keeps working",
        description="Turn face verification off: the portrait (and any guardian consent) is deleted from the "
        "wallet file. Nothing else changes; `netid face enable` turns it on again.",
    )
    disable.set_defaults(handler="netid.cli.face:face_disable_command", help_parser=disable)
    status = sub.add_parser(
        "status",
        parents=parents,
        help="whether face verification is on (never shows the portrait)",
        description="Say whether face verification is on, since when, and whether a guardian consented. "
        "It never shows the portrait or any personal data.",
    )
    status.set_defaults(handler="netid.cli.face:face_status_command", help_parser=status)
