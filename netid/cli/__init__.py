"""The ``netid`` command: read cards, list readers, run the end-to-end demo.

netid card readers                       list the readers NetID can use
netid card read --reader sim             read (and verify) a card; personal number masked
netid demo --out demo-out                card → netcert batch → RP question → yes/no answers
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from netid.errors import NetIDError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netid", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    card = sub.add_parser("card", help="work with ID card chips").add_subparsers(
        dest="card_command", required=True
    )
    card.add_parser("readers", help="list the card readers NetID can use")
    read = card.add_parser("read", help="read and verify an ID card chip")
    read.add_argument(
        "--reader",
        default="sim",
        help="sim | nfc[:usb[:vid:pid]] | nfc:udp:HOST:PORT | pcsc[:NAME] (default: sim, a test card)",
    )
    key = read.add_mutually_exclusive_group()
    key.add_argument("--mrz", metavar="DOCNO,YYMMDD,YYMMDD", help="document number, birth date, expiry date")
    key.add_argument("--can", metavar="NNNNNN", help="card access number printed on the card")
    read.add_argument(
        "--trust", metavar="CSCA.pem", action="append", default=[], help="trusted CSCA certificate"
    )
    read.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a card")

    demo = sub.add_parser("demo", help="the whole journey on a simulated card, in process")
    demo.add_argument("--out", default="demo-out", help="where to write what crossed the wire")
    demo.add_argument("--seed", type=int, default=7, help="test-card seed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # a pipe or CI log gets 100 columns rather than rich's 80, so tables and verdicts stay on one line
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 100)
    try:
        if args.command == "demo":
            from netid.demo import run_demo

            run_demo(console, out_dir=args.out, seed=args.seed)
        elif args.card_command == "readers":
            from netid.cli.card import list_readers_command

            list_readers_command(console)
        else:
            from netid.cli.card import read_card_command

            read_card_command(
                console,
                reader_spec=args.reader,
                mrz=args.mrz,
                can=args.can,
                trust=args.trust,
                timeout=args.timeout,
            )
    except NetIDError as exc:
        from netid.card.backends.registry import describe_reader_error

        console.print(f"[bold red]error:[/] {describe_reader_error(exc)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
