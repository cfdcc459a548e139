"""``netid face enable``, ``disable`` and ``status``: the holder's opt-in to face verification. Presentation
only; the work is :meth:`netid.wallet.session.WalletSession.enable_face` and
:meth:`~netid.wallet.session.WalletSession.disable_face`, and :mod:`netid.wallet.face` states the rules:
the portrait (DG2) is read from the card this wallet was enrolled with, checked by passive authentication,
and kept only in the wallet's encrypted file; a person under 14 needs a guardian's consent; the PIN path
always exists. The wallet file, the PIN and the card are taken as ``netid enroll`` takes them
(:func:`netid.cli.card.open_card`).

Enabling matches the person's face with the portrait once, so it needs a camera. A command line has none:
real face capture is for platform apps (a phone's camera with a certified liveness check). Like
``netid present --mode face``, this command runs the TEST ONLY simulator
(:class:`netid.wallet.face.SimulatedCamera`) when ``NETID_TEST_FACE`` is set — and only with the simulated
card (``--reader sim``), whose holder is the one face the simulator can show. There is no ``--face-image
FILE``: an image file is a photo, exactly what the liveness check is there to refuse, and the simulated
matcher compares no images.

Nothing here prints the portrait, its size, the guardian's network number or anything else from the card.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from rich.markup import escape

from netid.cli.exit_codes import ExitCode
from netid.cli.output import Output
from netid.cli.problems import CliError
from netid.cli.wallet import iso_time, open_wallet, wallet_path

if TYPE_CHECKING:
    from netid.wallet.face import FaceCheck, FaceRecord

#: who looks into the TEST ONLY simulated camera: the card's holder, a stranger, a photo of the holder
SimulatedFace = Literal["holder", "stranger", "photo"]
SIMULATED_FACES: Final[tuple[SimulatedFace, ...]] = ("holder", "stranger", "photo")


def simulated_face(needs: str, hint: str) -> SimulatedFace:
    """Who looks into the TEST ONLY simulated camera (``$NETID_TEST_FACE``). Without it, a usage error saying
    that ``needs`` a camera (this command has none), with ``hint``."""
    who = os.environ.get("NETID_TEST_FACE", "").strip().lower()
    if not who:
        message = f"{needs} needs a camera: real face capture is for platform (phone) apps, not this command"
        raise CliError(ExitCode.USAGE, message, hint)
    for face in SIMULATED_FACES:
        if who == face:
            return face
    raise CliError(
        ExitCode.USAGE,
        f"NETID_TEST_FACE must be one of {', '.join(SIMULATED_FACES)}",
        "holder: the card's holder looks into the camera; stranger: someone else; photo: a photo held up",
    )


def simulated_check(portrait: bytes, who: SimulatedFace) -> FaceCheck:
    """TEST ONLY: the simulated camera pointed at ``who`` (``holder``: the person of ``portrait``)."""
    from netid.wallet.face import FaceCheck, SimulatedCamera, SimulatedFaceMatcher

    return FaceCheck(SimulatedFaceMatcher(), SimulatedCamera(portrait, who=who))


def _state(path: Path, record: FaceRecord | None) -> dict[str, Any]:
    """What ``--json`` says about face verification: on or off, since when, whether a guardian consented
    (not who: the guardian's network number stays in the wallet)."""
    return {
        "wallet": str(path),
        "enabled": record is not None,
        "enabled_at": iso_time(record.enabled_at) if record is not None else None,
        "guardian_consent": record is not None and record.guardian is not None,
    }


# --- netid face enable ------------------------------------------------------------------------------------


def face_enable_command(out: Output, args: argparse.Namespace) -> ExitCode:
    from netid.card.icao.document import EmrtdDocument
    from netid.cli.card import open_card
    from netid.wallet.face import GuardianConsent

    # every usage error before the PIN is asked and before the card is touched
    who = simulated_face(
        "enabling face verification",
        "NETID_TEST_FACE=holder|stranger|photo with --reader sim runs the TEST ONLY face simulator",
    )
    guardian = GuardianConsent(args.guardian, given_at=int(time.time())) if args.guardian else None
    card = open_card(args.reader, mrz=args.mrz, can=args.can, trust=args.trust)
    if card.test_card is None:
        raise CliError(
            ExitCode.USAGE,
            "the TEST ONLY face simulator (NETID_TEST_FACE) can show only the simulated card's holder",
            "use --reader sim[:SEED]; a real card needs a platform app with a camera",
        )
    # the simulator's "holder" is the person on the simulated card: the camera sees their portrait
    portrait = EmrtdDocument.from_files(card.test_card.files).portrait or b""
    path = wallet_path(args)
    with open_wallet(args) as session:
        name = escape(str(getattr(card.reader, "name", args.reader)))
        with out.console.status(f"  reading the portrait from the card on [bold]{name}[/] …"):
            record = session.enable_face(
                card.reader, card.access_key, simulated_check(portrait, who), guardian=guardian,
                csca=card.trust, connect_timeout=args.timeout,
            )  # fmt: skip
        state = _state(path, record)
    if out.json:
        out.emit_json(state)
        return ExitCode.OK
    consent = " with the guardian's consent" if state["guardian_consent"] else ""
    out.console.print(
        f"  [green]face verification is on[/]{consent}: the card's portrait passed passive authentication "
        "and is kept only in this wallet, encrypted; it is never sent. `netid present --mode face` uses it; "
        "the PIN keeps working; `netid face disable` deletes it."
    )
    return ExitCode.OK


# --- netid face disable / status --------------------------------------------------------------------------


def face_disable_command(out: Output, args: argparse.Namespace) -> ExitCode:
    path = wallet_path(args)
    with open_wallet(args) as session:
        deleted = session.disable_face()
        state = _state(path, session.face)
    if out.json:
        out.emit_json(state | {"deleted": deleted})
    elif deleted:
        out.console.print(
            "  [green]face verification is off[/]: the portrait was deleted from the wallet; the PIN "
            "confirms every answer"
        )
    else:
        out.console.print("  face verification is off (it was not on: nothing to delete)")
    return ExitCode.OK


def face_status_command(out: Output, args: argparse.Namespace) -> ExitCode:
    path = wallet_path(args)
    with open_wallet(args) as session:
        state = _state(path, session.face)
    if out.json:
        out.emit_json(state)
    elif state["enabled"]:
        consent = ", with a guardian's consent" if state["guardian_consent"] else ""
        out.console.print(
            f"  face verification is [green]on[/] since {state['enabled_at']}{consent}: the portrait is kept "
            "only in this wallet, encrypted (`netid face disable` deletes it)"
        )
    else:
        out.console.print(
            "  face verification is [bold]off[/]: the PIN confirms every answer (`netid face enable` turns "
            "it on)"
        )
    return ExitCode.OK
