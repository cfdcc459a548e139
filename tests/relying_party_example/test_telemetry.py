"""What FastAPI's OpenTelemetry records of the shop — spans, metrics, log records — holds none of the secrets
its URLs carry (a same-device ``response_code``, the transaction ids of the request URIs), nor the state,
the nonce, the session cookie or a personal value; whether the providers are given to ``create_app`` or set
for the whole process, as ``opentelemetry-instrument`` does. The controls show the run was recorded: the
callback's route, its query's names, the NetID routes' paths with their ids hidden, a failure's log record.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from fastapi.testclient import TestClient
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from netid.testing.leaks import find_values, personal_value_forms
from netid.verifier.http.sql import SqlTransactionStore
from relying_party_example.session import COOKIE_NAME
from relying_party_example.telemetry import REDACTED, PrivateUrlApp, hidden_path, hidden_query
from tests.relying_party_example.kit import BASE, Shop, make_shop, request_uri_of

ROOT = Path(__file__).resolve().parents[2]
needs_fastapi_telemetry = pytest.mark.skipif(
    importlib.util.find_spec("fastapi.telemetry") is None,
    reason="FastAPI before 0.165 records no OpenTelemetry of its own",
)


class Recorder:
    """In-memory OpenTelemetry providers and what they recorded."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        self.logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        self.tracer_provider = sdk_trace.TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))

    def providers(self) -> dict[str, Any]:
        """The ``telemetry=`` configuration that records here."""
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
        }

    def set_globally(self) -> None:
        """Make these the process's providers, as ``opentelemetry-instrument`` does (for good: once set,
        OpenTelemetry keeps them — only in a process of its own)."""
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        _logs.set_logger_provider(self.logger_provider)

    def recorded(self) -> list[dict[str, Any]]:
        """Every span (name, attributes, events), metric data point (name, attributes) and log record
        (event name, body, attributes), as JSON-ready dictionaries."""
        out: list[dict[str, Any]] = []
        for span in self.spans.get_finished_spans():
            out.append({"span": span.name, **dict(span.attributes or {})})
            out.extend({"event": event.name, **dict(event.attributes or {})} for event in span.events)
        data = self.metrics.get_metrics_data()
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        out.append({"metric": metric.name, **dict(point.attributes or {})})
        for finished in self.logs.get_finished_logs():
            record = finished.log_record
            out.append({"log": record.event_name, "body": record.body, **dict(record.attributes or {})})
        return json.loads(json.dumps(out, default=str))  # type: ignore[no-any-return]


def _tx_id(link: str) -> str:
    """The transaction id at the end of an ``openid4vp://`` link's ``request_uri``."""
    request_uri = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["request_uri"][0]
    return request_uri.rsplit("/", 1)[1]


def _check_secrets(shop: Shop, page: str, redirect: str, label: str) -> dict[str, str]:
    """The secrets of one check (label → value): both transaction ids, their states and nonces, and the
    same-device redirect's response code."""
    rp = shop.services.rp
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect).query)
    secrets = {f"{label}: response code": query["response_code"][0]}
    for way in ("cross-device", "same-device"):
        link = request_uri_of(page, "qr" if way == "cross-device" else way)
        tx = rp.transaction(_tx_id(link))
        assert tx is not None
        secrets[f"{label}: {way} transaction id"] = tx.id
        secrets[f"{label}: {way} state"] = tx.request.state
        secrets[f"{label}: {way} nonce"] = tx.request.nonce
    return secrets


def run_the_shop(shop: Shop) -> dict[str, str]:
    """A same-device sign-in end to end (its link then used again), a page polling the NetID status route,
    and a same-device age check whose callback fails on the server; the secrets met on the way."""
    rp = shop.services.rp
    page = shop.start("/signin")
    cross = _tx_id(request_uri_of(page))
    polled = shop.browser.get(f"{rp.prefix}/transactions/{cross}")
    assert polled.json()["status"] == "pending"
    redirect = shop.post(shop.present(request_uri_of(page, "same-device"))).json()["redirect_uri"]
    back = shop.browser.get(redirect)
    assert back.status_code == 303 and back.headers["location"] == "/account", back.text
    assert shop.browser.get(redirect).status_code == 409
    secrets = _check_secrets(shop, page, redirect, "sign-in")
    # the age check's callback meets a store that is away: FastAPI logs the unhandled exception
    page = shop.start("/age")
    redirect = shop.post(shop.present(request_uri_of(page, "same-device"))).json()["redirect_uri"]
    browser = TestClient(shop.app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False)
    browser.cookies = shop.browser.cookies
    with mock.patch.object(rp, "result", side_effect=RuntimeError("the transaction store is away")):
        assert browser.get(redirect).status_code == 500
    secrets |= _check_secrets(shop, page, redirect, "age check")
    secrets["session cookie"] = shop.browser.cookies[COOKIE_NAME]
    person = shop.world.person
    return secrets | personal_value_forms(
        personal_number=person.personal_number, date_of_birth=person.date_of_birth, full_name=person.full_name
    )


def record_with_global_providers() -> None:
    """Run in a process of its own (global providers stay set, and every FastAPI app of the test session
    would record into them): the shop, given no ``telemetry=``, under global providers; print what they
    recorded and the secrets, as one JSON line."""
    recorder = Recorder()
    recorder.set_globally()
    secrets = run_the_shop(make_shop())
    print(json.dumps({"recorded": recorder.recorded(), "secrets": secrets}))


def _recorded(configured: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    if configured == "by create_app":
        recorder = Recorder()
        secrets = run_the_shop(make_shop(telemetry=recorder.providers()))
        return recorder.recorded(), secrets
    code = f"from {__name__} import record_with_global_providers; record_with_global_providers()"
    child = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    return out["recorded"], out["secrets"]


def _one(recorded: list[dict[str, Any]], **attributes: Any) -> dict[str, Any]:
    """The first recorded item with these attributes (the test fails if there is none)."""
    for item in recorded:
        if all(item.get(key) == value for key, value in attributes.items()):
            return item
    raise AssertionError(f"nothing recorded with {attributes}")


@needs_fastapi_telemetry
@pytest.mark.parametrize("configured", ["by create_app", "globally"])
def test_telemetry_records_the_same_device_flow_without_its_secrets(configured: str) -> None:
    recorded, secrets = _recorded(configured)
    # controls: the run was recorded, with the URLs' shapes and their secrets hidden
    callback = _one(recorded, span="GET /check/callback", **{"http.response.status_code": 303})
    assert callback["url.path"] == "/check/callback" and callback["url.query"] == f"response_code={REDACTED}"
    _one(recorded, span="GET /netid/request/{tx_id}", **{"url.path": f"/netid/request/{REDACTED}"})
    _one(recorded, span="POST /netid/response/{tx_id}", **{"url.path": f"/netid/response/{REDACTED}"})
    _one(recorded, span="GET /netid/transactions/{tx_id}", **{"url.path": f"/netid/transactions/{REDACTED}"})
    _one(recorded, metric="http.server.request.duration", **{"http.route": "/check/callback"})
    failure = _one(recorded, log="http.server.request.exception", **{"http.route": "/check/callback"})
    assert failure["exception.type"] == "RuntimeError"
    assert len(secrets) > 15
    texts = [json.dumps(item, ensure_ascii=False) for item in recorded]
    assert find_values(texts, secrets) == []
    # and the scan finds a secret in the form a leak would take
    code = secrets["sign-in: response code"]
    leaked = json.dumps({**callback, "url.query": f"response_code={code}"})
    assert find_values([*texts, leaked], secrets) == ["sign-in: response code"]


#: the database refuses to store an answer (a full disk, a lost primary): the write fails with its values
_REFUSE_ANSWERS = """
CREATE TRIGGER refuse_answers BEFORE UPDATE OF response_code ON netid_transactions
WHEN NEW.response_code IS NOT NULL BEGIN SELECT RAISE(ABORT, 'the database refuses the answer'); END
"""


@needs_fastapi_telemetry
def test_a_database_error_logs_no_response_code(tmp_path: Path) -> None:
    """An unhandled exception's message goes into FastAPI's log record: the SQL store the shop builds from
    ``NETID_SHOP_DATABASE_URL`` keeps the statement's values (the code, the transaction id) out of it."""
    recorder = Recorder()
    store = SqlTransactionStore(f"sqlite:///{tmp_path / 'shop.db'}")  # as the shop builds it from a URL
    shop = make_shop(telemetry=recorder.providers(), store=store)
    with store.engine.begin() as connection:
        connection.execute(text(_REFUSE_ANSWERS))
    link = request_uri_of(shop.start("/signin"), "same-device")
    response = shop.present(link)
    wallet = TestClient(shop.app, base_url=BASE, raise_server_exceptions=False)
    with mock.patch.object(store, "transition", wraps=store.transition) as transition:
        assert wallet.post(response.response_uri, data=response.form()).status_code == 500
    secrets = {"response code": transition.call_args.kwargs["response_code"], "transaction id": _tx_id(link)}
    recorded = recorder.recorded()
    failure = _one(recorded, log="http.server.request.exception", **{"http.route": "/netid/response/{tx_id}"})
    assert failure["exception.type"] == "sqlalchemy.exc.IntegrityError"
    assert "the database refuses the answer" in failure["exception.message"]
    assert find_values([json.dumps(item) for item in recorded], secrets) == []


def test_the_shop_hides_the_netid_routers_ids_and_still_reads_the_real_url() -> None:
    """Telemetry sees the URL hidden; the pages and the NetID router read it as it arrived."""
    shop = make_shop()
    assert isinstance(shop.app, PrivateUrlApp)
    assert sorted(shop.app.hidden_paths) == ["/netid/request/", "/netid/response/", "/netid/transactions/"]
    page = shop.start("/signin")
    assert shop.browser.get(f"/netid/transactions/{_tx_id(request_uri_of(page))}").status_code == 200
    assert shop.browser.get(f"/netid/transactions/{'A' * 22}").status_code == 404
    redirect = shop.post(shop.present(request_uri_of(page, "same-device"))).json()["redirect_uri"]
    assert shop.browser.get(redirect).headers["location"] == "/account"  # the real response_code
    assert shop.session()["signed_in"]


@pytest.mark.parametrize(
    ("path", "hidden"),
    [
        ("/netid/request/Q7cp-9gOgOKxZUYfopWN6g", f"/netid/request/{REDACTED}"),
        ("/netid/response/Q7cp-9gOgOKxZUYfopWN6g/more", f"/netid/response/{REDACTED}"),
        ("/shop/netid/request/Q7cp-9gOgOKxZUYfopWN6g", f"/shop/netid/request/{REDACTED}"),  # a root_path
        ("/netid/request/", f"/netid/request/{REDACTED}"),
        ("/netid/response", "/netid/response"),  # the shared response URI: no id in it
        ("/check/callback", "/check/callback"),
    ],
)
def test_hidden_path(path: str, hidden: str) -> None:
    assert hidden_path(path, ["/netid/request/", "/netid/response/"]) == hidden


@pytest.mark.parametrize(
    ("query", "hidden"),
    [
        (b"response_code=Q7cp-9gOgOKxZUYfopWN6g", b"response_code=REDACTED"),
        (b"a=1&a=2&b=&c", b"a=REDACTED&a=REDACTED&b=REDACTED&c=REDACTED"),
        (b"response%5Fcode=%51%37", b"response_code=REDACTED"),
        (b"", b""),
    ],
)
def test_hidden_query(query: bytes, hidden: bytes) -> None:
    assert hidden_query(query) == hidden
