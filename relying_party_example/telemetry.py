"""What OpenTelemetry may see of a request to the shop: never a secret its URL carries.

FastAPI (0.165 and later) records a server span, two metrics and, for an unhandled exception or a request
that fails validation, a log record per request once OpenTelemetry providers are configured: given to
:func:`~relying_party_example.app.create_app` as ``telemetry=`` (``fastapi.telemetry.TelemetryConfig``) or
set for the whole process by the operator (``opentelemetry-instrument``, or FastAPI's own
``FASTAPI_OTEL_AUTO_CONFIGURE=true`` with the ``OTEL_EXPORTER_OTLP_*`` variables). The span keeps the
request's ``url.path`` and ``url.query`` as they arrived, and two kinds of the shop's URLs carry secrets:

- ``GET /check/callback?response_code=…``, the same-device redirect: its code releases the answers of the
  browser's transaction;
- ``{prefix}/request/{tx_id}``, ``{prefix}/response/{tx_id}``, ``{prefix}/transactions/{tx_id}``, the NetID
  router's routes: a transaction id is the check's ``request_uri`` (its signed request, with the nonce and
  the state) and where its answer is posted.

FastAPI reads the URL in ``FastAPI.__call__``, before the first middleware runs, so a middleware that
rewrote it would be too late. FastAPI has no option to rewrite it either: its ``exclude`` drops a request's
telemetry whole, and the only query values it redacts are cloud-storage signatures. A span processor
belongs to whoever configures the providers (and to the SDK's providers only). :class:`PrivateUrlApp`
therefore hands FastAPI a copy of the request's scope in which every query value (``response_code=REDACTED``:
the names stay) and everything after a hidden prefix (``/netid/request/REDACTED``; the prefixes are the NetID
router's paths up to their parameter) is ``REDACTED``, the placeholder of OpenTelemetry's semantic
conventions; the outermost layer of its middleware stack puts the real URL back, where the shop's middleware,
routing and pages read it. That holds whoever configured the providers. It cannot help an outer app that
mounts the shop: that app has recorded the URL before the shop sees it.

What telemetry keeps of a request: its method, scheme, host, route template (``/check/callback``,
``/netid/request/{tx_id}``), the names of its query parameters, its status and duration, and an unhandled
exception's type, message and stack trace (source lines, no values; the shop's SQL store keeps a
statement's values out of its errors: :class:`~netid.verifier.http.sql.SqlTransactionStore`).
Headers (the session cookie) and bodies (the wallet's response, its state and nonce) are never recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "REDACTED",
    "PrivateUrlApp",
    "hidden_path",
    "hidden_query",
    "parameter_prefixes",
    "telemetry_option",
]

REDACTED: Final = "REDACTED"
#: the scope key holding the URL as it arrived, from the app's entry to the outermost middleware
_REAL_URL: Final = "netid.shop.real_url"
_URL_KEYS: Final = ("path", "raw_path", "query_string")


def telemetry_option(telemetry: Mapping[str, Any] | None) -> dict[str, Any]:
    """``FastAPI(**telemetry_option(t))``: the ``telemetry`` keyword only when given (FastAPI before 0.165
    has no such keyword and records no OpenTelemetry of its own)."""
    return {"telemetry": dict(telemetry)} if telemetry is not None else {}


def parameter_prefixes(routes: Iterable[BaseRoute]) -> tuple[str, ...]:
    """For each route with a path parameter, its path up to the first one (``/netid/request/`` for
    ``/netid/request/{tx_id}``): the prefixes after which a URL's path is hidden."""
    return tuple(
        route.path.partition("{")[0] for route in routes if isinstance(route, Route) and "{" in route.path
    )


def hidden_path(path: str, prefixes: Iterable[str]) -> str:
    """``path`` with everything after the first of ``prefixes`` it contains replaced by ``REDACTED``.

    A prefix is found anywhere in the path, not only at its start, so a ``root_path`` in front of it (a
    proxy's, or a mount's) changes nothing; a page path that happens to contain one loses only detail.

    >>> hidden_path("/netid/request/Q7cp-9gOgOKxZUYfopWN6g", ["/netid/request/"])
    '/netid/request/REDACTED'
    >>> hidden_path("/check/callback", ["/netid/request/"])
    '/check/callback'
    """
    found = [(at, prefix) for prefix in prefixes if prefix and (at := path.find(prefix)) >= 0]
    if not found:
        return path
    at, prefix = min(found)
    return path[: at + len(prefix)] + REDACTED


def hidden_query(query: bytes) -> bytes:
    """A query string with every value replaced by ``REDACTED``; the names stay, so a trace still shows
    that a callback carried a ``response_code``.

    >>> hidden_query(b"response_code=Q7cp-9gOgOKxZUYfopWN6g")
    b'response_code=REDACTED'
    """
    names = [name for name, _value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)]
    return urlencode([(name, REDACTED) for name in names]).encode("ascii")


class _RealUrl:
    """The outermost layer of :class:`PrivateUrlApp`'s middleware stack: puts back the URL as it arrived.

    Its ``app`` attribute is the rest of the stack: FastAPI walks it to find an instrumentation's middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        real = scope.pop(_REAL_URL, None)
        if real is not None:
            scope.update(real)
        await self.app(scope, receive, send)


class PrivateUrlApp(FastAPI):
    """A FastAPI app whose telemetry sees each request's URL with its secrets replaced by ``REDACTED``:
    every query value, and the path after any of ``hidden_paths`` (see the module docstring). The app's
    middleware, routes and endpoints see the real URL."""

    def __init__(self, *, hidden_paths: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden_paths = tuple(hidden_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _REAL_URL not in scope:
            scope = self._without_secrets(scope)
        await super().__call__(scope, receive, send)

    def _without_secrets(self, scope: Scope) -> Scope:
        """A copy of ``scope`` whose URL hides its secrets, carrying the real URL for :class:`_RealUrl`.
        ``raw_path`` (optional in ASGI) is left out: its percent-encoding could spell a prefix differently."""
        hidden = {key: value for key, value in scope.items() if key != "raw_path"}
        hidden[_REAL_URL] = {key: scope[key] for key in _URL_KEYS if key in scope}
        hidden["path"] = hidden_path(scope["path"], self.hidden_paths)
        if scope.get("query_string"):
            hidden["query_string"] = hidden_query(scope["query_string"])
        return hidden

    def build_middleware_stack(self) -> ASGIApp:
        # everything inside (FastAPI's exception handling, the shop's middleware, routing) sees the real URL
        return _RealUrl(super().build_middleware_stack())
