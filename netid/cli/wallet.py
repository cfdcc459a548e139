"""``netid enroll``, ``credentials``, ``refresh``, ``log``, ``revoke``, ``pin change|unlock`` and
``wallet wipe``: the holder's wallet on the command line. Presentation only; the work is done by
:class:`netid.wallet.session.WalletSession` over :class:`netid.wallet.store.WalletStore`.

The wallet file is ``--wallet PATH``, else ``$NETID_WALLET``, else the platform's user data folder
(:func:`netid.wallet.store.default_wallet_path`). PINs are asked at the terminal (never echoed), or read
from ``$NETID_PIN`` / ``$NETID_NEW_PIN`` / ``$NETID_RECOVERY_CODE``, or — with ``--pin-stdin`` — one per
line from standard input, for scripts and tests. A PIN is never printed and never an argument (it would
show in the process list).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import ipaddress
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from netid.cli.exit_codes import ExitCode
from netid.cli.output import Output
from netid.cli.problems import CliError
from netid.errors import UsageError

#: the steps of an enrollment as :func:`netid.wallet.enroll.enroll` reports them, in words
_STEPS = {
    "start": "asking the issuer for a challenge",
    "read": "reading the card (the chip signs the challenge)",
    "complete": "sending the sealed evidence",
    "token": "redeeming the issuer's offer",
    "credentials": "fetching the netcerts (one key proof each)",
    "done": "done",
}


class _AmountColumn(ProgressColumn):
    """Bytes for a file of the card, ``n/m`` for the enrollment's steps."""

    _bytes = DownloadColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("steps"):
            return Text(f"step {int(task.completed)}/{int(task.total or 0)}")
        return self._bytes.render(task)


def wallet_path(args: argparse.Namespace) -> Path:
    """``--wallet``, else ``$NETID_WALLET``, else the platform's user data folder."""
    from netid.wallet.store import default_wallet_path

    given = args.wallet or os.environ.get("NETID_WALLET")
    return Path(given).expanduser() if given else default_wallet_path()


class _Secrets:
    """Where PINs come from: ``--pin-stdin`` lines, else the environment, else the terminal."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._stdin = bool(args.pin_stdin)

    def _line(self, what: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise CliError(ExitCode.USAGE, f"--pin-stdin: standard input ended before the {what}")
        return line.rstrip("\r\n")

    def _ask(self, prompt: str, what: str, env: str) -> str:
        if not sys.stdin.isatty():
            raise CliError(
                ExitCode.USAGE,
                f"the {what} is needed and there is no terminal to ask it at",
                f"set {env} or pass it on standard input with --pin-stdin",
            )
        return getpass.getpass(prompt)

    def get(self, what: str, env: str, prompt: str) -> str:
        if self._stdin:
            return self._line(what)
        value = os.environ.get(env)
        return value if value is not None else self._ask(prompt, what, env)

    def new_pin(self, env: str = "NETID_NEW_PIN") -> str:
        """A new PIN: typed twice at a terminal."""
        if self._stdin:
            return self._line("new PIN")
        value = os.environ.get(env)
        if value is not None:
            return value
        first = self._ask("New wallet PIN (6 or more characters): ", "new PIN", env)
        if self._ask("Repeat the new PIN: ", "new PIN", env) != first:
            raise CliError(ExitCode.USAGE, "the two PINs differ", "run the command again")
        return first

    def pin(self) -> str:
        return self.get("PIN", "NETID_PIN", "Wallet PIN: ")


def _confirm(args: argparse.Namespace, out: Output, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError(ExitCode.USAGE, "confirmation needed and there is no terminal", "add --yes")
    out.console.print(question + " \\[y/N] ", end="")  # escaped: rich would read [y/N] as markup
    if input().strip().lower() not in ("y", "yes"):
        raise CliError(ExitCode.FAILED, "cancelled; nothing was changed")


def iso_time(at: int | None) -> str | None:
    """Unix seconds as ISO 8601 UTC (``2026-11-30T12:00:00Z``), for ``--json`` and the tables."""
    return None if at is None else dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def _issuer_url(text: str) -> str:
    """An ``https`` issuer URL; ``http`` only to a loopback host (a test issuer on this machine)."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"--issuer must be an https URL, got {text!r}")
    if parts.scheme == "http":
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise UsageError(
                "--issuer must be https (http is accepted only for a test issuer on this machine)"
            )
    return url


def _http() -> Any:
    import httpx

    return httpx.Client(timeout=30.0, follow_redirects=False)


# --- netid enroll -----------------------------------------------------------------------------------------


def _guardian_netno(text: str | None) -> str | None:
    """``--guardian``, folded to the canonical network number (a usage error before the card is touched)."""
    if text is None:
        return None
    from netid.credentials.netno import parse_netno
    from netid.errors import NetnoError

    try:
        return parse_netno(text)
    except NetnoError as exc:
        raise CliError(
            ExitCode.USAGE,
            f"--guardian is not a network number: {exc}",
            "the guardian's network number, as `netid credentials` shows it in the guardian's own wallet",
        ) from None


def enroll_command(out: Output, args: argparse.Namespace) -> ExitCode:
    from netid.card.icao.read_document import ReadProgress
    from netid.cli.card import open_card
    from netid.wallet.session import WalletSession
    from netid.wallet.store import wipe_wallet

    issuer = _issuer_url(args.issuer)
    guardian = _guardian_netno(args.guardian)
    card = open_card(args.reader, mrz=args.mrz, can=args.can, trust=[])  # the issuer checks the chain
    reader, key = card.reader, card.access_key
    path = wallet_path(args)
    pins = _Secrets(args)
    created = not path.exists()
    recovery_code = None
    if created:
        session, recovery_code = WalletSession.create(path, pins.new_pin("NETID_PIN"))
        _show_recovery_code(out, recovery_code, path)
    else:
        session = WalletSession.open(path, pins.pin())
    started = time.perf_counter()
    try:
        with (
            session,
            _http() as http,
            Progress(
                TextColumn("  {task.description:<50}"), BarColumn(), _AmountColumn(), console=out.console
            ) as progress,
        ):
            steps = progress.add_task(_STEPS["start"], total=len(_STEPS) - 1, steps=True)
            files: dict[str, TaskID] = {}

            def on_step(step: str) -> None:
                done = list(_STEPS).index(step)
                progress.update(steps, description=escape(_STEPS[step]), completed=done)

            def on_read(event: ReadProgress) -> None:
                if event.file is None:
                    return
                if event.file not in files:
                    files[event.file] = progress.add_task(f"    {escape(event.file)}", total=event.total)
                progress.update(files[event.file], completed=event.done, total=event.total)

            record = session.enroll(
                reader, key, issuer, http=http, batch_size=args.batch, guardian_netno=guardian,
                progress=on_step, read_progress=on_read, connect_timeout=args.timeout,
            )  # fmt: skip
            summary = session.summary()
    except BaseException:
        if created and not session.store.issuers:  # nothing happened at the issuer: no empty wallet left
            wipe_wallet(path)
            out.console.print("  [yellow]the new, empty wallet was removed[/]")
        raise
    elapsed = time.perf_counter() - started
    mine = next(i for i in summary["issuers"] if i["issuer"] == record.issuer_url and not i["revoked_at"])
    if out.json:
        out.emit_json(
            {
                "wallet": str(path),
                "created": created,
                "recovery_code": recovery_code,
                "issuer": record.issuer_url,
                "netno": record.netno,
                "credentials": mine["unused"]["anonymous"] + mine["unused"]["rp"],
                "seconds": round(elapsed, 3),
            }
        )
    else:
        out.console.print(
            f"  [green]enrolled[/] with {escape(record.issuer_url)} in {elapsed:.1f} s: network number "
            f"[bold]{escape(record.netno)}[/], {mine['unused']['anonymous']} single-use netcerts in "
            f"{escape(str(path))}"
        )
    return ExitCode.OK


def _show_recovery_code(out: Output, code: str, path: Path) -> None:
    """Shown once, at creation; with --json it is also in the JSON document."""
    out.console.print(f"  created a new wallet at {escape(str(path))}")
    out.console.print(
        f"  [bold]recovery code: {code}[/]\n"
        "  Write it down and keep it apart from this device: it is shown only now, and it is the only way "
        "to unlock the wallet after too many wrong PINs."
    )


def open_wallet(args: argparse.Namespace, pins: _Secrets | None = None) -> Any:
    """The wallet of ``--wallet`` (or its default), opened with the PIN as the command takes it."""
    from netid.wallet.session import WalletSession

    return WalletSession.open(wallet_path(args), (pins or _Secrets(args)).pin())


# --- netid credentials / refresh ----------------------------------------------------------------------------


def credentials_command(out: Output, args: argparse.Namespace) -> ExitCode:
    with open_wallet(args) as session:
        summary = session.summary()
    if out.json:
        out.emit_json({"wallet": str(wallet_path(args)), **_json_summary(summary)})
        return ExitCode.OK
    if not summary["issuers"]:
        out.console.print("  this wallet is not enrolled: `netid enroll --issuer URL`")
    for issuer in summary["issuers"]:
        revoked = issuer["revoked_at"]
        state = f"[red]revoked {iso_time(revoked)}[/]" if revoked else "[green]active[/]"
        out.console.print(
            f"  issuer {escape(issuer['issuer'])} ({state}), network number {escape(issuer['netno'])}"
        )
        table = Table("netcerts", "count", title=None, show_header=True)
        table.add_row("unused, anonymous (age checks)", str(issuer["unused"]["anonymous"]))
        for sector, count in issuer["unused_by_sector"].items():
            table.add_row(f"unused, for {escape(sector)}", str(count))
        table.add_row("used", str(issuer["used"]))
        table.add_row("revoked", str(issuer["revoked"]))
        table.add_row("next expiry", iso_time(issuer["next_expiry"]) or "-")
        table.add_row("expiring within 3 days", str(issuer["expiring_soon"]))
        out.console.print(table)
        if issuer["refresh_due"]:
            out.console.print("  a refresh is due: `netid refresh` fetches new netcerts")
    return ExitCode.OK


def _json_summary(summary: dict[str, Any]) -> dict[str, Any]:
    issuers = []
    for issuer in summary["issuers"]:
        issuers.append(
            issuer
            | {
                "enrolled_at": iso_time(issuer["enrolled_at"]),
                "refreshed_at": iso_time(issuer["refreshed_at"]),
                "revoked_at": iso_time(issuer["revoked_at"]),
                "next_expiry": iso_time(issuer["next_expiry"]),
                "last_expiry": iso_time(issuer["last_expiry"]),
            }
        )
    return {"issuers": issuers, "log_entries": summary["log_entries"]}


def refresh_command(out: Output, args: argparse.Namespace) -> ExitCode:
    with open_wallet(args) as session, _http() as http:
        with out.console.status("  fetching netcerts from the issuer …"):
            if args.force:
                arrived = session.refresh(http=http, count=args.batch)
            else:
                arrived = session.refresh_if_needed(http=http)
        summary = session.summary()
    if out.json:
        out.emit_json({"arrived": arrived, **_json_summary(summary)})
    elif arrived:
        out.console.print(f"  [green]{arrived} new netcerts[/]")
    else:
        out.console.print("  no refresh due: enough unused netcerts (--force fetches anyway)")
    return ExitCode.OK


# --- netid log ------------------------------------------------------------------------------------------


def log_command(out: Output, args: argparse.Namespace) -> ExitCode:
    from netid.wallet.log import export_json

    with open_wallet(args) as session:
        entries = session.log()
    if args.export:
        _write_private(Path(args.export), export_json(entries))
    if out.json:
        out.emit_json({"entries": [e.to_json() for e in entries], "exported": args.export})
        return ExitCode.OK
    if not entries:
        out.console.print("  the log is empty")
    for entry in entries:
        out.console.print("  " + escape(entry.summary()))
    if args.export:
        out.console.print(f"  written to {escape(args.export)} (readable only by you)")
    return ExitCode.OK


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (the log says who you dealt with)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise CliError(
            ExitCode.FILE,
            f"cannot write --export {path}: {exc.strerror or exc}",
            "choose a file you can write",
        ) from None


# --- netid revoke -----------------------------------------------------------------------------------------


def revoke_command(out: Output, args: argparse.Namespace) -> ExitCode:
    with open_wallet(args) as session:
        issuer = session.issuer()
        _confirm(
            args,
            out,
            f"Revoke every netcert of this device at {escape(issuer.issuer_url)}? It cannot be undone.",
        )
        with _http() as http, out.console.status("  asking the issuer to revoke this device …"):
            revoked = session.revoke_device(http=http)
    if out.json:
        out.emit_json({"issuer": issuer.issuer_url, "revoked": revoked})
    else:
        out.console.print(
            f"  [green]revoked[/]: the issuer revoked {revoked} netcerts of this device; they are deleted "
            "here. `netid enroll` with your card enrolls again."
        )
    return ExitCode.OK


# --- netid pin change / unlock ------------------------------------------------------------------------------


def pin_change_command(out: Output, args: argparse.Namespace) -> ExitCode:
    pins = _Secrets(args)
    with open_wallet(args, pins) as session:
        session.change_pin(pins.new_pin())
    if out.json:
        out.emit_json({"changed": True})
    else:
        out.console.print("  [green]PIN changed[/] (the recovery code stays the same)")
    return ExitCode.OK


def pin_unlock_command(out: Output, args: argparse.Namespace) -> ExitCode:
    from netid.wallet.store import WalletStore

    pins = _Secrets(args)
    code = pins.get("recovery code", "NETID_RECOVERY_CODE", "Recovery code: ")
    WalletStore.recover(wallet_path(args), code, pins.new_pin()).close()
    if out.json:
        out.emit_json({"unlocked": True})
    else:
        out.console.print("  [green]unlocked[/]: the new PIN is set")
    return ExitCode.OK


# --- netid wallet wipe --------------------------------------------------------------------------------------


def wallet_wipe_command(out: Output, args: argparse.Namespace) -> ExitCode:
    from netid.wallet.store import wipe_wallet

    path = wallet_path(args)
    if not path.exists():
        if out.json:
            out.emit_json({"wiped": False, "removed": []})
        else:
            out.console.print(f"  there is no wallet at {escape(str(path))}")
        return ExitCode.OK
    _confirm(
        args,
        out,
        f"Delete the wallet at {escape(str(path))}: its keys, netcerts and your log? Its netcerts stay "
        "valid at the issuer until they expire (`netid revoke` first to revoke them).",
    )
    removed = wipe_wallet(path)
    if out.json:
        out.emit_json({"wiped": True, "removed": [str(p) for p in removed]})
    else:
        out.console.print(f"  [green]wiped[/] {escape(str(path))}")
    return ExitCode.OK
