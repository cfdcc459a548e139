"""The issuer under test: in process (FastAPI's TestClient) for API tests, and as a real uvicorn server
on 127.0.0.1 for end-to-end ones. Every test gets its own SQLite file, key file and TEST ONLY CSCA."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from issuer_service.core.config import Settings
from issuer_service.core.context import IssuerContext
from issuer_service.db.base import Base, transaction
from issuer_service.db.tables import RelyingParty
from issuer_service.main import build_context, create_app
from issuer_service.services.status import claim_entries, list_uri
from netid.card.icao.access import AccessKey
from netid.card.icao.read_document import CardReadout, read_document_with_retry
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.card.simulator.image import ChipImage
from netid.credentials.jose import SigningKey, public_jwk
from netid.credentials.status_source import CachedStatusLists
from netid.credentials.trust import IssuerTrust
from netid.issuance import IssuerProfile, RpRegistration, issue_rp_certificate
from netid.oid4vp.request import PresentationRequest
from netid.testing.cards import TestCard, make_pki
from netid.testing.world import NOW, TestClock, fixed_key
from netid.verifier import Query, Verifier, build_request
from netid.wallet import SoftwareKeyStore, Wallet
from netid.wallet.enroll import EnrollmentChallenge, EnrollmentResult, enroll, parse_start, seal_evidence
from tests.issuer import pg

#: TEST ONLY admin tokens: name -> token (the settings hold their SHA-256)
ADMIN_TOKENS = {"alice": "TEST-admin-token-alice-0123456789", "bob": "TEST-admin-token-bob-0123456789"}
KEYSTORE_PASSPHRASE = "TEST ONLY issuer key-file passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_csca(folder: Path) -> Path:
    """The test kit's CSCA (shared by every make_card) as the issuer's only trust anchor."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test-csca.pem").write_bytes(make_pki(0).csca_certificate.public_bytes(Encoding.PEM))
    return folder


def issuer_env(tmp: Path, *, port: int, database_url: str | None = None) -> dict[str, str]:
    """NETID_ISSUER_* settings for a test issuer rooted at ``tmp``."""
    hashes = {name: hashlib.sha256(token.encode()).hexdigest() for name, token in ADMIN_TOKENS.items()}
    return {
        "NETID_ISSUER_ISSUER_URL": f"http://127.0.0.1:{port}",
        "NETID_ISSUER_PORT": str(port),
        "NETID_ISSUER_DEV_MODE": "true",
        "NETID_ISSUER_DATABASE_URL": database_url or f"sqlite:///{tmp / 'issuer.db'}",
        "NETID_ISSUER_KEYSTORE_PATH": str(tmp / "issuer-keys.json"),
        "NETID_ISSUER_KEYSTORE_PASSPHRASE": KEYSTORE_PASSPHRASE,
        "NETID_ISSUER_CSCA_PATH": str(write_csca(tmp / "csca")),
        "NETID_ISSUER_MIGRATE_ON_START": "true",
        "NETID_ISSUER_ADMIN_TOKENS": json.dumps(hashes),
        "NETID_ISSUER_LOG_FILE": str(tmp / "issuer.log"),
    }


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    env = issuer_env(tmp, port=8000)
    values: dict[str, Any] = {k.removeprefix("NETID_ISSUER_").lower(): v for k, v in env.items()}
    values.pop("port")
    values["admin_tokens"] = json.loads(values["admin_tokens"])
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class InProcessIssuer:
    client: TestClient
    settings: Settings
    clock: TestClock
    tmp: Path

    def admin(self, name: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKENS[name]}"}


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[InProcessIssuer]:
    """The issuer app in process, on a clock the test controls (starting at the test world's NOW)."""
    settings = settings_for(tmp_path)
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock)
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        yield InProcessIssuer(client, settings, clock, tmp_path)


@dataclass
class LiveIssuer:
    url: str
    process: subprocess.Popen[bytes]
    tmp: Path
    env: dict[str, str]


def start_live_issuer(
    tmp: Path, *, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> LiveIssuer:
    """``python -m issuer_service serve`` on a free loopback port; returns once /readyz answers."""
    port = free_port()
    env = os.environ | issuer_env(tmp, port=port, database_url=database_url) | (extra_env or {})
    # its output goes to a file, not a pipe: a pipe nobody reads fills up (JSON log lines on stderr) and
    # then blocks the server
    output = tmp / f"issuer-{port}.out"
    with open(output, "wb") as out_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "issuer_service", "serve"],
            env=env,
            stdout=out_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = output.read_text(errors="replace")
            raise RuntimeError(f"the issuer exited with {process.returncode}:\n{out}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return LiveIssuer(url, process, tmp, env)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the issuer did not become ready in 30 s")


def stop_live_issuer(live: LiveIssuer) -> int:
    """SIGTERM, as an orchestrator stops it; returns the exit code (graceful shutdown: 0)."""
    live.process.terminate()
    try:
        return live.process.wait(timeout=15)
    finally:
        if live.process.poll() is None:
            live.process.kill()
        if live.process.stdout:
            live.process.stdout.close()


@pytest.fixture
def live_issuer(tmp_path: Path) -> Iterator[LiveIssuer]:
    live = start_live_issuer(tmp_path)
    try:
        yield live
    finally:
        stop_live_issuer(live)


# --- enrollment and issuance helpers (tests/issuer/test_enrollment.py, test_oid4vci.py, …) ---------------

#: the calendar date of the test clock's NOW: cards for the in-process issuer are made for this day
CARD_TODAY = dt.datetime.fromtimestamp(NOW, dt.UTC).date()
#: the tables whose rows a refused request must not add to
PERSON_TABLES = (
    "persons", "devices", "issued_credentials", "pre_authorized_codes", "tokens", "audit_log",
)  # fmt: skip
RP_RESPONSE_URI = "https://shop.example/netid/response"


def card_reader(card: TestCard, image: ChipImage | None = None) -> SimulatorReader:
    """A simulated reader holding ``card`` (or another chip ``image``, e.g. a tampered or cloned one)."""
    return SimulatorReader(SimulatedCard(image if image is not None else card.image))


def context_of(issuer: InProcessIssuer) -> IssuerContext:
    context: IssuerContext = issuer.client.app.state.context  # type: ignore[attr-defined]
    return context


def row_counts(engine: Engine, tables: tuple[str, ...] = PERSON_TABLES) -> dict[str, int]:
    """Rows per table, straight from the database."""
    with engine.connect() as connection:
        return {t: int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}


def dump_database(engine: Engine) -> list[str]:
    """Every row of every table, as text (bytes as hex, base64 and latin-1, so a scan sees any form)."""
    out: list[str] = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        raw = bytes(value)
                        out += [raw.hex(), base64.b64encode(raw).decode(), raw.decode("latin-1")]
                    else:
                        out.append(json.dumps(value, default=str, ensure_ascii=False))
    return out


def settings_of(live: LiveIssuer) -> Settings:
    """The settings a live issuer runs with (same database, key file and issuer URL)."""
    values: dict[str, Any] = {
        k.removeprefix("NETID_ISSUER_").lower(): v
        for k, v in live.env.items()
        if k.startswith("NETID_ISSUER_")
    }
    values.pop("port", None)
    values.pop("config_file", None)
    values["admin_tokens"] = json.loads(values["admin_tokens"])
    return Settings(**values)


@dataclass
class TestRp:
    """A relying party registered straight in the issuer's database (TEST ONLY keys)."""

    __test__ = False

    rp_id: str
    sector: str
    key: SigningKey
    certificate: str

    def request(self, query: Query, *, now: int) -> PresentationRequest:
        return build_request(
            query, rp_key=self.key, rp_certificate=self.certificate, response_uri=RP_RESPONSE_URI, now=now
        )


def register_test_rp(
    context: IssuerContext,
    *,
    rp_id: str = "shop.example",
    sector: str = "shop.example",
    netno_allowed: bool = False,
    state: str = "active",
) -> TestRp:
    """Register an RP the way the registry does (status entry, issuer-signed access certificate), by
    writing its row directly: the tests of enrollment and issuance do not depend on the admin API."""
    key = fixed_key("ES256", f"test-rp|{rp_id}")
    now = context.clock()
    profile = IssuerProfile(context.settings.issuer_url, context.keys.ring().issuer_keys)
    scopes = ["age_over", "doc_valid", "name_equals", "subject"] + (["netno"] if netno_allowed else [])
    when = dt.datetime.fromtimestamp(now, dt.UTC)
    with transaction(context.sessions) as session:
        row = RelyingParty(
            rp_id=rp_id, name=f"Test RP {rp_id}", sector=sector, allowed_predicates=scopes,
            purposes=["age check", "sign in"], response_uris=[RP_RESPONSE_URI], request_jwk=public_jwk(key),
            processor="Test Processor Ltd.", contact="privacy@shop.example", retention="30 days",
            netno_allowed=netno_allowed, state=state, certificate="", certificate_exp=0, created_at=when,
            updated_at=when,
        )  # fmt: skip
        claim_entries(session, context, "rp", [row])
        row.certificate = issue_rp_certificate(
            profile,
            RpRegistration(
                rp_id=rp_id, name=row.name, sector=sector, allowed_predicates=tuple(scopes),
                purposes=("age check", "sign in"), response_uris=(RP_RESPONSE_URI,),
                request_jwk=public_jwk(key),
            ),
            now=now - 60,
            status=(list_uri(context, row.status_list_id), row.status_idx),
        )  # fmt: skip
        row.certificate_exp = now + profile.rp_certificate_validity
        certificate = row.certificate
    return TestRp(rp_id, sector, key, certificate)


def rp_verifier(http: httpx.Client, issuer_url: str, clock: Callable[[], int]) -> Verifier:
    """An RP's verifier that trusts the issuer's published JWKS and fetches its status lists over
    ``http`` (a TestClient in process, an httpx.Client against a live server)."""
    trust = IssuerTrust(http.get(f"{issuer_url}/jwks.json").raise_for_status().json(), issuer=issuer_url)

    def fetch(uri: str) -> str:
        return http.get(uri).raise_for_status().text

    return Verifier(trust, status=CachedStatusLists(fetch, trust, clock=clock, ttl=1), clock=clock)


def holder_wallet(keystore: SoftwareKeyStore, http: httpx.Client, issuer_url: str) -> Wallet:
    trust = IssuerTrust(http.get(f"{issuer_url}/jwks.json").raise_for_status().json(), issuer=issuer_url)
    return Wallet(keystore, trust, rp_status="offline")


def start(client: httpx.Client) -> EnrollmentChallenge:
    """``POST /enrollment/start`` through ``client``."""
    return parse_start(client.post("/enrollment/start").raise_for_status().json())


def read_card(
    card: TestCard,
    challenge: bytes,
    *,
    image: ChipImage | None = None,
    access_key: AccessKey | None = None,
) -> CardReadout:
    """Read ``card`` (or another chip ``image``) in a simulated reader, AA over ``challenge``."""
    return read_document_with_retry(
        card_reader(card, image), access_key or card.access_key, aa_challenge=challenge
    )


def device_key(keystore: SoftwareKeyStore) -> dict[str, str]:
    return keystore.public_jwk(keystore.create_key("ES256"))


def evidence_for(
    client: httpx.Client,
    card: TestCard,
    keystore: SoftwareKeyStore,
    *,
    guardian_netno: str | None = None,
    image: ChipImage | None = None,
) -> tuple[EnrollmentChallenge, str]:
    """Start an enrollment and read ``card`` for it: ``(challenge, sealed evidence)``."""
    challenge = start(client)
    readout = read_card(card, challenge.challenge, image=image)
    sealed = seal_evidence(readout, challenge, device_key(keystore), guardian_netno=guardian_netno)
    return challenge, sealed


def complete(client: httpx.Client, enrollment_id: str, sealed: str) -> httpx.Response:
    return client.post("/enrollment/complete", json={"enrollment_id": enrollment_id, "evidence": sealed})


def enroll_card(
    issuer: InProcessIssuer,
    card: TestCard,
    keystore: SoftwareKeyStore | None = None,
    *,
    batch_size: int = 4,
    guardian_netno: str | None = None,
) -> EnrollmentResult:
    """The wallet's whole enrollment (netid.wallet.enroll) against the in-process issuer."""
    return enroll(
        card_reader(card), card.access_key, issuer.settings.issuer_url,
        keystore=keystore if keystore is not None else SoftwareKeyStore(), http=issuer.client,
        batch_size=batch_size, guardian_netno=guardian_netno, clock=issuer.clock,
    )  # fmt: skip


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is the RFC 9457 problem ``code`` with ``status``; return its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["type"] == f"/problems/{code}", body
    return body


# --- operations: a live issuer's output, a throwaway PostgreSQL server (tests/issuer/pg.py) -------------


def live_output(live: LiveIssuer) -> str:
    """Everything the live issuer wrote to stdout and stderr so far (JSON log lines, mostly)."""
    port = live.url.rsplit(":", 1)[1]
    return (live.tmp / f"issuer-{port}.out").read_text(errors="replace")


def unavailable(why: str) -> None:
    """Skip a test whose system dependency is missing here; under CI (which ensures every one of them
    with scripts/ensure-system-deps.sh) fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must have it: scripts/ensure-system-deps.sh)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[pg.PostgresCluster]:
    """One throwaway PostgreSQL server for the whole test session, stopped and deleted at its end."""
    why = pg.requirements_missing()
    if why:
        unavailable(why)
    try:
        cluster = pg.PostgresCluster().start()
    except pg.PostgresUnavailableError as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: pg.PostgresCluster) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) of a database shared by the session's tests."""
    return postgres_cluster.create_database("netid")


@pytest.fixture
def fresh_postgres_url(postgres_cluster: pg.PostgresCluster) -> Iterator[str]:
    """A database of the test's own, dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)
