"""``netid card …`` commands: list readers, read and verify a card. Presentation only; the work is done by
:mod:`netid.card.icao.read_document` and :mod:`netid.card.icao.verify_document`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.table import Table

from netid.card.backends.registry import list_readers, open_reader
from netid.card.icao.access import AccessKey, CanAccessKey, MrzAccessKey
from netid.card.icao.passive_auth import CscaTrustStore
from netid.card.icao.read_document import CardReadout, ReadProgress, read_document_with_retry
from netid.card.icao.verify_document import VerifiedDocument, verify_document
from netid.card.interface import CardReader
from netid.errors import ActiveAuthenticationError, PassiveAuthenticationError, UsageError


def list_readers_command(console: Console) -> None:
    table = Table("kind", "name", "use with --reader", title="Card readers")
    for info in list_readers():
        table.add_row(info.kind, info.name, info.spec)
    console.print(table)


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
                tasks[event.file] = progress.add_task(event.file, total=event.total)
            progress.update(tasks[event.file], completed=event.done, total=event.total)

        console.print(f"  waiting for a card on [bold]{getattr(reader, 'name', 'reader')}[/] …")
        return read_document_with_retry(
            reader, access_key, aa_challenge=aa_challenge, progress=on_progress, connect_timeout=timeout
        )


def render_verification(
    console: Console, readout: CardReadout, verify: Callable[[], VerifiedDocument]
) -> bool:
    """Print what was read and the passive/active authentication verdicts; True when both passed."""
    protocol: str = readout.access_protocol
    if readout.pace_parameter_id is not None:
        curve = {12: "NIST P-256", 13: "brainpoolP256r1"}.get(readout.pace_parameter_id, "?")
        protocol += f" (ECDH generic mapping, {curve}, AES-128 secure messaging)"
    else:
        protocol += " (3DES secure messaging)"
    console.print(f"  access control     [bold]{protocol}[/]")
    console.print(
        f"  APDUs exchanged    {readout.apdu_count}"
        f" ({'extended' if readout.extended_length else 'short'}-length reads)"
    )
    try:
        verified = verify()
    except PassiveAuthenticationError as exc:
        where = f" ({exc.data_group})" if exc.data_group else ""
        console.print(f"  passive auth       [bold red]FAILED[/] {exc.check}{where}: {exc}")
        return False
    except ActiveAuthenticationError as exc:
        console.print("  passive auth       [green]passed[/]")
        console.print(f"  active auth        [bold red]FAILED[/]: {exc}")
        return False
    pa = verified.passive
    console.print(
        f"  passive auth       [green]passed[/] — SOD {pa.signature_algorithm}, "
        f"DG hashes {pa.hash_algorithm} for DG{', DG'.join(map(str, pa.data_groups))}"
    )
    console.print(f"                     signed by {pa.ds_subject}")
    console.print(f"                     chained to {pa.csca_subject}")
    if verified.chip_auth == "aa":
        console.print(
            "  active auth        [green]passed[/] — the chip signed our fresh challenge (not a clone)"
        )
    else:
        console.print("  active auth        [yellow]not supported by this chip[/]")
    doc = verified.document
    table = Table("field", "value", title="Personal data read from the chip", show_header=False)
    table.add_row("name", doc.full_name)
    table.add_row("personal number", f"{doc.masked_personal_number} (masked)")
    table.add_row("date of birth", doc.date_of_birth.isoformat())
    table.add_row("sex", doc.sex)
    table.add_row("nationality", doc.nationality)
    table.add_row("document", f"{doc.mrz.document_code} {doc.document_number}, expires {doc.date_of_expiry}")
    if doc.portrait is not None:
        table.add_row("portrait", f"{len(doc.portrait)} bytes {doc.portrait_mime}")
    console.print(table)
    return True


def _access_key(mrz: str | None, can: str | None) -> AccessKey | None:
    if can:
        return CanAccessKey(can)
    if mrz:
        parts = [p.strip().upper() for p in mrz.split(",")]
        if len(parts) != 3:
            raise UsageError("--mrz takes DOCUMENT_NUMBER,YYMMDD(birth),YYMMDD(expiry)")
        return MrzAccessKey(*parts)
    return None


def read_card_command(
    console: Console, *, reader_spec: str, mrz: str | None, can: str | None, trust: list[str], timeout: float
) -> bool:
    key = _access_key(mrz, can)
    store = CscaTrustStore()
    for path in trust:
        store.add(x509.load_pem_x509_certificate(Path(path).read_bytes()))
    if reader_spec.split(":", maxsplit=1)[0] == "sim":
        # the simulated card is a test-kit card: its MRZ and its (TEST ONLY) CSCA are known
        from netid.testing.cards import make_card  # only the simulator needs the test kit

        seed = int(reader_spec.split(":")[1]) if ":" in reader_spec else 0
        card = make_card(seed)
        key = key or card.access_key
        store.add(card.pki.csca_certificate)
    if key is None:
        raise UsageError("give the card's --mrz DOCNO,YYMMDD,YYMMDD or its --can NNNNNN")
    reader = open_reader(reader_spec)
    challenge = os.urandom(8)  # fresh for this read: the chip must answer exactly this one
    readout = read_with_progress(console, reader, key, aa_challenge=challenge, timeout=timeout)
    return render_verification(console, readout, lambda: verify_document(readout, store, challenge=challenge))
