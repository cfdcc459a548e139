"""The shop's logs: one JSON object per line, to stderr and (when set) ``NETID_SHOP_LOG_FILE``.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and the event's own plain
fields (``kind``, ``tx``, ``code``, the answers as booleans). What the shop logs is what it learned —
never a presentation, a disclosed value or a typed name.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Final

__all__ = ["JsonFormatter", "configure_logging"]

_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line; extra fields are kept when they are plain scalars."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and isinstance(value, str | int | float | bool | None):
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(log_file: Path | None, level: int = logging.INFO) -> None:
    """Send the shop's and uvicorn's log lines, as JSON, to stderr and ``log_file``."""
    formatter = JsonFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    for name in ("relying_party_example", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = list(handlers)
        logger.setLevel(level)
        logger.propagate = False
    # uvicorn's access log writes the query string (a same-device response_code is in it): the app's own
    # access log (relying_party_example.access) writes the path only
    logging.getLogger("uvicorn.access").disabled = True
