"""specs/protocol.md §8, the issuer's row: after a run of enrollments (adults, a minor with a guardian, a
renewed card, refusals, refresh, revocation), neither a dump of every table nor any log line nor any error
answer contains a personal number, name, birth date, document number or portrait bytes of the enrolled
persons — scanned with the project's leak scanner (netid.testing.leaks), with positive controls that plant
each kind of value and prove the scan finds it."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from issuer_service.main import build_context, create_app
from netid.card.icao.access import CanAccessKey
from netid.card.icao.lds import FID_DG
from netid.card.icao.lds.dg2 import parse_dg2
from netid.testing.cards import TestCard, clone_chip, make_card, make_chip, tamper_file
from netid.testing.leaks import date_forms, find_values, personal_value_forms
from netid.testing.world import NOW, DetRng, TestClock
from netid.wallet import SoftwareKeyStore
from netid.wallet.enroll import enroll, refresh
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    LiveIssuer,
    card_reader,
    complete,
    dump_database,
    evidence_for,
    live_output,
    settings_for,
    settings_of,
)


def _renewed(card: TestCard, today: dt.date) -> TestCard:
    person = dataclasses.replace(
        card.person, document_number="R" + card.person.document_number[1:],
        date_of_issue=today - dt.timedelta(days=1), date_of_expiry=today.replace(year=today.year + 10),
    )  # fmt: skip
    image = make_chip(person, card.pki)
    return TestCard(person, card.pki, image, person.access_key, CanAccessKey(person.can), card.trust_store)


def _byte_forms(label: str, data: bytes) -> dict[str, str]:
    """How a run of bytes shows up in text: hex, latin-1, and base64/base64url at every alignment."""
    forms = {f"{label} (hex)": data.hex(), f"{label} (latin-1)": data.decode("latin-1")}
    for shift in range(3):
        b64 = base64.b64encode(data[shift:]).decode()[4:-4]
        forms[f"{label} (base64, offset {shift})"] = b64
        forms[f"{label} (base64url, offset {shift})"] = b64.replace("+", "-").replace("/", "_")
    return forms


def secrets_of(cards: list[TestCard]) -> dict[str, str]:
    """Label → value for everything personal on these cards (labels are safe to print)."""
    values: dict[str, str] = {}
    for i, card in enumerate(cards):
        p = card.person
        forms = personal_value_forms(personal_number=p.personal_number, date_of_birth=p.date_of_birth,
                                     full_name=p.full_name)  # fmt: skip
        # a 6-digit YYMMDD form occurs by chance in ~10 KB of hex hashes (p ~ 1e-3 per run); the 8-digit,
        # ISO, Chinese and Unix-time forms of the same date stay in the scan
        forms = {k: v for k, v in forms.items() if not (v.isdigit() and len(v) < 8)}
        values |= {f"card {i}: {label}": value for label, value in forms.items()}
        values[f"card {i}: MRZ name"] = f"{p.surname_latin}<<{p.given_names_latin}"
        values[f"card {i}: document number"] = p.document_number
        values[f"card {i}: address"] = p.address
        portrait = parse_dg2(card.image.files[FID_DG[2]]).portrait.image
        middle = portrait[len(portrait) // 2 : len(portrait) // 2 + 48]
        values |= {f"card {i}: {k}": v for k, v in _byte_forms("portrait", middle).items()}
        values |= {
            f"card {i}: {k}": v for k, v in _byte_forms("DG2", card.image.files[FID_DG[2]][:40]).items()
        }
    return values


def _run(
    client: httpx.Client, issuer_url: str, cards: dict[str, TestCard], clock: TestClock | None
) -> list[str]:
    """Enrollments of every kind through ``client``; returns the text of every error answer."""
    now = clock if clock is not None else (lambda: int(time.time()))
    errors: list[str] = []

    def run(card: TestCard, **kw: object) -> str:
        keystore = SoftwareKeyStore()
        guardian = kw.get("guardian_netno")
        return enroll(
            card_reader(card), card.access_key, issuer_url, keystore=keystore, http=client, batch_size=3,
            clock=now, guardian_netno=guardian if isinstance(guardian, str) else None,
        ).netno  # fmt: skip

    adult = run(cards["adult"])
    run(cards["other"])
    run(cards["minor"], guardian_netno=adult)
    run(cards["renewed"])
    keystore = SoftwareKeyStore()
    result = enroll(card_reader(cards["adult"]), cards["adult"].access_key, issuer_url, keystore=keystore,
                    http=client, batch_size=2, clock=now)  # fmt: skip
    refresh(issuer_url, result.refresh_token, keystore=keystore, http=client, batch_size=2, clock=now)
    # refusals: each answer is scanned too
    adult_card, minor = cards["adult"], cards["minor"]
    for image in (tamper_file(adult_card.image, FID_DG[11]), clone_chip(adult_card.image)):
        challenge, sealed = evidence_for(client, adult_card, SoftwareKeyStore(), image=image)
        errors.append(complete(client, challenge.enrollment_id, sealed).text)
    challenge, sealed = evidence_for(client, minor, SoftwareKeyStore())
    errors.append(complete(client, challenge.enrollment_id, sealed).text)
    # personal data sent where it does not belong is not echoed back
    number = adult_card.person.personal_number
    errors.append(
        client.post("/enrollment/complete", json={"enrollment_id": number, "evidence": number}).text
    )
    errors.append(client.post("/enrollment/complete", json={"enrollment_id": [number]}).text)
    errors.append(client.post("/token", data={"grant_type": number, "refresh_token": number}).text)
    errors.append(client.post("/devices/revoke", json={"request": number}).text)
    by_card = {"enrollment_id": challenge.enrollment_id, "evidence": number}
    errors.append(client.post("/devices/revoke-by-card", json=by_card).text)
    # revocation by a fresh card read
    challenge, sealed = evidence_for(client, cards["other"], SoftwareKeyStore())
    revoked = client.post(
        "/devices/revoke-by-card", json={"enrollment_id": challenge.enrollment_id, "evidence": sealed}
    )
    assert revoked.status_code == 200, revoked.text
    return errors


def _cards(today: dt.date) -> dict[str, TestCard]:
    adult = make_card(61, today=today)
    return {
        "adult": adult,
        "other": make_card(62, today=today),
        "minor": make_card(63, age=11, today=today),
        "renewed": _renewed(make_card(64, today=today), today),
    }


def _assert_clean(label: str, texts: list[str], values: dict[str, str]) -> None:
    assert texts, f"nothing to scan in {label}"
    found = find_values(texts, values)
    assert found == [], f"{label} holds {found}"


def _assert_controls(texts: list[str], values: dict[str, str], cards: dict[str, TestCard]) -> None:
    """Planted values are found: the scan is not blind to any form it claims to cover."""
    card = cards["adult"]
    p = card.person
    b64url = base64.urlsafe_b64encode(json.dumps({"n": p.personal_number}).encode()).decode().rstrip("=")
    plants = {
        "personal number (JSON log line)": json.dumps({"message": "x", "pn": p.personal_number}),
        "personal number (in a JWT segment)": f"eyJhbGciOiJFUzI1NiJ9.{b64url}.sig",
        "full name (JSON, escaped)": json.dumps({"name": p.full_name}),
        "birth date (ISO)": f"born {date_forms(p.date_of_birth)[0]}",
        "portrait (base64 of DG2)": base64.b64encode(card.image.files[FID_DG[2]]).decode(),
        "portrait (hex)": card.image.files[FID_DG[2]].hex(),
        "document number": f"doc={p.document_number}",
    }
    for what, planted in plants.items():
        assert find_values([*texts, planted], values), f"the scan misses a planted {what}"


@pytest.fixture
def private_issuer(tmp_path: Path) -> Iterator[InProcessIssuer]:
    """An in-process issuer on a test clock with deterministic randomness (a reproducible scan)."""
    settings = settings_for(tmp_path)
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock, rng=DetRng("privacy"))
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        yield InProcessIssuer(client, settings, clock, tmp_path)


def test_database_and_errors_hold_no_personal_data(private_issuer: InProcessIssuer) -> None:
    cards = _cards(CARD_TODAY)
    values = secrets_of(list(cards.values()))
    errors = _run(private_issuer.client, private_issuer.settings.issuer_url, cards, private_issuer.clock)
    context = private_issuer.client.app.state.context  # type: ignore[attr-defined]
    dump = dump_database(context.engine)
    with context.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM persons")).scalar_one() == 4
    _assert_clean("the database", dump, values)
    _assert_clean("the error answers", errors, values)
    _assert_controls(dump, values, cards)
    # and planted in the database itself, the dump shows it
    with context.engine.begin() as connection:
        connection.execute(
            text("UPDATE devices SET revoked_reason = :v"), {"v": cards["adult"].person.document_number}
        )
    assert find_values(dump_database(context.engine), values) == ["card 0: document number"]


@pytest.mark.slow
def test_a_live_issuer_database_and_logs_hold_no_personal_data(live_issuer: LiveIssuer) -> None:
    cards = _cards(dt.date.today())
    values = secrets_of(list(cards.values()))
    with httpx.Client(base_url=live_issuer.url, timeout=30) as client:
        errors = _run(client, live_issuer.url, cards, None)
    settings = settings_of(live_issuer)
    context = build_context(settings)
    try:
        dump = dump_database(context.engine)
    finally:
        context.engine.dispose()
    _assert_clean("the database", dump, values)
    _assert_clean("the error answers", errors, values)
    log_lines: list[str] = []
    if settings.log_file is not None and Path(settings.log_file).exists():
        log_lines = Path(settings.log_file).read_text(encoding="utf-8").splitlines()
        assert log_lines, "the log file is empty"
        _assert_clean("the log file", log_lines, values)
    console = live_output(live_issuer).splitlines()
    _assert_clean("the server's console output", console, values)
    print(f"scanned {len(dump)} database values, {len(log_lines)} log lines, {len(console)} console lines")
    _assert_controls(dump + log_lines + console, values, cards)


def _telemetry_texts(spans: Any, metrics: Any, logs: Any) -> list[str]:
    """Everything FastAPI's OpenTelemetry recorded, as text: span names, attributes and events
    (exception messages included), metric names and data-point attributes, log bodies and attributes."""
    texts = []
    for span in spans.get_finished_spans():
        texts.append(json.dumps({"name": span.name, "attributes": dict(span.attributes or {})}, default=str))
        for event in span.events:
            texts.append(json.dumps({"event": event.name, **dict(event.attributes or {})}, default=str))
    data = metrics.get_metrics_data()
    for resource_metrics in data.resource_metrics if data is not None else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    texts.append(json.dumps({"metric": metric.name, **dict(point.attributes or {})}))
    for record in logs.get_finished_logs():
        log = record.log_record
        texts.append(json.dumps({"body": log.body, **dict(log.attributes or {})}, default=str))
    return texts


def test_traces_metrics_and_telemetry_logs_hold_no_personal_data(tmp_path: Path) -> None:
    """FastAPI records OpenTelemetry spans, metrics and exception logs once a platform team configures
    providers: what it records of the same run of enrollments holds no personal data either."""
    if importlib.util.find_spec("fastapi.telemetry") is None:
        pytest.skip("FastAPI before 0.165 records no OpenTelemetry of its own")
    from opentelemetry.sdk import trace as otel  # the test-core extra installs the SDK
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    tracer_provider = otel.TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    meter_provider = MeterProvider(metric_readers=[metrics])
    telemetry = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    telemetry["logger_provider"] = logger_provider
    settings = settings_for(tmp_path)
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock, rng=DetRng("telemetry"))
    cards = _cards(CARD_TODAY)
    values = secrets_of(list(cards.values()))
    app = create_app(settings, context=context, telemetry=telemetry)
    with TestClient(app, base_url=settings.issuer_url) as client:
        _run(client, settings.issuer_url, cards, clock)
    texts = _telemetry_texts(spans, metrics, logs)
    recorded = " ".join(texts)
    # it did record the run: a span per request, on the enrollment, token and credential routes
    assert len(spans.get_finished_spans()) > 40
    assert all(route in recorded for route in ("/enrollment/complete", "/token", "/credential"))
    _assert_clean("the OpenTelemetry spans, metrics and logs", texts, values)
    _assert_controls(texts, values, cards)
