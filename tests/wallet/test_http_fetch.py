"""netid.http: the bounded exchanges the wallet (and anyone fetching from a party it does not control)
uses — the URL's form, the size cap with and without a Content-Length, no redirects, no cookies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.testclient import TestClient

from netid.http import HttpError, bounded_request, check_url, is_loopback_host
from tests.wallet.http_kit import Router


@pytest.mark.parametrize(
    ("url", "loopback", "ok"),
    [
        ("https://rp.example/r/1", False, True),
        ("https://rp.example:8443/r?x=1", False, True),
        ("http://rp.example/r", True, False),  # http off loopback: never
        ("http://127.0.0.1:8000/r", False, False),  # loopback, but not in development mode
        ("http://127.0.0.1:8000/r", True, True),
        ("http://[::1]:8000/r", True, True),
        ("http://localhost/r", True, True),
        ("https://user:pw@rp.example/r", False, False),
        ("https://rp.example/r#frag", False, False),
        ("https://rp.example/a b", False, False),
        ("https:///nohost", False, False),
        ("https://rp.example:99999/", False, False),
        ("ftp://rp.example/r", True, False),
        ("https://例子.example/", False, False),  # not ASCII: IDNs arrive punycoded
        ("https://rp.example/" + "a" * 2100, False, False),
        (None, False, False),
    ],
)
def test_check_url(url: object, loopback: bool, ok: bool) -> None:
    if ok:
        assert check_url(url, allow_loopback_http=loopback) == url
    else:
        with pytest.raises(HttpError) as refused:
            check_url(url, allow_loopback_http=loopback)
        assert refused.value.code == "url" and not refused.value.sent


def test_loopback_hosts() -> None:
    assert all(map(is_loopback_host, ("localhost", "127.0.0.1", "127.8.9.1", "::1")))
    assert not any(map(is_loopback_host, ("example.com", "10.0.0.1", "localhost.example", "0.0.0.0")))


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    app = FastAPI()
    seen: list[dict[str, str]] = []

    @app.get("/sized/{n}")
    def sized(n: int) -> Response:
        return Response(b"x" * n, media_type="application/octet-stream")

    @app.get("/stream/{n}")
    def stream(n: int) -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            for _ in range(n // 1000):
                yield b"y" * 1000

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.get("/moved")
    def moved() -> RedirectResponse:
        return RedirectResponse("https://elsewhere.example/collect", status_code=302)

    @app.get("/cookie")
    def cookie() -> Response:
        response = Response("set")
        response.set_cookie("tracker", "holder-42")
        return response

    @app.api_route("/echo", methods=["GET", "POST"])
    async def echo(request: Request) -> JSONResponse:
        seen.append(dict(request.headers))
        return JSONResponse({"form": (await request.body()).decode()})

    router = Router()
    router.mount("rp.example", TestClient(app, base_url="https://rp.example"))
    with httpx.Client(transport=router) as client:
        client.seen = seen  # type: ignore[attr-defined]
        yield client


def test_the_size_cap_with_and_without_a_content_length(http: httpx.Client) -> None:
    assert bounded_request(http, "GET", "https://rp.example/sized/1000", max_bytes=1000).body == b"x" * 1000
    for path in ("sized", "stream"):
        with pytest.raises(HttpError) as refused:
            bounded_request(http, "GET", f"https://rp.example/{path}/50000", max_bytes=10_000)
        assert refused.value.code == "too_large" and refused.value.sent
    reply = bounded_request(http, "GET", "https://rp.example/stream/5000", max_bytes=10_000)
    assert reply.status == 200 and len(reply.body) == 5000 and "content-length" not in reply.headers


def test_no_redirect_is_followed_and_no_cookie_is_sent(http: httpx.Client) -> None:
    reply = bounded_request(http, "GET", "https://rp.example/moved", max_bytes=1000)
    assert reply.status == 302 and reply.headers["location"].startswith("https://elsewhere.example")
    assert bounded_request(http, "GET", "https://rp.example/cookie", max_bytes=1000).status == 200
    echoed = bounded_request(http, "POST", "https://rp.example/echo", max_bytes=1000, form={"a": "1 2"})
    assert echoed.media_type == "application/json" and echoed.body == b'{"form":"a=1+2"}'
    (headers,) = http.seen  # type: ignore[attr-defined]
    assert "cookie" not in headers and headers["content-type"] == "application/x-www-form-urlencoded"


def test_transport_failures_say_whether_anything_was_sent() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for handler, sent in ((refuse, False), (time_out, True)):
        with httpx.Client(transport=httpx.MockTransport(handler)) as client, pytest.raises(HttpError) as err:
            bounded_request(client, "POST", "https://rp.example/r", max_bytes=10, form={})
        assert err.value.code == "transport" and err.value.sent is sent
    with pytest.raises(ValueError):
        bounded_request(httpx.Client(), "GET", "https://rp.example/", max_bytes=0)
