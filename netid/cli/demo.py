"""``netid demo``: the whole journey on a simulated card, over HTTP between a local issuer and the example
shop (:mod:`netid.demo` does the work; ``--serve`` keeps them running)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from netid.cli.exit_codes import ExitCode
from netid.cli.output import Output
from netid.cli.problems import CliError


def _writable_folder(name: str) -> Path:
    out = Path(name)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise CliError(
            ExitCode.FILE,
            f"cannot write to --out {name}: {exc.strerror or exc}",
            "choose a folder you can write to, e.g. --out demo-out",
        ) from None
    return out


def demo_command(out: Output, args: argparse.Namespace) -> ExitCode:
    from netid.demo import run_demo, serve

    folder = _writable_folder(args.out)  # before the journey, not after it
    if getattr(args, "serve", False):
        return (
            ExitCode.OK if serve(out.console, out_dir=str(folder), seed=args.seed) == 0 else ExitCode.FAILED
        )
    run_demo(out.console, out_dir=str(folder), seed=args.seed)
    return ExitCode.OK
