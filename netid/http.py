"""Bounded HTTP exchanges for the SDK's edges: the wallet fetching a request object and posting its
response, and anyone fetching an issuer's JWKS or status lists.

One function, :func:`bounded_request`, over an :class:`httpx.Client` the caller owns, with what every
exchange with a party we do not control needs:

- **a timeout** for connecting, reading, writing and waiting for a pooled connection;
- **a size cap**: ``Content-Length`` checked first, then the body counted while it streams in, so a huge or
  endless answer costs at most ``max_bytes`` of memory;
- **no redirects** (a 3xx is returned as it is: the caller decides, and NetID's callers refuse it);
- **no cookies**: the request is built without the client's cookie jar, so two parties served from one
  host cannot link one holder's requests through a cookie one of them set;
- **the URL's form** (:func:`check_url`): ``https``, or ``http`` to a loopback host only when the caller
  is in an explicit development mode (``allow_loopback_http``); never user info or a fragment.

It knows no NetID protocol: the wallet (:mod:`netid.wallet.http`) and the relying party's fetchers read
the status, headers and body it returns. Failures are :class:`HttpError` with a stable ``code``.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx

from netid.errors import NetIDError

__all__ = [
    "DEFAULT_TIMEOUT",
    "HttpError",
    "HttpReply",
    "bounded_request",
    "check_url",
    "is_loopback_host",
]

#: seconds for each phase of a request (connect, read, write, pool)
DEFAULT_TIMEOUT: Final = 10.0
_MAX_URL_LENGTH: Final = 2048
_CHUNK: Final = 16 * 1024


class HttpError(NetIDError):
    """An HTTP exchange failed before an answer could be read. ``code`` is stable:

    - ``url``: the URL is not one NetID may contact (not ``https``; ``http`` off loopback or outside the
      development mode; user info; a fragment; malformed) — nothing was sent;
    - ``transport``: the host could not be reached, the connection broke or a timeout passed (the request
      may or may not have arrived: see ``sent``);
    - ``too_large``: the answer is larger than the cap (what was read so far is dropped).

    ``sent`` is ``False`` only when the request certainly never left this process (``url``, or a failure to
    connect).
    """

    def __init__(self, code: Literal["url", "transport", "too_large"], message: str, *, sent: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.sent = sent


@dataclass(frozen=True, slots=True)
class HttpReply:
    """An answer read in full (at most the cap): status, headers and body."""

    status: int
    headers: httpx.Headers = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` without parameters, lower case (``""`` when absent)."""
        value: str = self.headers.get("content-type", "")
        return value.split(";", 1)[0].strip().lower()


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: object, *, allow_loopback_http: bool = False) -> str:
    """``url`` if NetID may contact it: an absolute ``https`` URL with a host, printable ASCII, no user info,
    no fragment; ``http`` only to a loopback host and only with ``allow_loopback_http`` (a development
    mode). :class:`HttpError` ``url`` otherwise."""
    if type(url) is not str or not 0 < len(url) <= _MAX_URL_LENGTH or not url.isascii():
        raise HttpError("url", "not a URL of at most 2048 ASCII characters", sent=False)
    if not url.isprintable() or " " in url or "#" in url:
        raise HttpError("url", "the URL has spaces, control characters or a fragment", sent=False)
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise HttpError("url", "malformed URL", sent=False) from None
    if not host or parts.username is not None or parts.password is not None:
        raise HttpError("url", "the URL has no host, or has user info", sent=False)
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_loopback_http and is_loopback_host(host):
        return url
    if parts.scheme == "http" and is_loopback_host(host):
        raise HttpError("url", "http to this machine is accepted only in development mode", sent=False)
    raise HttpError("url", "the URL must be https", sent=False)


def bounded_request(
    http: httpx.Client,
    method: Literal["GET", "POST"],
    url: str,
    *,
    max_bytes: int,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    allow_loopback_http: bool = False,
) -> HttpReply:
    """Send one request (``form``: an ``application/x-www-form-urlencoded`` body) and read the answer.

    See the module docstring for the bounds. Any status is returned (3xx included: redirects are not
    followed); :class:`HttpError` for a refused URL (``url``), a network failure (``transport``) or an
    answer over ``max_bytes`` (``too_large``).
    """
    check_url(url, allow_loopback_http=allow_loopback_http)
    if max_bytes <= 0 or timeout <= 0:
        raise ValueError("max_bytes and timeout must be positive")
    request = httpx.Request(
        method,
        url,
        headers=dict(headers or {}),
        data=dict(form) if form is not None else None,
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )  # built here, not by the client: the client's cookie jar is never sent
    try:
        response = http.send(request, stream=True, follow_redirects=False)
    except httpx.ConnectError as exc:
        raise HttpError("transport", f"could not connect ({type(exc).__name__})", sent=False) from exc
    except httpx.HTTPError as exc:
        raise HttpError("transport", f"the exchange failed ({type(exc).__name__})", sent=True) from exc
    try:
        length = response.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_bytes):
            raise HttpError("too_large", f"the answer is larger than {max_bytes} bytes", sent=True)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise HttpError("too_large", f"the answer is larger than {max_bytes} bytes", sent=True)
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise HttpError("transport", f"the answer broke off ({type(exc).__name__})", sent=True) from exc
    finally:
        response.close()
    return HttpReply(response.status_code, response.headers, b"".join(chunks))
