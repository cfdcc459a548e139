"""End to end through a real uvicorn on 127.0.0.1: a simulated card, the wallet's enrollment client
(netid.wallet.enroll) over HTTP, a batch of 30 netcerts that an RP's Verifier accepts (issuer keys from
/jwks.json, status lists over HTTP), an RP-scoped batch by refresh, a renewed card, and revocation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.base import make_engine
from issuer_service.main import build_context
from issuer_service.services.audit import verify_chain
from netid.card.icao.access import CanAccessKey
from netid.credentials.netno import is_valid_netno, pairwise_subject
from netid.errors import EnrollmentError, VerificationError
from netid.testing.cards import TestCard, clone_chip, make_card, make_chip
from netid.verifier import Query
from netid.wallet import SoftwareKeyStore
from netid.wallet.enroll import enroll, refresh, revoke_device, seal_evidence
from tests.issuer.conftest import (
    LiveIssuer,
    card_reader,
    device_key,
    holder_wallet,
    live_output,
    read_card,
    register_test_rp,
    rp_verifier,
    settings_of,
    start,
    start_live_issuer,
    stop_live_issuer,
)

pytestmark = pytest.mark.slow


def clock() -> int:
    return int(time.time())


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveIssuer]:
    """A live issuer on its default SQLite file, and one on a real PostgreSQL server."""
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgresql" else None
    live = start_live_issuer(tmp_path, database_url=url)
    try:
        yield live
    finally:
        assert stop_live_issuer(live) == 0, live_output(live)


@pytest.fixture
def side(server: LiveIssuer) -> Iterator[IssuerContext]:
    """The issuer's database and key store opened from the test (to register an RP row directly)."""
    context = build_context(settings_of(server))
    try:
        yield context
    finally:
        context.engine.dispose()


def test_card_to_a_verified_batch_through_a_real_server(server: LiveIssuer, side: IssuerContext) -> None:
    live_issuer = server
    rp = register_test_rp(side)
    card = make_card(51)
    keystore = SoftwareKeyStore()
    steps: list[str] = []
    with httpx.Client(timeout=30) as http:
        started = time.perf_counter()
        result = enroll(
            card_reader(card), card.access_key, live_issuer.url, keystore=keystore, http=http, batch_size=30,
            progress=steps.append,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        assert steps == ["start", "read", "complete", "token", "credentials", "done"]
        assert is_valid_netno(result.netno) and len(result.credentials) == 30
        print(f"enrollment with a batch of 30 over HTTP: {elapsed * 1000:.0f} ms")

        wallet = holder_wallet(keystore, http, live_issuer.url)
        wallet.add_credentials(result.credentials)
        verifier = rp_verifier(http, live_issuer.url, clock)
        for _ in range(30):
            request = rp.request(Query(purpose="age check", age_over=18, doc_valid=True), now=clock())
            vp = wallet.present(request.to_uri(), now=clock(), consent=lambda p: True, amr="pin")
            answers = verifier.verify(dict(vp.vp_token), request)
            assert answers["age_over_18"] is True and answers["doc_valid"] is True
            assert answers.subject is None  # anonymous netcerts
        assert not wallet.unused()

        # an RP-scoped batch, by refresh: no card read
        batch = refresh(
            live_issuer.url, result.refresh_token, keystore=keystore, http=http, batch_size=3,
            configuration_id="netcert_rp", rp_id=rp.rp_id,
        )  # fmt: skip
        wallet.add_credentials(batch.credentials)
        expected = pairwise_subject(result.netno, rp.sector, side.keystore.secret("pairwise"))
        for _ in range(3):
            request = rp.request(Query(purpose="sign in", want_subject=True), now=clock())
            vp = wallet.present(request.to_uri(), now=clock(), consent=lambda p: True, amr="pin")
            assert verifier.verify(dict(vp.vp_token), request).subject == expected

        # a renewed card: same person, same network number
        person = dataclasses.replace(
            card.person, document_number="R00000051", date_of_issue=dt.date.today() - dt.timedelta(days=2),
            date_of_expiry=dt.date.today().replace(year=dt.date.today().year + 10),
        )  # fmt: skip
        new = TestCard(
            person, card.pki, make_chip(person, card.pki), person.access_key, CanAccessKey(person.can),
            card.trust_store,
        )  # fmt: skip
        again = enroll(
            card_reader(new),
            new.access_key,
            live_issuer.url,
            keystore=SoftwareKeyStore(),
            http=http,
            batch_size=1,
        )
        assert again.netno == result.netno

        # the phone is lost: the device key revokes its credentials; the verifier sees it in the status list
        fresh = refresh(live_issuer.url, batch.refresh_token, keystore=keystore, http=http, batch_size=2)
        wallet.add_credentials(fresh.credentials)
        assert revoke_device(live_issuer.url, result.device_key_id, keystore=keystore, http=http) == 35
        verifier = rp_verifier(http, live_issuer.url, clock)
        request = rp.request(Query(purpose="age check", age_over=18), now=clock())
        vp = wallet.present(request.to_uri(), now=clock(), consent=lambda p: True, amr="pin")
        with pytest.raises(VerificationError) as caught:
            verifier.verify(dict(vp.vp_token), request)
        assert caught.value.code == "status_revoked"
        with pytest.raises(EnrollmentError) as refused:
            refresh(live_issuer.url, fresh.refresh_token, keystore=keystore, http=http, batch_size=1)
        assert refused.value.code == "invalid_grant" and refused.value.status == 400


def test_refusals_through_a_real_server(live_issuer: LiveIssuer) -> None:
    """The wallet client reports the issuer's precise problem code, over real HTTP."""
    card = make_card(52)
    with httpx.Client(timeout=30) as http:
        with pytest.raises(EnrollmentError) as caught:
            enroll(card_reader(card, clone_chip(card.image)), card.access_key, live_issuer.url,
                   keystore=SoftwareKeyStore(), http=http, batch_size=1)  # fmt: skip
        assert caught.value.code == "active_authentication" and caught.value.status == 422
        child = make_card(53, age=10)
        with pytest.raises(EnrollmentError) as caught:
            enroll(
                card_reader(child), child.access_key, live_issuer.url, keystore=SoftwareKeyStore(), http=http,
                batch_size=1,
            )  # fmt: skip
        assert caught.value.code == "guardian_required"
        with pytest.raises(EnrollmentError) as caught:
            enroll(card_reader(card), card.access_key, "http://127.0.0.1:9", keystore=SoftwareKeyStore(),
                   http=http, batch_size=1)  # fmt: skip
        assert caught.value.code == "transport"


# --- several nodes, one PostgreSQL; a node killed mid-flight ------------------------------------------------


def _sealed_reads(client: httpx.Client, card: TestCard, count: int) -> list[dict[str, str]]:
    """``count`` enrollments of ``card``, each read with its own challenge and its own device key."""
    bodies = []
    keystore = SoftwareKeyStore()
    for _ in range(count):
        challenge = start(client)
        sealed = seal_evidence(read_card(card, challenge.challenge), challenge, device_key(keystore))
        bodies.append({"enrollment_id": challenge.enrollment_id, "evidence": sealed})
    return bodies


def test_two_nodes_enrolling_one_person_twenty_times_at_once(tmp_path: Path, fresh_postgres_url: str) -> None:
    """Two issuer processes on one PostgreSQL (one key file, one issuer URL behind a balancer): 20
    simultaneous enrollments of the same person make exactly one person and one network number."""
    a = start_live_issuer(tmp_path, database_url=fresh_postgres_url)
    b = start_live_issuer(
        tmp_path, database_url=fresh_postgres_url, extra_env={"NETID_ISSUER_ISSUER_URL": a.url}
    )
    try:
        card = make_card(54)
        clients = [httpx.Client(base_url=node.url, timeout=60) for node in (a, b)]
        bodies = _sealed_reads(clients[0], card, 20)
        barrier = threading.Barrier(20)
        answers: list[httpx.Response | BaseException] = [RuntimeError("not run")] * 20

        def run(i: int) -> None:
            barrier.wait()
            try:
                answers[i] = clients[i % 2].post("/enrollment/complete", json=bodies[i])
            except BaseException as exc:  # pragma: no cover - reported below
                answers[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
        responses = [r for r in answers if isinstance(r, httpx.Response)]
        assert len(responses) == 20, answers
        assert [r.status_code for r in responses] == [200] * 20, [
            r.text for r in responses if r.status_code != 200
        ]
        assert len({r.json()["netno"] for r in responses}) == 1
        engine = make_engine(fresh_postgres_url)
        try:
            with engine.connect() as connection:
                count = connection.execute(text("SELECT count(*) FROM persons")).scalar_one()
                devices = connection.execute(text("SELECT count(*) FROM devices")).scalar_one()
        finally:
            engine.dispose()
        assert (count, devices) == (1, 20)
    finally:
        for node in (b, a):
            assert stop_live_issuer(node) == 0, live_output(node)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_issuer_leaves_nothing_partial_and_loses_nothing_committed(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """SIGKILL in the middle of a stream of enrollments (each with its batch): afterwards every person has
    a device, every device its completed enrollment, code and audit entry, every credential its device;
    the audit chain holds; and every enrollment whose answer a client received is there with its netno."""
    url = request.getfixturevalue("fresh_postgres_url") if backend == "postgresql" else None
    live = start_live_issuer(tmp_path, database_url=url)
    answered: set[str] = set()  # the netno of every enrollment a client completed
    stop = threading.Event()
    cards = [make_card(200 + i) for i in range(40)]

    def run(offset: int) -> None:
        with httpx.Client(base_url=live.url, timeout=10) as client:
            for i in range(offset, len(cards), 4):
                if stop.is_set():
                    return
                try:
                    keystore = SoftwareKeyStore()
                    result = enroll(card_reader(cards[i]), cards[i].access_key, live.url, keystore=keystore,
                                    http=client, batch_size=5)  # fmt: skip
                    answered.add(result.netno)
                except (EnrollmentError, httpx.HTTPError):
                    return  # the server is gone

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(answered) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    live.process.kill()  # SIGKILL: no shutdown, no flush, mid-request
    live.process.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(answered) >= 6, live_output(live)
    settings = settings_of(live)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as c:

            def scalar(sql: str) -> int:
                return int(c.execute(text(sql)).scalar_one())

            assert (
                scalar(
                    "SELECT count(*) FROM persons p WHERE NOT EXISTS "
                    "(SELECT 1 FROM devices d WHERE d.person_id = p.id)"
                )
                == 0
            )
            assert (
                scalar(
                    "SELECT count(*) FROM devices d WHERE NOT EXISTS (SELECT 1 FROM enrollments e "
                    "WHERE e.device_id = d.id AND e.state = 'completed')"
                )
                == 0
            )
            assert (
                scalar(
                    "SELECT count(*) FROM devices d WHERE NOT EXISTS "
                    "(SELECT 1 FROM pre_authorized_codes c WHERE c.device_id = d.id)"
                )
                == 0
            )
            assert scalar("SELECT count(*) FROM enrollments WHERE state = 'completed'") == scalar(
                "SELECT count(*) FROM audit_log WHERE action = 'enrollment'"
            )
            assert (
                scalar(
                    "SELECT count(*) FROM issued_credentials i WHERE NOT EXISTS "
                    "(SELECT 1 FROM devices d WHERE d.id = i.device_id)"
                )
                == 0
            )
            assert scalar("SELECT count(*) FROM issued_credentials") == 5 * scalar(
                "SELECT count(*) FROM audit_log WHERE action = 'issuance'"
            )
            stored = {row[0] for row in c.execute(text("SELECT netno FROM persons"))}
        with Session(engine) as session:
            assert verify_chain(session) is None
    finally:
        engine.dispose()
    assert answered <= stored  # nothing a client was told about is lost
    restarted = start_live_issuer(tmp_path, database_url=url)  # and the issuer starts again on what is left
    try:
        assert httpx.get(f"{restarted.url}/readyz").json() == {"status": "ready"}
    finally:
        assert stop_live_issuer(restarted) == 0
