"""``netid card …``: list readers, read and verify a card. Presentation only; the work is done by
:func:`~netid.card.icao.read_document.read_document_with_retry` and
:func:`~netid.card.icao.verify_document.verify_document`.

Everything that came from a card or a reader (names, certificate subjects, error texts) is printed
escaped: a reader named ``ACS ACR1252 [PICC]`` or a hostile chip's ``[link=…]`` is text, not markup.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.table import Table

from netid.card.backends.registry import backends, list_readers, open_reader
from netid.card.icao.access import AccessKey, CanAccessKey, MrzAccessKey
from netid.card.icao.passive_auth import CscaTrustStore
from netid.card.icao.read_document import CardReadout, ReadProgress, read_document_with_retry
from netid.card.icao.verify_document import VerifiedDocument, verify_document
from netid.card.interface import CardReader
from netid.cli.exit_codes import ExitCode
from netid.cli.output import Output
from netid.cli.problems import CliError
from netid.errors import (
    ActiveAuthenticationError,
    CardError,
    ParseError,
    PassiveAuthenticationError,
    UsageError,
)

if TYPE_CHECKING:
    from netid.testing.cards import TestCard

# --- netid card readers ---------------------------------------------------------------------------------


def readers_command(out: Output, args: argparse.Namespace) -> ExitCode:
    found = list_readers()
    kinds = backends()
    if out.json:
        out.emit_json(
            {
                "readers": [{"kind": r.kind, "name": r.name, "spec": r.spec} for r in found],
                "backends": [
                    {
                        "kind": b.kind,
                        "description": b.description,
                        "installed": b.available(),
                        "install": None if b.available() else b.install,
                    }
                    for b in kinds
                ],
            }
        )
        return ExitCode.OK
    table = Table("kind", "name", "use with --reader", title="Card readers")
    for info in found:
        table.add_row(escape(info.kind), escape(info.name), escape(info.spec))
    out.console.print(table)
    backend_table = Table("kind", "status", "what it reads", title="Reader backends")
    for backend in kinds:
        status = (
            "[green]installed[/]"
            if backend.available()
            else f"[yellow]not installed[/]: {escape(backend.install or '')}"
        )
        backend_table.add_row(escape(backend.kind), status, escape(backend.description))
    out.console.print(backend_table)
    return ExitCode.OK


# --- netid card read ------------------------------------------------------------------------------------


def read_with_progress(
    console: Console, reader: CardReader, access_key: AccessKey, *, aa_challenge: bytes, timeout: float = 15.0
) -> CardReadout:
    """Read a card showing one progress bar per file; one clean retry if the card is moved away."""
    with Progress(
        TextColumn("  {task.description:<14}"),
        BarColumn(),
        DownloadColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(event: ReadProgress) -> None:
            if event.file is None:
                return
            if event.file not in tasks:
                tasks[event.file] = progress.add_task(escape(event.file), total=event.total)
            progress.update(tasks[event.file], completed=event.done, total=event.total)

        name = escape(str(getattr(reader, "name", "reader")))
        console.print(f"  waiting for a card on [bold]{name}[/] …")
        return read_document_with_retry(
            reader, access_key, aa_challenge=aa_challenge, progress=on_progress, connect_timeout=timeout
        )


@dataclass(frozen=True)
class ReadReport:
    """What a read established: the readout, and either the verified document or why verification failed."""

    readout: CardReadout
    verified: VerifiedDocument | None
    failure: PassiveAuthenticationError | ActiveAuthenticationError | None

    @property
    def ok(self) -> bool:
        return self.verified is not None


def verify_readout(readout: CardReadout, verify: Callable[[], VerifiedDocument]) -> ReadReport:
    try:
        return ReadReport(readout, verify(), None)
    except (PassiveAuthenticationError, ActiveAuthenticationError) as exc:
        return ReadReport(readout, None, exc)


_CURVES = {12: "NIST P-256", 13: "brainpoolP256r1"}


def render_verification(
    console: Console, readout: CardReadout, verify: Callable[[], VerifiedDocument]
) -> bool:
    """Print what was read and the passive/active authentication verdicts; True when both passed."""
    report = verify_readout(readout, verify)
    render_report(console, report)
    return report.ok


def render_report(console: Console, report: ReadReport) -> None:
    readout = report.readout
    protocol: str = readout.access_protocol
    if readout.pace_parameter_id is not None:
        curve = _CURVES.get(readout.pace_parameter_id, "?")
        protocol += f" (ECDH generic mapping, {curve}, AES-128 secure messaging)"
    else:
        protocol += " (3DES secure messaging)"
    console.print(f"  access control     [bold]{protocol}[/]")
    console.print(
        f"  APDUs exchanged    {readout.apdu_count}"
        f" ({'extended' if readout.extended_length else 'short'}-length reads)"
    )
    failure = report.failure
    if isinstance(failure, PassiveAuthenticationError):
        where = f" ({failure.data_group})" if failure.data_group else ""
        console.print(
            f"  passive auth       [bold red]FAILED[/] {escape(f'{failure.check}{where}: {failure}')}"
        )
    elif isinstance(failure, ActiveAuthenticationError):
        console.print("  passive auth       [green]passed[/]")
        console.print(f"  active auth        [bold red]FAILED[/]: {escape(str(failure))}")
    if failure is not None:
        console.print("  verdict            [bold red]NOT VERIFIED[/]: do not accept this card")
        return
    verified = report.verified
    assert verified is not None
    pa = verified.passive
    console.print(
        f"  passive auth       [green]passed[/] — SOD {escape(pa.signature_algorithm)}, "
        f"DG hashes {escape(pa.hash_algorithm)} for DG{', DG'.join(map(str, pa.data_groups))}"
    )
    console.print(f"                     signed by {escape(pa.ds_subject)}")
    console.print(f"                     chained to {escape(pa.csca_subject)}")
    if verified.chip_auth == "aa":
        console.print(
            "  active auth        [green]passed[/] — the chip signed our fresh challenge (not a clone)"
        )
    else:
        console.print("  active auth        [yellow]not supported by this chip[/]")
    doc = verified.document
    table = Table("field", "value", title="Personal data read from the chip", show_header=False)
    number = doc.masked_personal_number
    rows = [
        ("name", doc.full_name),
        ("personal number", f"{number} (masked)" if number else "none on this card"),
        ("date of birth", doc.date_of_birth.isoformat()),
        ("sex", doc.sex),
        ("nationality", doc.nationality),
        ("document", f"{doc.mrz.document_code} {doc.document_number}, expires {doc.date_of_expiry}"),
    ]
    if doc.portrait is not None:
        rows.append(("portrait", f"{len(doc.portrait)} bytes {doc.portrait_mime}"))
    for field, value in rows:
        table.add_row(field, escape(value))
    console.print(table)


def report_json(report: ReadReport, *, reader: str) -> dict[str, Any]:
    """The report for ``--json``: verdicts and the document as the text output shows it (the personal
    number masked, never in full)."""
    readout = report.readout
    failure = report.failure
    passive: dict[str, Any] = {"result": "passed"}
    active: dict[str, Any]
    if isinstance(failure, PassiveAuthenticationError):
        passive = {
            "result": "failed",
            "check": failure.check,
            "data_group": failure.data_group,
            "message": str(failure),
        }
        active = {"result": "not_checked"}  # passive authentication runs first
    elif isinstance(failure, ActiveAuthenticationError):
        active = {"result": "failed", "message": str(failure)}
    else:
        assert report.verified is not None
        pa = report.verified.passive
        passive |= {
            "signature_algorithm": pa.signature_algorithm,
            "hash_algorithm": pa.hash_algorithm,
            "data_groups": list(pa.data_groups),
            "document_signer": pa.ds_subject,
            "csca": pa.csca_subject,
        }
        active = {"result": "passed" if report.verified.chip_auth == "aa" else "not_supported"}
    document = None
    if report.verified is not None:
        doc = report.verified.document
        document = {
            "name": doc.full_name,
            "personal_number_masked": doc.masked_personal_number,
            "date_of_birth": doc.date_of_birth.isoformat(),
            "sex": doc.sex,
            "nationality": doc.nationality,
            "issuing_state": doc.issuing_state,
            "document_code": doc.mrz.document_code,
            "document_number": doc.document_number,
            "date_of_expiry": doc.date_of_expiry.isoformat(),
            "portrait": None
            if doc.portrait is None
            else {"bytes": len(doc.portrait), "mime_type": doc.portrait_mime},
        }
    return {
        "verified": report.ok,
        "reader": reader,
        "access_control": {
            "protocol": readout.access_protocol,
            "pace_parameter_id": readout.pace_parameter_id,
            "curve": _CURVES.get(readout.pace_parameter_id)
            if readout.pace_parameter_id is not None
            else None,
            "secure_messaging": "AES-128" if readout.pace_parameter_id is not None else "3DES",
        },
        "apdus": readout.apdu_count,
        "extended_length": readout.extended_length,
        "passive_authentication": passive,
        "active_authentication": active,
        "document": document,
    }


_DOCUMENT_NUMBER = re.compile(r"[0-9A-Z]{1,22}")


def _mrz_date(value: str, what: str) -> str:
    """``value`` if it is a real calendar date written YYMMDD (any century: 29 February needs YY % 4 == 0)."""
    if not re.fullmatch(r"[0-9]{6}", value):
        raise UsageError(f"--mrz {what} must be YYMMDD (six digits), got {value!r}")
    year, month, day = int(value[:2]), int(value[2:4]), int(value[4:])
    try:
        datetime.date(2000 + year, month, day)  # 2000 + YY is a leap year exactly when 19YY or 20YY is
    except ValueError:
        raise UsageError(
            f"--mrz {what} {value} is not a date (YYMMDD: month 01-12, a day in that month)"
        ) from None
    return value


def parse_mrz_argument(text: str) -> MrzAccessKey:
    """``--mrz DOCNO,YYMMDD,YYMMDD`` as typed: spaces and MRZ filler ``<`` around the number are ignored."""
    parts = [p.strip().upper() for p in text.split(",")]
    if len(parts) != 3:
        raise UsageError(
            "--mrz takes DOCUMENT_NUMBER,YYMMDD(birth),YYMMDD(expiry), e.g. E12345678,900101,340101"
        )
    number = parts[0].replace(" ", "").strip("<")
    if not _DOCUMENT_NUMBER.fullmatch(number):
        raise UsageError(
            "--mrz document number must be 1 to 22 letters A-Z and digits 0-9, as printed on the card"
        )
    return MrzAccessKey(number, _mrz_date(parts[1], "birth date"), _mrz_date(parts[2], "expiry date"))


def _access_key(mrz: str | None, can: str | None) -> AccessKey | None:
    if can is not None:
        if not re.fullmatch(r"[0-9]{6}", can.strip()):
            raise UsageError("--can is the 6-digit card access number printed on the card")
        return CanAccessKey(can.strip())
    if mrz is not None:
        return parse_mrz_argument(mrz)
    return None


def load_trust_store(paths: list[str]) -> CscaTrustStore:
    """The CSCA certificates in ``paths`` (PEM with one or more certificates, or DER)."""
    store = CscaTrustStore()
    hint = "give your country's CSCA certificate, PEM or DER, e.g. --trust csca.pem"
    for name in paths:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise CliError(
                ExitCode.FILE, f"cannot read --trust {name}: {exc.strerror or exc}", hint
            ) from None
        try:
            if b"-----BEGIN" in data:
                certificates = x509.load_pem_x509_certificates(data)
            else:
                certificates = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise CliError(
                ExitCode.FILE, f"--trust {name} is not an X.509 certificate (PEM or DER)", hint
            ) from None
        for certificate in certificates:
            try:
                store.add(certificate)
            except UsageError as exc:
                raise CliError(ExitCode.FILE, f"--trust {name}: {exc}", hint) from None
    return store


@dataclass(frozen=True)
class CardTarget:
    """The card a command reads, from its ``--reader``, ``--mrz``/``--can`` and ``--trust`` options: the
    ``reader``, the ``access_key``, the CSCAs to ``trust`` and, behind a ``sim`` reader, the TEST
    ``test_card`` (its person, its portrait; ``None`` for a real reader)."""

    reader: CardReader
    access_key: AccessKey
    trust: CscaTrustStore
    test_card: TestCard | None


def open_card(spec: str, *, mrz: str | None, can: str | None, trust: list[str]) -> CardTarget:
    """The one way a command gets at a card (``card read``, ``enroll``, ``face enable``). A malformed
    ``--can``/``--mrz``, ``--trust`` file or reader spec is refused before anything touches the reader; a
    real card without an access key is a usage error."""
    key = _access_key(mrz, can)
    store = load_trust_store(trust)
    reader = open_reader(spec)  # an unknown or malformed spec is refused before anything else
    kind, _, rest = spec.strip().partition(":")
    test_card = None
    if kind.lower() == "sim":
        # the simulated card is a test-kit card: its MRZ and its (TEST ONLY) CSCA are known
        from netid.testing.cards import simulator_card  # only the simulator needs the test kit

        test_card = simulator_card(rest)
        key = key or test_card.access_key
        store.add(test_card.pki.csca_certificate)
    if key is None:
        raise UsageError("give the card's --mrz DOCNO,YYMMDD,YYMMDD or its --can NNNNNN")
    return CardTarget(reader, key, store, test_card)


def read_command(out: Output, args: argparse.Namespace) -> ExitCode:
    reader_spec: str = args.reader
    card = open_card(reader_spec, mrz=args.mrz, can=args.can, trust=args.trust)
    reader, store = card.reader, card.trust
    challenge = os.urandom(8)  # fresh for this read: the chip must answer exactly this one
    try:
        readout = read_with_progress(
            out.console, reader, card.access_key, aa_challenge=challenge, timeout=args.timeout
        )
    except ParseError as exc:
        raise CardError(f"the card sent data NetID cannot read ({exc})") from exc
    report = verify_readout(readout, lambda: verify_document(readout, store, challenge=challenge))
    if out.json:
        out.emit_json(report_json(report, reader=str(getattr(reader, "name", reader_spec))))
    else:
        render_report(out.console, report)
        failure = report.failure
        if isinstance(failure, PassiveAuthenticationError) and failure.check == "ds_chain" and not args.trust:
            out.console.print(
                "  [bold]hint:[/] no --trust CSCA certificate was given: pass your country's CSCA "
                "certificate (--trust csca.pem) to verify a real card"
            )
    return ExitCode.OK if report.ok else ExitCode.NOT_VERIFIED
