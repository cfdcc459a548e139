"""Structured logs: one JSON object per line, to stderr and (when set) ``settings.log_file``.

Every line has ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger`` and ``message``; lines logged
while a request is handled also carry its ``request_id``. :class:`AccessLogMiddleware` writes one line per
request (``logger = "issuer_service.access"``) with ``method``, ``path`` — the route *template*
(``/status/{list_id}``), never the raw URL or its query — ``status`` and ``duration_ms``; it replaces
uvicorn's access log, which :func:`configure_logging` turns off. Request bodies, headers (so tokens and
``Authorization``) and query strings are never logged; extra fields a caller passes are kept only when
they are plain scalars, so an object's ``repr`` cannot smuggle personal data in.

**Redaction.** The last step before a line is written is :func:`personal_data_reason`: a line that holds
a valid 18-character personal number (GB 11643, check character verified, anywhere in a run of
``[0-9X]``) or a long base64/base64url blob (a token, a key, a data group, a portrait) is not written;
a ``"log line withheld"`` line with the level, logger and request id stands in its place, so the event
is still seen and the data is not. That is a net under the rule, not the rule: code must not log
personal data in the first place.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.handlers
import re
import secrets
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netid.personal_number import is_valid_personal_number

__all__ = [
    "AccessLogMiddleware",
    "JsonFormatter",
    "LoggingHandle",
    "configure_logging",
    "current_request_id",
    "personal_data_reason",
    "route_template",
]

ACCESS_LOGGER: Final = "issuer_service.access"
#: the route template logged (and used as a metric label) when no route matched: never the raw path
UNMATCHED: Final = "<unmatched>"
#: an ``X-Request-ID`` from a client (or a proxy in front) is kept only if it looks like one of these
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{8,64}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("netid_request_id", default=None)

# --- redaction --------------------------------------------------------------------------------------

_DIGIT_RUN: Final = re.compile(r"[0-9Xx]{18,}")
#: at least 40 characters of the base64 or base64url alphabets: 30 bytes or more of binary
_BLOB: Final = re.compile(r"[A-Za-z0-9+/_-]{40,}")
_UPPER, _LOWER, _DIGIT = re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]")


def _holds_personal_number(text: str) -> bool:
    for run in _DIGIT_RUN.finditer(text):
        value = run.group()
        for start in range(len(value) - 17):
            if is_valid_personal_number(value[start : start + 18]):
                return True
    return False


def _holds_blob(text: str) -> bool:
    # Random base64 of 40+ characters has upper case, lower case and digits (all three missing from it
    # by chance: < 1e-8); file paths, route templates, hex digests and UUIDs lack upper case.
    return any(
        _UPPER.search(m.group()) and _LOWER.search(m.group()) and _DIGIT.search(m.group())
        for m in _BLOB.finditer(text)
    )


def personal_data_reason(text: str) -> str | None:
    """Why ``text`` must not be logged (``"personal_number"`` or ``"base64_blob"``), or ``None``."""
    if _holds_personal_number(text):
        return "personal_number"
    if _holds_blob(text):
        return "base64_blob"
    return None


# --- formatting -------------------------------------------------------------------------------------

# what every LogRecord has: not "extra" fields
_RECORD_ATTRIBUTES: Final = frozenset(
    set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)))
    | {"message", "asctime", "taskName", "color_message"}  # uvicorn's ANSI-coloured copy of the message
)
_SCALARS: Final = (str, int, float, bool, type(None))


def _time(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, redacted (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in entry and isinstance(value, _SCALARS):
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        line = json.dumps(entry, ensure_ascii=False, default=str)
        reason = personal_data_reason(line)
        if reason is None:
            return line
        withheld: dict[str, Any] = {
            k: entry[k] for k in ("time", "level", "logger", "request_id") if k in entry
        }
        withheld["message"] = "log line withheld: it held what looks like personal data or a secret"
        withheld["redacted"] = reason
        return json.dumps(withheld, ensure_ascii=False)


# --- set-up -----------------------------------------------------------------------------------------


@dataclass
class LoggingHandle:
    """What :func:`configure_logging` installed; :meth:`close` removes it again (tests)."""

    handlers: list[logging.Handler]
    previous_level: int

    def close(self) -> None:
        logging.captureWarnings(False)
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(self.previous_level)


_installed: list[LoggingHandle] = []


def configure_logging(
    level: str = "INFO", log_file: Path | None = None, *, stream: Any = None
) -> LoggingHandle:
    """Send every log record of the process, as JSON lines, to stderr (or ``stream``) and ``log_file``.

    Replaces what an earlier call installed; uvicorn's loggers propagate to ours, and its access log is
    off (:class:`AccessLogMiddleware` writes ours). The file is opened with a
    :class:`~logging.handlers.WatchedFileHandler`, so log rotation by rename needs no signal.
    """
    while _installed:
        _installed.pop().close()
    root = logging.getLogger()
    formatter = JsonFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream if stream is not None else sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.WatchedFileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    handle = LoggingHandle(handlers, root.level)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)  # warnings too become JSON lines, not bare text on stderr
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    _installed.append(handle)
    return handle


# --- the access log ---------------------------------------------------------------------------------


def current_request_id() -> str | None:
    """The id of the request being handled (also in its response's ``X-Request-ID``), if any."""
    return _request_id.get()


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/status/{list_id}``), or :data:`UNMATCHED` — never the raw
    path, which could hold anything a client typed."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("endpoint") is not None and not scope.get("path_params"):
        # a plain (non-API) route without parameters matched, such as /metrics: its path is its template
        return str(scope["path"])
    return UNMATCHED


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.fullmatch(text) else None
    return None


class AccessLogMiddleware:
    """One access-log line per HTTP request, a request id for every line logged while handling it, and
    that id in the response's ``X-Request-ID`` (a well-formed incoming one is kept, so a proxy's id
    follows the request through)."""

    def __init__(self, app: ASGIApp, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self._clock = clock
        self._log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        # stays set for the rest of this request's task (each request runs in a task of its own), so the
        # server-error handler outside this middleware logs with it too
        _request_id.set(request_id)
        started = self._clock()
        status = 500  # if the app fails before it answers, the server's answer is a 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((self._clock() - started) * 1000, 2)
            template = route_template(scope)
            self._log.info(
                "%s %s %d",
                scope["method"],
                template,
                status,
                extra={
                    "method": scope["method"],
                    "path": template,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
