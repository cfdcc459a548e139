"""The ``netid`` command (see :mod:`netid.cli.parser` for its commands, :mod:`netid.cli.exit_codes` for
what it exits with). Run as ``netid``, ``python -m netid`` or ``python -m netid.cli``."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from netid.cli.exit_codes import EXIT_CODES, ExitCode
from netid.cli.parser import build_parser
from netid.cli.problems import Problem, problem_for

if TYPE_CHECKING:
    import argparse

    from netid.cli.output import Output

__all__ = ["EXIT_CODES", "ExitCode", "main"]

Handler = Callable[["Output", "argparse.Namespace"], ExitCode]

RICH_MISSING = Problem(
    ExitCode.MISSING_PACKAGE,
    "the netid command needs the 'rich' package, which is not installed",
    "pip install 'netid[cli]'",
)


def _handler(spec: str) -> Handler:
    module, _, function = spec.partition(":")
    handler: Handler = getattr(importlib.import_module(module), function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``netid`` with ``argv`` (default: the process's arguments); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    if args.handler is None:  # `netid`, `netid card`: a group without its command shows its help
        args.help_parser.print_help()
        return ExitCode.OK
    try:
        from netid.cli.output import Output
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "rich":
            raise
        RICH_MISSING.print()
        return RICH_MISSING.code
    out = Output(json=bool(getattr(args, "json", False)))
    try:
        return int(_handler(args.handler)(out, args))
    except KeyboardInterrupt:
        problem = Problem(ExitCode.INTERRUPTED, "interrupted")
    except Exception as exc:
        expected = problem_for(exc, help_command=args.help_parser.prog)
        if expected is not None:
            problem = expected
        else:  # not a failure NetID reports on purpose: a bug, shown with its traceback
            traceback.print_exc()
            problem = Problem(
                ExitCode.INTERNAL,
                f"internal error: {type(exc).__name__}: {exc}",
                "this is a bug in NetID; please report it with the traceback above",
            )
    if out.json:
        out.emit_json({"error": problem.as_json()})
    problem.print()
    return problem.code


if __name__ == "__main__":
    sys.exit(main())
