"""Operations: JSON logs (and their redaction), Prometheus metrics, body-size and rate limits, graceful
shutdown of the real server."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from issuer_service.core.limits import BodySizeLimitMiddleware, TokenBucketLimiter, client_key
from issuer_service.core.logging import JsonFormatter, configure_logging, personal_data_reason
from issuer_service.core.metrics import IssuerMetrics, MetricsMiddleware, record_enrollment, record_issued
from issuer_service.main import build_context, create_app
from netid.personal_number import is_valid_personal_number, personal_number_check_char
from netid.testing.world import NOW, TestClock
from tests.issuer.conftest import InProcessIssuer, LiveIssuer, live_output, settings_for

#: TEST ONLY: a personal number with a valid check character, and one with a wrong one
FIRST17 = "11010519491231002"
PERSONAL_NUMBER = FIRST17 + personal_number_check_char(FIRST17)
NOT_A_PERSONAL_NUMBER = FIRST17 + ("1" if PERSONAL_NUMBER[-1] != "1" else "2")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log record of the process, as configured for `netid-issuer serve`, into a buffer."""
    buffer = io.StringIO()
    handle = configure_logging("INFO", None, stream=buffer)
    try:
        yield buffer
    finally:
        handle.close()


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def _format(message: str, *args: object, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("issuer_service.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    parsed: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return parsed


# --- logs ---------------------------------------------------------------------------------------------


def test_one_json_access_line_per_request_with_the_route_template(
    issuer: InProcessIssuer, log_lines: io.StringIO
) -> None:
    response = issuer.client.get("/status/4242?secret=abc", headers={"X-Request-ID": "proxy-id-0001"})
    assert response.status_code == 404 and response.headers["x-request-id"] == "proxy-id-0001"
    issuer.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})  # not kept: a fresh id
    access = [r for r in _records(log_lines) if r["logger"] == "issuer_service.access"]
    assert [(r["method"], r["path"], r["status"]) for r in access] == [
        ("GET", "/status/{list_id}", 404),
        ("GET", "/healthz", 200),
    ]
    first, second = access
    assert first["request_id"] == "proxy-id-0001" and len(second["request_id"]) == 16
    assert first["level"] == "INFO" and first["time"].endswith("Z") and first["duration_ms"] >= 0
    assert "4242" not in json.dumps(access) and "secret" not in json.dumps(access)


def test_unmatched_paths_are_never_logged_raw(issuer: InProcessIssuer, log_lines: io.StringIO) -> None:
    issuer.client.get(f"/people/{PERSONAL_NUMBER}")
    text = log_lines.getvalue()
    assert PERSONAL_NUMBER not in text
    assert any(r.get("path") == "<unmatched>" and r["status"] == 404 for r in _records(log_lines))


def test_request_bodies_tokens_and_authorization_never_reach_the_log(
    issuer: InProcessIssuer, log_lines: io.StringIO
) -> None:
    bearer = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()
    issuer.client.post(
        "/enrollment/start",
        json={"personal_number": PERSONAL_NUMBER, "name": "TEST 张三"},
        headers={"Authorization": f"Bearer {bearer}", "Cookie": f"session={bearer}"},
    )
    issuer.client.post("/token", data={"pre-authorized_code": bearer, "grant_type": "x"})
    text = log_lines.getvalue()
    for value in (PERSONAL_NUMBER, "张三", bearer, "Bearer"):
        assert value not in text
    assert not any(r.get("redacted") for r in _records(log_lines))  # nothing even needed withholding


def test_redaction_withholds_a_valid_personal_number_anywhere_in_a_line() -> None:
    assert is_valid_personal_number(PERSONAL_NUMBER) and not is_valid_personal_number(NOT_A_PERSONAL_NUMBER)
    # positive controls: in the message, in an argument, in an extra field, inside a longer digit run
    for line in (
        _format(f"looked up {PERSONAL_NUMBER}"),
        _format("looked up %s", PERSONAL_NUMBER.lower()),
        _format("looked up", subject=PERSONAL_NUMBER),
        _format(f"ref 99{PERSONAL_NUMBER}7"),
    ):
        assert line["redacted"] == "personal_number"
        assert PERSONAL_NUMBER not in json.dumps(line) and line["level"] == "WARNING"
        assert line["message"].startswith("log line withheld")
    # negative controls: a wrong check character, and ordinary numbers, pass through
    assert _format(f"order {NOT_A_PERSONAL_NUMBER}")["message"] == f"order {NOT_A_PERSONAL_NUMBER}"
    assert "redacted" not in _format("took %d ms", 123456789012)


def test_redaction_withholds_long_base64_blobs_but_not_digests_or_paths() -> None:
    blob = base64.b64encode(secrets.token_bytes(64)).decode()
    jwt = (
        "eyJhbGciOiJFZERTQSJ9."
        + base64.urlsafe_b64encode(secrets.token_bytes(60)).decode().rstrip("=")
        + ".sig"
    )
    for text in (blob, jwt, f"portrait={blob[:44]}"):
        assert personal_data_reason(text) == "base64_blob", text
        assert _format("got %s", text)["redacted"] == "base64_blob"
    for harmless in (
        secrets.token_hex(32),  # a SHA-256 hex digest
        "/work/main/.venv/lib/python3.11/site-packages/sqlalchemy/engine/base.py",
        "netcert-20261130-fc2e71 status_list-20261130-548f3d",
        "3f2b8c1e-9a4d-4c2b-8e1f-0a9b7c6d5e4f",
    ):
        assert personal_data_reason(harmless) is None, harmless


def test_an_exception_traceback_is_logged_but_its_personal_data_is_not() -> None:
    try:
        raise ValueError(f"cannot parse {PERSONAL_NUMBER}")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, exc_info)
    line = json.loads(JsonFormatter().format(record))
    assert line["redacted"] == "personal_number" and "exc" not in line
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("no data here")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["exc_type"] == "ValueError" and "no data here" in line["exc"]


def test_log_file_receives_the_same_lines(tmp_path: Path) -> None:
    stderr = io.StringIO()
    handle = configure_logging("INFO", tmp_path / "logs" / "issuer.log", stream=stderr)
    try:
        logging.getLogger("issuer_service.test").info("hello", extra={"count": 3, "obj": object()})
    finally:
        handle.close()
    lines = (tmp_path / "logs" / "issuer.log").read_text().splitlines()
    assert lines == stderr.getvalue().splitlines() and len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "hello" and entry["count"] == 3 and "obj" not in entry  # only plain scalars


@pytest.mark.slow
def test_the_live_server_logs_only_json_and_no_uvicorn_access_lines(live_issuer: LiveIssuer) -> None:
    httpx.get(f"{live_issuer.url}/healthz?x=1")
    httpx.get(f"{live_issuer.url}/jwks.json")
    time.sleep(0.2)
    for source in (live_output(live_issuer), (live_issuer.tmp / "issuer.log").read_text()):
        records = [json.loads(line) for line in source.splitlines()]  # every line is one JSON object
        assert any(r["logger"] == "uvicorn.error" and "startup" in r["message"] for r in records)
        paths = [r["path"] for r in records if r["logger"] == "issuer_service.access"]
        assert "/healthz" in paths and "/jwks.json" in paths
        assert not any(r["logger"] == "uvicorn.access" for r in records)
        assert "?x=1" not in source


# --- metrics ------------------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_requests_by_route_template_status_lists_and_problems(issuer: InProcessIssuer) -> None:
    client = issuer.client
    client.get("/healthz")
    client.get("/healthz")
    client.get("/status/1")
    client.get("/status/2")
    client.get("/nothing/here/110105")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    total = "netid_issuer_http_requests_total"
    assert _sample(text, total, method="GET", route="/healthz", status="200") == 2
    assert _sample(text, total, method="GET", route="/status/{list_id}", status="404") == 2
    assert _sample(text, total, method="GET", route="<unmatched>", status="404") == 1
    assert _sample(text, "netid_issuer_status_list_fetches_total", status="404") == 2
    assert _sample(text, "netid_issuer_problems_total", code="not_found") == 3
    buckets = "netid_issuer_http_request_duration_seconds_count"
    assert _sample(text, buckets, method="GET", route="/healthz", status="200") == 2
    assert "/nothing/here" not in text and "110105" not in text
    # the metrics endpoint is not part of the API document
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_every_app_has_its_own_registry(tmp_path: Path) -> None:
    apps = [create_app(settings_for(tmp_path / str(i))) for i in range(2)]
    assert apps[0].state.metrics.registry is not apps[1].state.metrics.registry
    assert apps[0].state.metrics.registry is not __import__("prometheus_client").REGISTRY


def test_services_record_enrollments_and_issued_credentials_of_their_own_app() -> None:
    def enroll(request: Request) -> JSONResponse:  # a sync endpoint: runs in a worker thread, as services do
        record_enrollment()
        record_issued(30)
        return JSONResponse({})

    metrics = IssuerMetrics()
    other = IssuerMetrics()
    app = MetricsMiddleware(Starlette(routes=[Route("/e", enroll, methods=["POST"])]), metrics=metrics)
    with TestClient(app) as client:
        client.post("/e")
        client.post("/e")
    record_enrollment()  # outside any request: nothing to count, and no error
    text = metrics.render().decode()
    assert _sample(text, "netid_issuer_enrollments_total") == 2
    assert _sample(text, "netid_issuer_credentials_issued_total") == 60
    assert _sample(other.render().decode(), "netid_issuer_enrollments_total") == 0


# --- limits -------------------------------------------------------------------------------------------


def _small_issuer(tmp_path: Path, **overrides: Any) -> TestClient:
    settings = settings_for(tmp_path, **overrides)
    return TestClient(
        create_app(settings, context=build_context(settings, clock=TestClock(NOW))),
        base_url=settings.issuer_url,
    )


def test_a_declared_oversized_body_is_refused_before_it_is_read() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not run")

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/token", "headers": [(b"content-length", b"2048")]}
    import asyncio

    asyncio.run(BodySizeLimitMiddleware(app, max_bytes=1024)(scope, receive, send))
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert body["code"] == "too_large" and body["type"] == "/problems/too_large"


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_bodies_get_a_413_problem(tmp_path: Path, chunked: bool) -> None:
    body = b"{" + b" " * 2048 + b"}"
    with _small_issuer(tmp_path, max_body_bytes=1024) as client:
        content: Any = iter([body[:1000], body[1000:]]) if chunked else body
        response = client.post("/token", content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "too_large"
        # a body that fits, sent the same way, reaches the route (which then judges it on its own terms)
        small: Any = iter([b"grant_type=x"]) if chunked else b"grant_type=x"
        response = client.post(
            "/token", content=small, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code != 413
        metrics = client.get("/metrics").text
        assert _sample(metrics, "netid_issuer_problems_total", code="too_large") == 1


def test_enrollment_starts_are_rate_limited_per_client(tmp_path: Path) -> None:
    with _small_issuer(tmp_path, enrollment_rate_per_minute=3) as client:
        statuses = [client.post("/enrollment/start").status_code for _ in range(3)]
        assert 429 not in statuses
        limited = client.post("/enrollment/start")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 20  # one start every 20 s at 3 a minute
        assert client.get("/healthz").status_code == 200  # other routes are not limited


def test_the_token_bucket() -> None:
    now = [1000.0]
    limiter = TokenBucketLimiter(6, clock=lambda: now[0], max_keys=3)  # 6 a minute: one every 10 s
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") == 0.0  # another client has its own bucket
    now[0] += 10.0
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    now[0] += 3600
    assert [limiter.take("a") for _ in range(7)][-1] > 0  # refills to the burst, not beyond
    for key in ("c", "d", "e"):
        limiter.take(key)
    assert len(limiter) == 3  # the least recently seen are forgotten


def test_clients_are_keyed_by_ipv4_address_and_ipv6_64() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("testclient") == "testclient"


# --- the real server ----------------------------------------------------------------------------------


def _raw_request(url: str, data: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(data)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@pytest.mark.slow
def test_the_live_server_refuses_oversized_bodies_without_reading_them(live_issuer: LiveIssuer) -> None:
    # a declared length over the limit: answered at once, though not one byte of the body was sent
    sock = _raw_request(
        live_issuer.url,
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n",
    )
    with sock:
        head = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 413 ") and b'"code":"too_large"' in head
    # chunked, no length: answered as soon as the limit is passed (the client then stops sending, so the
    # server's close finds nothing unread and the answer is not lost to a TCP reset)
    sock = _raw_request(
        live_issuer.url, b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with sock:
        chunk = b"a" * 65536
        for _ in range(4):  # exactly the default limit, 256 KiB: still accepted
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"1\r\na\r\n")  # one byte more
        head = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 413 ")


@pytest.mark.slow
def test_sigterm_lets_a_request_in_flight_finish_and_exits_0(live_issuer: LiveIssuer) -> None:
    # a slow client: headers and half a (chunked) body now, the rest after the SIGTERM
    sock = _raw_request(
        live_issuer.url,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    with sock:
        time.sleep(0.3)
        live_issuer.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert live_issuer.process.poll() is None  # waiting for the request in flight
        with pytest.raises(httpx.TransportError):  # but no longer accepting new connections
            httpx.get(f"{live_issuer.url}/healthz", timeout=2)
        sock.sendall(b"0\r\n\r\n")
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 200 ") and response.endswith(b'{"status":"ok"}')
    assert live_issuer.process.wait(timeout=15) == 0, live_output(live_issuer)
    messages = [json.loads(line)["message"] for line in live_output(live_issuer).splitlines()]
    assert "Shutting down" in messages and "GET /healthz 200" in messages


# --- the operator's documentation ---------------------------------------------------------------------


def test_docs_issuer_md_lists_every_setting_and_metric() -> None:
    from issuer_service.core.config import Settings

    docs = (Path(__file__).resolve().parents[2] / "docs" / "issuer.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`{name}`" not in docs]
    assert not missing, f"docs/issuer.md does not describe these settings: {missing}"
    names = {m.name for m in IssuerMetrics().registry.collect()}
    undocumented = [n for n in names if f"`{n}" not in docs]
    assert not undocumented, f"docs/issuer.md does not list these metrics: {undocumented}"
