"""End to end through real servers on 127.0.0.1: a live issuer (uvicorn, SQLite) and relying parties on
uvicorn (netid_router, and a malicious one), the `netid` console script run as a subprocess — `netid enroll`
with a simulated card, then `netid present` to the RP's request — and the RP's transactions answering yes
or no correctly. The wallet library answers the malicious RP and two honest ones over the same real HTTP:
every malicious request refused with its code, nothing disclosed, nothing posted, nothing used up; and what
two RPs' servers received shares nothing that links the one person behind it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from issuer_service.core.context import IssuerContext
from issuer_service.main import build_context
from netid.cli import ExitCode
from netid.credentials.jose import decode_jws_unverified
from netid.credentials.netno import pairwise_subject
from netid.credentials.sdjwt.codec import split_sd_jwt
from netid.credentials.trust import IssuerTrust
from netid.errors import VerificationError
from netid.oid4vp.in_person import PRESENTATION_QR_PREFIX
from netid.oid4vp.response import decrypt_response, encryption_jwk
from netid.testing.cards import make_card
from netid.testing.world import fixed_key
from netid.verifier import CounterVerifier, Query, build_counter_request
from netid.verifier.http import TransactionStatus
from netid.wallet.face import FaceCheck, SimulatedCamera, SimulatedFaceMatcher
from netid.wallet.session import WalletSession
from netid.wallet.store import MINIMUM_KDF
from tests.issuer.conftest import LiveIssuer, card_reader, settings_of
from tests.unlinkability import observables
from tests.wallet.conftest import PIN
from tests.wallet.http_kit import (
    AGE,
    MALICIOUS,
    EvilRp,
    HonestRp,
    Stack,
    assert_refused,
    evil_request,
    honest_rp,
    live_stack,
    refuse_expired_rp_certificate,
    refuse_replayed_request,
    refuse_revoked_rp,
    refuse_unsigned_and_oversized,
)

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).with_name("netid")
S = TransactionStatus


@pytest.fixture(scope="module")
def side(live_issuer: LiveIssuer) -> Iterator[IssuerContext]:
    """The live issuer's database and keys, opened from the test (for the pairwise key)."""
    context = build_context(settings_of(live_issuer))
    try:
        yield context
    finally:
        context.engine.dispose()


@pytest.fixture
def stack(live_issuer: LiveIssuer, tmp_path: Path) -> Iterator[Stack]:
    with live_stack(live_issuer.url, tmp_path) as s:
        yield s


def netid(*args: str, wallet: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a subprocess (no terminal), with ``env`` added."""
    if not SCRIPT.exists():
        pytest.skip("the netid console script is not installed next to this interpreter")
    base = {k: v for k, v in os.environ.items() if not k.startswith("NETID_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        input="",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**base, "COLUMNS": "120", "NETID_WALLET": str(wallet), **env},
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def failed_json(result: subprocess.CompletedProcess[str], code: ExitCode) -> dict[str, Any]:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.count("error: ") == 1 and "Traceback" not in result.stderr
    error: dict[str, Any] = json.loads(result.stdout)["error"]
    return error


def present(qr_text: str, wallet: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``netid present --yes --json`` in the development mode (the RPs here are http on 127.0.0.1)."""
    return netid(
        "present", "--yes", "--json", "--allow-loopback-http", *extra, qr_text, wallet=wallet,
        **({"NETID_PIN": PIN} | env),
    )  # fmt: skip


def answers_of(shop: HonestRp, tx_id: str, **kw: Any) -> Any:
    result = shop.rp.result(tx_id, **kw)
    assert result is not None and result.status is S.ANSWERED and result.answers is not None, result
    return result.answers


# --- the whole flow with the console script -----------------------------------------------------------------


def test_enroll_then_present_with_the_console_script(
    live_issuer: LiveIssuer, side: IssuerContext, stack: Stack, tmp_path: Path
) -> None:
    shop = honest_rp(stack, "cli-shop.example")
    wallet = tmp_path / "holder" / "wallet.json"
    person = make_card(91).person
    enrolled = netid("enroll", "--issuer", live_issuer.url, "--reader", "sim:91", "--batch", "6",
                     wallet=wallet, NETID_PIN=PIN)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr

    # an adult: over 18 yes, with both response modes
    for mode in ("direct_post.jwt", "direct_post"):
        tx = shop.rp.start(Query(purpose="age check", age_over=18, doc_valid=True), response_mode=mode)  # type: ignore[arg-type]
        shown = ok_json(present(tx.qr_text, wallet))
        assert shown["answers"] == {"age_over_18": True, "doc_valid": True} and shown["response_mode"] == mode
        answers = answers_of(shop, tx.id)
        assert dict(answers.predicates) == {"age_over_18": True, "doc_valid": True}
        assert answers.assurance.chip_auth == "aa" and answers.assurance.mode == "pin"

    # a typed name: the real one proves, another is "not proven"; neither is ever shown
    for typed, proven in ((person.full_name, True), ("王小二", False)):
        tx = shop.rp.start(Query(purpose="age check", name_equals=typed))
        run = present(tx.qr_text, wallet)
        assert ok_json(run)["answers"] == {"name_equals": proven}
        assert answers_of(shop, tx.id)["name_equals"] is proven
        assert person.full_name not in run.stdout + run.stderr and "王小二" not in run.stdout + run.stderr

    # sign-in: an RP-scoped batch is fetched on first contact; the pairwise subject is stable
    netno = ok_json(netid("credentials", "--json", wallet=wallet, NETID_PIN=PIN))["issuers"][0]["netno"]
    expected = pairwise_subject(netno, "cli-shop.example", side.keystore.secret("pairwise"))
    for fetched in (5, 0):
        tx = shop.rp.start(Query(purpose="sign in", want_subject=True), redirect_uri=f"{shop.base}/welcome")
        shown = ok_json(present(tx.qr_text, wallet))
        assert shown["rp_credentials_fetched"] == fetched and shown["subject_shared"]
        assert shown["redirect_uri"].startswith(f"{shop.base}/welcome?response_code=")
        code = shown["redirect_uri"].split("response_code=", 1)[1]
        assert answers_of(shop, tx.id, response_code=code).subject == expected

    # for a person: the consent prompt in both languages, with who processes what, and the answer
    tx = shop.rp.start(AGE)
    shown_to_person = netid("present", "--yes", "--allow-loopback-http", tx.qr_text, wallet=wallet,
                            NETID_PIN=PIN)  # fmt: skip
    assert shown_to_person.returncode == 0, shown_to_person.stderr
    text = shown_to_person.stdout
    assert "cli-shop.example 商城" in text and "age_over_18: yes" in text
    assert "Processor of your information: cli-shop.example Co., Ltd." in text and "30 days" in text
    assert "个人信息处理者" in text and "保存期限" in text and "是否同意" in text
    # no --yes and no terminal: it will not guess the person's consent
    tx = shop.rp.start(AGE)
    err = netid("present", "--allow-loopback-http", tx.qr_text, wallet=wallet, NETID_PIN=PIN)
    assert err.returncode == ExitCode.USAGE and "--yes" in err.stderr
    assert shop.rp.result(tx.id).status is S.PENDING  # type: ignore[union-attr]  # not even fetched

    log = netid("log", wallet=wallet, NETID_PIN=PIN)
    assert log.returncode == 0 and log.stdout.count("answered cli-shop.example 商城") == 7
    assert "account identifier shared" in log.stdout


def at_a_terminal(*args: str, wallet: Path, typed: str) -> tuple[int, str]:
    """Run the console script on a pseudo-terminal, with ``typed`` typed ahead (read when it asks)."""
    import pty

    master, child_side = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith("NETID_")}
    env = {**base, "NO_COLOR": "1", "COLUMNS": "120", "NETID_WALLET": str(wallet), "NETID_PIN": PIN}
    process = subprocess.Popen(
        [str(SCRIPT), *args], stdin=child_side, stdout=child_side, stderr=child_side, env=env, close_fds=True
    )
    os.close(child_side)
    os.write(master, typed.encode())
    output = bytearray()
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    code = process.wait(timeout=120)
    os.close(master)
    return code, output.decode("utf-8", errors="replace")


def test_consent_is_asked_at_the_terminal(live_issuer: LiveIssuer, stack: Stack, tmp_path: Path) -> None:
    if not SCRIPT.exists():
        pytest.skip("the netid console script is not installed next to this interpreter")
    shop = honest_rp(stack, "tty-shop.example")
    wallet = tmp_path / "wallet.json"
    enrolled = netid("enroll", "--issuer", live_issuer.url, "--reader", "sim:96", "--batch", "4",
                     wallet=wallet, NETID_PIN=PIN)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    tx = shop.rp.start(AGE)
    code, shown = at_a_terminal("present", "--allow-loopback-http", tx.qr_text, wallet=wallet, typed="n\n")
    assert code == ExitCode.REFUSED and "consent_denied" in shown, shown
    assert "是否同意" in shown and "Share?" in shown and "[y/N]" in shown
    assert shop.rp.result(tx.id).status is S.FETCHED  # type: ignore[union-attr]  # nothing posted
    tx = shop.rp.start(AGE)
    code, shown = at_a_terminal("present", "--allow-loopback-http", tx.qr_text, wallet=wallet, typed="y\n")
    assert code == 0 and "age_over_18: yes" in shown, shown
    assert answers_of(shop, tx.id)["age_over_18"] is True


def test_a_16_year_old_is_not_over_18(live_issuer: LiveIssuer, stack: Stack, tmp_path: Path) -> None:
    shop = honest_rp(stack, "teen-shop.example", predicates=("age_over_16", "age_over_18"))
    wallet = tmp_path / "teen.json"
    card = stack.card(92, age=16)
    session, _ = WalletSession.create(wallet, PIN, kdf=MINIMUM_KDF)
    with session, httpx.Client(timeout=30) as http:
        session.enroll(card_reader(card), card.access_key, live_issuer.url, http=http, batch_size=4)
    tx = shop.rp.start(AGE)
    assert ok_json(present(tx.qr_text, wallet))["answers"] == {"age_over_18": False}
    assert answers_of(shop, tx.id)["age_over_18"] is False  # not proven: the RP learns no age
    tx = shop.rp.start(Query(purpose="age check", age_over=16))
    assert ok_json(present(tx.qr_text, wallet))["answers"] == {"age_over_16": True}
    assert answers_of(shop, tx.id)["age_over_16"] is True


def test_a_counter_qr_with_the_console_script(live_issuer: LiveIssuer, stack: Stack, tmp_path: Path) -> None:
    """In person: ``netid present NETIDC1:…`` prints a dynamic QR the counter accepts once; the log has it;
    a counter QR of an RP the issuer revoked is refused, and nothing is used up."""
    key = fixed_key("ES256", "cli-door-rp")
    certificate = stack.register_rp("door.example", "http://127.0.0.1:9", key)
    wallet = tmp_path / "door.json"
    card = stack.card(93)
    session, _ = WalletSession.create(wallet, PIN, kdf=MINIMUM_KDF)
    with session, httpx.Client(timeout=30) as http:
        session.enroll(card_reader(card), card.access_key, live_issuer.url, http=http, batch_size=3)
    counter = build_counter_request(AGE, rp_key=key, rp_certificate=certificate, counter_id="door-1",
                                    now=stack.clock())  # fmt: skip
    shown = ok_json(present(counter.to_qr_text(), wallet))
    assert shown["answers"] == {"age_over_18": True} and shown["rp_id"] == "door.example"
    assert shown["dynamic_qr"].startswith(PRESENTATION_QR_PREFIX)
    jwks = stack.issuer_client.get(f"{live_issuer.url}/jwks.json").raise_for_status().json()
    desk = CounterVerifier(IssuerTrust(jwks, issuer=live_issuer.url), status=None, clock=stack.clock)
    assert desk.verify(shown["dynamic_qr"], counter)["age_over_18"] is True
    with pytest.raises(VerificationError):
        desk.verify(shown["dynamic_qr"], counter)  # shown twice: the counter takes it once
    for_person = netid("present", "--yes", counter.to_qr_text(), wallet=wallet, NETID_PIN=PIN)
    assert for_person.returncode == 0 and "age_over_18: yes" in for_person.stdout
    assert PRESENTATION_QR_PREFIX in for_person.stdout
    left = ok_json(netid("credentials", "--json", wallet=wallet, NETID_PIN=PIN))["issuers"][0]

    assert stack.admin("POST", "/admin/rps/door.example/revoke", {"reason": "closed"}).status_code == 200
    error = failed_json(present(counter.to_qr_text(), wallet), ExitCode.REFUSED)
    assert error["code"] == "rp_certificate" and not error["spent"]
    assert ok_json(netid("credentials", "--json", wallet=wallet, NETID_PIN=PIN))["issuers"][0] == left
    log = netid("log", wallet=wallet, NETID_PIN=PIN).stdout
    assert log.count("answered door.example 商城") == 2 and "refused" in log


def test_refusals_and_trouble_have_their_exit_codes(
    live_issuer: LiveIssuer, stack: Stack, tmp_path: Path
) -> None:
    wallet = tmp_path / "wallet.json"
    enrolled = netid("enroll", "--issuer", live_issuer.url, "--reader", "sim:93", "--batch", "4",
                     wallet=wallet, NETID_PIN=PIN)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    unused = ok_json(netid("credentials", "--json", wallet=wallet, NETID_PIN=PIN))["issuers"][0]["unused"]

    evil = EvilRp(stack, "cli-evil.example")
    for code, options in MALICIOUS.items():
        uri = evil.serve(code, evil_request(evil, stack.clock(), **options))
        error = failed_json(present(uri, wallet), ExitCode.REFUSED)
        assert error["code"] == code and code in error["message"] and not error["spent"]
    assert not evil.posts  # nothing disclosed
    # a valid request from the RP, but without the development mode its http addresses are refused
    uri = evil.serve("http", evil_request(evil, stack.clock()))
    plain = netid("present", "--yes", "--json", uri, wallet=wallet, NETID_PIN=PIN)
    assert failed_json(plain, ExitCode.REFUSED)["code"] == "request"

    # the RP unreachable: network trouble, nothing used
    down = "openid4vp://?client_id=verifier_attestation%3Ax&request_uri=http%3A%2F%2F127.0.0.1%3A9%2Fr"
    error = failed_json(present(down, wallet), ExitCode.NETWORK)
    assert error["code"] == "transport" and not error["spent"] and "could not be reached" in error["message"]
    # face without a camera: a usage error before anything happens
    face = netid("present", "--yes", "--mode", "face", uri, wallet=wallet, NETID_PIN=PIN)
    assert face.returncode == ExitCode.USAGE and "platform" in face.stderr
    after = ok_json(netid("credentials", "--json", wallet=wallet, NETID_PIN=PIN))["issuers"][0]
    assert after["unused"] == unused and after["used"] == 0
    entries = ok_json(netid("log", "--json", wallet=wallet, NETID_PIN=PIN))["entries"]
    assert [e["refusal"] for e in entries if e["event"] == "refused"] == [*MALICIOUS, "request"]


def test_face_from_the_console_script(live_issuer: LiveIssuer, stack: Stack, tmp_path: Path) -> None:
    shop = honest_rp(stack, "face-shop.example")
    wallet = tmp_path / "wallet.json"
    card = make_card(94)
    enrolled = netid("enroll", "--issuer", live_issuer.url, "--reader", "sim:94", "--batch", "4",
                     wallet=wallet, NETID_PIN=PIN)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    tx = shop.rp.start(AGE)
    not_enabled = present(tx.qr_text, wallet, "--mode", "face", NETID_TEST_FACE="holder")
    assert failed_json(not_enabled, ExitCode.REFUSED)["code"] == "mode_unavailable"  # not opted in

    with WalletSession.open(wallet, PIN) as session:  # the holder opts in (a wallet app would ask)
        camera = SimulatedCamera(_portrait(card))
        session.enable_face(card_reader(card), card.access_key, FaceCheck(SimulatedFaceMatcher(), camera))

    tx = shop.rp.start(Query(purpose="age check", age_over=18, min_mode="face"))
    shown = ok_json(present(tx.qr_text, wallet, "--mode", "face", NETID_TEST_FACE="holder"))
    assert shown["mode"] == "pin+face" and answers_of(shop, tx.id).assurance.mode == "pin+face"
    for who in ("stranger", "photo"):
        tx = shop.rp.start(AGE)
        mismatch = present(tx.qr_text, wallet, "--mode", "face", NETID_TEST_FACE=who)
        assert failed_json(mismatch, ExitCode.REFUSED)["code"] == "face_mismatch"
        assert shop.rp.result(tx.id).status is S.FETCHED  # type: ignore[union-attr]  # nothing posted
    tx = shop.rp.start(AGE)
    assert ok_json(present(tx.qr_text, wallet))["mode"] == "pin"  # the PIN path, face enabled or not


def _portrait(card: Any) -> bytes:
    from netid.card.icao.document import EmrtdDocument

    portrait = EmrtdDocument.from_files(card.files).portrait
    assert portrait
    return portrait


# --- the malicious RP over real HTTP (the wallet library) ------------------------------------------------


@pytest.fixture
def holder(stack: Stack) -> WalletSession:
    return stack.wallet("holder", stack.card(95, age=30))


@pytest.mark.parametrize("code", sorted(MALICIOUS))
def test_a_malicious_rp_is_refused_over_http(stack: Stack, holder: WalletSession, code: str) -> None:
    evil = EvilRp(stack, f"evil-{code.replace('_', '-')}.example")
    uri = evil.serve(code, evil_request(evil, stack.clock(), **MALICIOUS[code]))
    assert_refused(stack, holder, uri, code, evil=evil)
    assert evil.fetches == [code] and not evil.posts


def test_unsigned_oversized_revoked_expired_replayed_over_http(stack: Stack, holder: WalletSession) -> None:
    refuse_unsigned_and_oversized(stack, holder, "-live")
    refuse_revoked_rp(stack, holder, "-live")
    refuse_expired_rp_certificate(stack, holder, "-live")
    refuse_replayed_request(stack, holder, "-live")


# --- unlinkability over HTTP -----------------------------------------------------------------------------


def _kb_iat(presentation: str) -> int:
    kb = split_sd_jwt(presentation).kb_jwt
    assert kb is not None
    iat: int = decode_jws_unverified(kb)[1]["iat"]
    return iat


def _received(shop: HonestRp) -> tuple[list[str], list[dict[str, str]]]:
    """The presentations the RP's server received (decrypted with its key), and the headers of every
    request it got, without the per-request ones (host, length)."""
    kid = encryption_jwk(shop.encryption_key)["kid"]
    presentations = []
    for post in shop.recorder.posts():
        form = dict(httpx.QueryParams(post.body.decode()))
        params = decrypt_response(form["response"], shop.encryption_key, kid=kid, max_bytes=1 << 20)
        presentations.append(params["vp_token"]["netcert"][0])
    headers = [
        {k: v for k, v in seen.headers.items() if k not in ("host", "content-length")}
        for seen in shop.recorder.seen
    ]
    return presentations, headers


def test_two_rps_cannot_link_one_wallet_from_what_their_servers_received(
    live_issuer: LiveIssuer, stack: Stack, holder: WalletSession
) -> None:
    shops = [honest_rp(stack, f"{name}-shop.example") for name in ("a", "b")]
    subjects = []
    for query in (Query(purpose="sign in", age_over=18, want_subject=True), AGE):
        for shop in shops:
            tx = shop.rp.start(query)
            stack.present(holder, tx.qr_text)
            answers = answers_of(shop, tx.id)
            assert answers["age_over_18"] is True
            subjects.append(answers.subject)
    assert subjects[0] and subjects[1] and subjects[0] != subjects[1] and subjects[2:] == [None, None]
    (pres_a, headers_a), (pres_b, headers_b) = (_received(shop) for shop in shops)
    assert len(pres_a) == len(pres_b) == 2
    seen_a = [observables(p) for p in pres_a]
    seen_b = [observables(p) for p in pres_b]
    # what may be shared is common to every holder that day: the issuer and its status-list URIs, the
    # type, claim names, coarse (day) times, the assurance class, the answer itself; and the KB-JWT's iat,
    # the time of each visit, which each RP's own clock tells it anyway
    allowed_prefixes = (json.dumps(live_issuer.url)[:-1],)
    common = ("urn:netid:netcert:1", "sha-256", True, "aa", "EC", "P-256", "swk", "pin")
    allowed = {json.dumps(v) for v in common}
    for (leaves_a, segments_a), kb_a in zip(seen_a, pres_a, strict=True):
        for (leaves_b, segments_b), kb_b in zip(seen_b, pres_b, strict=True):
            assert not segments_a & segments_b  # no shared signature, payload, disclosure or KB segment
            shared = {x for x in leaves_a & leaves_b if not x.startswith("key:")}
            coarse = {x for x in shared if x.isdigit() and int(x) % 86_400 == 0}
            visits = {json.dumps(_kb_iat(kb_a))} & {json.dumps(_kb_iat(kb_b))}
            rest = {x for x in shared - allowed - coarse - visits if not x.startswith(allowed_prefixes)}
            assert rest == set(), rest
    # and around the presentations: the same headers for both, no cookie, nothing wallet-specific
    assert all("cookie" not in h for h in headers_a + headers_b)
    as_text = [{json.dumps(h, sort_keys=True) for h in headers} for headers in (headers_a, headers_b)]
    assert as_text[0] == as_text[1]
