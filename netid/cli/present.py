"""``netid present <uri>``: answer a relying party's request from the wallet, over HTTP, or a counter's QR.

Presentation only: the work is :func:`netid.wallet.http.present_uri` over the wallet opened with the PIN
(:class:`netid.wallet.session.WalletSession`). The consent prompt is shown in Chinese and English and
answered at the terminal (``--yes`` for tests and scripts that already hold the person's consent).

A counter's QR code (``NETIDC1:…``, an in-person check) is answered with
:func:`netid.wallet.http.answer_counter_qr`: the same checks and consent, and the answer is the dynamic QR
text (``NETIDP1:…``) to show the counter at once — printed, and in ``--json`` as ``dynamic_qr``. Nothing is
posted; the only network use is the RP-revocation check against the issuer's status list.

Exit codes: 0 answered; 8 the wallet refused (its code is printed, and is in ``--json``'s ``error.code``);
7 the relying party or the issuer could not be reached or refused (its problem code likewise); 10 a wrong
PIN; 2 a usage error (e.g. ``--mode face`` without a camera).

``--mode face`` needs face verification enabled in the wallet (``netid face enable``) and a camera. A command
line has no camera: real face capture belongs to platform apps (a phone's camera with a certified liveness
check). Only when ``NETID_TEST_FACE`` is set does this command use the TEST ONLY simulator
(:func:`netid.cli.face.simulated_face`): ``holder`` (the card's holder looks into the camera), ``stranger``
or ``photo`` (a photo held up: the liveness check fails). There is no ``--face-image FILE``: a file is a
photo, which the liveness check exists to refuse.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.markup import escape
from rich.panel import Panel

from netid.cli.exit_codes import ExitCode
from netid.cli.face import SimulatedFace, simulated_check, simulated_face
from netid.cli.output import Output
from netid.cli.problems import CliError, Problem
from netid.cli.wallet import _http, _Secrets, wallet_path

#: what to do about each refusal (the others: the message says)
_REFUSAL_HINTS = {
    "consent_denied": "you declined: nothing was shared",
    "rp_scope": "the relying party asked more than its certificate allows: nothing was shared",
    "rp_certificate": "the relying party's certificate is not valid, or was revoked or suspended: "
    "nothing was shared",
    "request_signature": "the request is not signed by the relying party it names: nothing was shared",
    "client_id": "the request is not from the relying party it names: nothing was shared",
    "response_uri": "the request would send your answer to an address the relying party did not register: "
    "nothing was shared",
    "purpose": "the relying party did not register this purpose: nothing was shared",
    "request": "this is not a valid NetID request: ask the relying party for a new QR code",
    "already_answered": "this wallet answered this very request already: ask the relying party for a new "
    "QR code",
    "no_credential": "`netid credentials` shows what the wallet holds; `netid refresh` fetches more",
    "mode_unavailable": "the request needs a stronger check than this wallet can give (--mode face needs "
    "face verification on: `netid face status` says whether it is, `netid face enable` turns it on)",
    "face_mismatch": "try again, or answer with --mode pin",
}
#: what to do about trouble on the network or at the relying party
_NETWORK_HINTS = {
    "transport": "check the network connection and try again with a new QR code",
    "already_answered": "the relying party has an answer for this request already: ask it for a new one",
    "transaction_expired": "the request expired: ask the relying party for a new QR code",
    "unknown_transaction": "the relying party does not know this request (any more): ask for a new QR code",
}


def _uri(args: argparse.Namespace) -> str:
    text: str = args.uri
    if text == "-":
        text = sys.stdin.readline()
    text = text.strip()
    if not text:
        raise CliError(ExitCode.USAGE, "no request URI given", "the text of the relying party's QR code")
    return text


def _face_check(session: Any, who: SimulatedFace) -> Any:
    if session.face is None:
        return None  # present_uri refuses: mode_unavailable
    return simulated_check(session.face.portrait, who)


def _refused(out: Output, exc: Any) -> ExitCode:
    hint = _REFUSAL_HINTS.get(exc.code)
    problem = Problem(ExitCode.REFUSED, f"the wallet refused the request: {exc}", hint)
    return _fail(out, problem, exc.code, spent=False)


def _trouble(out: Output, exc: Any) -> ExitCode:
    message = f"presenting failed: {exc}"
    if exc.spent:
        message += (
            "; the answer was made and its single-use netcert is used up (the relying party may have "
            "received it; `netid log` shows it)"
        )
    hint = _NETWORK_HINTS.get(exc.code, f"its code is {exc.code}; ask the relying party for a new QR code")
    return _fail(out, Problem(ExitCode.NETWORK, message, hint), exc.code, spent=exc.spent)


def _fail(out: Output, problem: Problem, code: str, *, spent: bool) -> ExitCode:
    if out.json:
        out.emit_json({"error": problem.as_json() | {"code": code, "spent": spent}})
    problem.print()
    return problem.code


def _show_counter_answer(out: Output, path: Any, answered: Any) -> ExitCode:
    entry = answered.entry
    if out.json:
        out.emit_json({
            "wallet": str(path), "dynamic_qr": answered.qr_text, "rp_id": entry.rp_id,
            "rp_name": entry.rp_name, "purpose": entry.purpose, "answers": dict(entry.answers),
        })  # fmt: skip
        return ExitCode.OK
    out.console.print(
        f"  [green]answered[/] {escape(entry.rp_name or '')} ({escape(entry.rp_id or '')}) for "
        f"{escape(repr(entry.purpose))}: show this at the counter now (accepted once, within its window)"
    )
    for question, proven in entry.answers.items():
        out.console.print(
            f"    {escape(question)}: {'yes' if proven else 'not shared (they see: not proven)'}"
        )
    # soft_wrap: the text is copied or scanned as a whole; a terminal's line breaks must not enter it
    out.console.print(answered.qr_text, soft_wrap=True, markup=False, highlight=False)
    return ExitCode.OK


def present_command(out: Output, args: argparse.Namespace) -> ExitCode:
    from netid.errors import PresentationError, WalletRefusal
    from netid.oid4vp.in_person import COUNTER_QR_PREFIX
    from netid.wallet.http import answer_counter_qr, present_uri
    from netid.wallet.session import WalletSession

    uri = _uri(args)
    who: SimulatedFace | None = None
    if args.mode == "face":
        who = simulated_face(
            "--mode face",
            "use --mode pin (NETID_TEST_FACE=holder|stranger|photo runs the TEST ONLY face simulator)",
        )
    if not args.yes and not sys.stdin.isatty():
        raise CliError(
            ExitCode.USAGE,
            "your consent is needed and there is no terminal to ask it at",
            "run it at a terminal, or add --yes when the person has already agreed",
        )
    pins = _Secrets(args)
    path = wallet_path(args)

    def consent(prompt: Any) -> bool:
        text = escape(prompt.text("zh") + "\n\n" + prompt.text("en"))
        out.console.print(Panel(text, title="the wallet asks · 钱包询问", expand=False))
        if args.yes:
            out.console.print("  consent given with --yes")
            return True
        out.console.print(escape("  同意并分享？ Share? [y/N] "), end="")
        return input().strip().lower() in ("y", "yes", "是")

    with WalletSession.open(path, pins.pin()) as session, _http() as http:
        face = _face_check(session, who) if who is not None else None
        if uri.startswith(COUNTER_QR_PREFIX):
            try:
                answered = answer_counter_qr(
                    session, uri, http=http, consent=consent, face=face, issuer_url=args.issuer,
                    mode="pin+face" if args.mode == "face" else "pin",
                )  # fmt: skip
            except WalletRefusal as exc:
                return _refused(out, exc)
            except PresentationError as exc:
                return _trouble(out, exc)
            return _show_counter_answer(out, path, answered)
        try:
            outcome = present_uri(
                session, uri, http=http, consent=consent, mode="pin+face" if args.mode == "face" else "pin",
                face=face, issuer_url=args.issuer, allow_loopback_http=args.allow_loopback_http,
            )  # fmt: skip
        except WalletRefusal as exc:
            return _refused(out, exc)
        except PresentationError as exc:
            return _trouble(out, exc)
    if out.json:
        out.emit_json({"wallet": str(path), **outcome.to_json()})
        return ExitCode.OK
    out.console.print(
        f"  [green]answered[/] {escape(outcome.rp_name)} ({escape(outcome.rp_id)}) for "
        f"{escape(repr(outcome.purpose))}:"
    )
    for question, proven in outcome.answers.items():
        answer = "yes" if proven else "not shared (they see: not proven)"
        out.console.print(f"    {escape(question)}: {answer}")
    if outcome.subject_shared:
        out.console.print(f"    an account identifier only {escape(outcome.rp_name)} gets was shared")
    if outcome.rp_credentials:
        out.console.print(f"  first visit: {outcome.rp_credentials} netcerts for this relying party fetched")
    if outcome.refreshed:
        out.console.print(f"  {outcome.refreshed} new netcerts fetched (the batch was running low)")
    if outcome.redirect_uri:
        out.console.print(f"  continue at: {escape(outcome.redirect_uri)}")
    return ExitCode.OK
