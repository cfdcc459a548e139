"""Where a command's output goes. Human output is rich text on stdout; with ``--json`` stdout carries
exactly one JSON document and the human output (progress, prompts) moves to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


class Output:
    """``console`` for people, :meth:`emit_json` for scripts (``json`` is whether ``--json`` was given)."""

    def __init__(self, *, json: bool = False) -> None:
        self.json = json
        stream = sys.stderr if json else sys.stdout
        # a pipe or CI log gets 100 columns rather than rich's 80, so tables and verdicts stay on one line
        self.console = Console(highlight=False, stderr=json, width=None if stream.isatty() else 100)

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()
