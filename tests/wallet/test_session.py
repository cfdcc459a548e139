"""The wallet on disk against the issuer (in process, on a clock the test moves): enroll, present each
credential once, refresh before the batch runs low or expires, RP-scoped batches, revoke this device —
and a refresh token that is never lost when a batch request fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from netid.credentials.netno import is_valid_netno, pairwise_subject
from netid.errors import EnrollmentError, UsageError, VerificationError, WalletError
from netid.testing.cards import clone_chip, make_card
from netid.verifier import Query
from netid.wallet.session import RefreshPolicy, WalletSession
from netid.wallet.store import MINIMUM_KDF
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    TestRp,
    card_reader,
    context_of,
    register_test_rp,
    rp_verifier,
)
from tests.wallet.conftest import PIN

DAY = 86_400
POLICY = RefreshPolicy(low_water=5, batch_size=6, rp_batch_size=2)


class _CutBeforeCredential:
    """The issuer's client, but the connection drops on ``POST /credential`` while ``cut`` is set."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.cut = True

    def post(self, url: str, **kw: Any) -> httpx.Response:
        if self.cut and url.endswith("/credential"):
            raise httpx.ConnectError("connection lost")
        return self.client.post(url, **kw)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.get(url, **kw)


def _session(issuer: InProcessIssuer, path: Path) -> WalletSession:
    session, _ = WalletSession.create(path, PIN, kdf=MINIMUM_KDF, clock=issuer.clock, refresh_policy=POLICY)
    return session


def _reopen(issuer: InProcessIssuer, session: WalletSession) -> WalletSession:
    session.close()
    return WalletSession.open(session.store.path, PIN, clock=issuer.clock, refresh_policy=POLICY)


def _enroll(issuer: InProcessIssuer, session: WalletSession, seed: int = 71, **kw: Any) -> Any:
    card = make_card(seed, today=CARD_TODAY)
    http = kw.pop("http", issuer.client)
    return session.enroll(card_reader(card), card.access_key, issuer.settings.issuer_url, http=http, **kw)


def _present(issuer: InProcessIssuer, session: WalletSession, rp: TestRp, query: Query) -> Any:
    request = rp.request(query, now=issuer.clock())
    wallet = session.wallet(rp_status="offline")
    vp = wallet.present(request.to_uri(), now=issuer.clock(), consent=lambda p: True, amr="pin")
    return dict(vp.vp_token), request


def test_enroll_present_each_once_refresh_and_revoke(
    in_process_issuer: InProcessIssuer, wallet_path: Path
) -> None:
    issuer = in_process_issuer
    url = issuer.settings.issuer_url
    rp = register_test_rp(context_of(issuer))
    session = _session(issuer, wallet_path)
    steps: list[str] = []
    record = _enroll(issuer, session, progress=steps.append)
    assert steps == ["start", "read", "complete", "token", "credentials", "done"]
    assert is_valid_netno(record.netno) and record.issuer_url == url
    summary = session.summary()["issuers"][0]
    assert summary["unused"] == {"anonymous": 6, "rp": 0} and summary["refresh_due"] == []
    assert "refresh_token" not in str(summary) and record.refresh_token not in str(summary)

    verifier = rp_verifier(issuer.client, url, issuer.clock)
    for _ in range(2):
        vp, request = _present(issuer, session, rp, Query(purpose="age check", age_over=18))
        assert verifier.verify(vp, request)["age_over_18"] is True
    assert session.refresh_due() == ["anonymous"]  # 4 left, fewer than 5

    session = _reopen(issuer, session)  # each credential used once: that is on disk
    summary = session.summary()["issuers"][0]
    assert (summary["used"], summary["unused"]["anonymous"]) == (2, 4)
    held = {c.key_id for c in session.usable_credentials()}
    assert session.store.key_ids() == held | {record.device_key_id}  # used credentials' keys are gone
    assert [e.event for e in session.log()] == ["enrolled", "presented", "presented"]

    spent = session.issuer().refresh_token
    assert session.refresh_if_needed(http=issuer.client) == 6
    assert session.issuer().refresh_token not in (None, spent) and session.refresh_due() == []
    assert session.refresh_if_needed(http=issuer.client) == 0

    issuer.clock.advance(28 * DAY)  # the whole batch expires within 3 days now
    assert session.refresh_due() == ["anonymous"]
    assert session.refresh_if_needed(http=issuer.client) == 6
    assert session.refresh_due() == []

    # an RP-scoped batch on first contact; kept topped up afterwards
    assert session.fetch_rp_credentials(rp.rp_id, http=issuer.client) == 2
    subject = pairwise_subject(record.netno, rp.sector, context_of(issuer).keystore.secret("pairwise"))
    verifier = rp_verifier(issuer.client, url, issuer.clock)
    for _ in range(2):
        vp, request = _present(issuer, session, rp, Query(purpose="sign in", want_subject=True))
        assert verifier.verify(vp, request).subject == subject
    assert session.refresh_due() == [f"rp:{rp.rp_id}"]
    assert session.log()[-1].subject_shared

    # the phone is lost: revoke this device
    before, request = _present(issuer, session, rp, Query(purpose="age check", age_over=18))
    issued = 6 + 6 + 6 + 2
    assert session.revoke_device(http=issuer.client) == issued
    issuer.clock.advance(2)  # past the verifier's status-list cache
    with pytest.raises(VerificationError) as caught:
        rp_verifier(issuer.client, url, issuer.clock).verify(before, request)
    assert caught.value.code == "status_revoked"
    assert session.usable_credentials() == [] and session.store.key_ids() == frozenset()
    assert session.log()[-1].event == "revoked" and session.log()[-1].credentials == issued
    with pytest.raises(WalletError, match="not enrolled"):
        session.refresh(http=issuer.client)
    session = _reopen(issuer, session)
    summary = session.summary()["issuers"][0]
    assert summary["revoked_at"] is not None and summary["unused"] == {"anonymous": 0, "rp": 0}
    assert summary["refresh_due"] == [] and summary["revoked"] > 0
    session.close()
    assert record.netno not in wallet_path.read_text()


def test_a_spent_refresh_token_is_replaced_on_disk_before_the_batch_is_asked(
    in_process_issuer: InProcessIssuer, wallet_path: Path
) -> None:
    issuer = in_process_issuer
    session = _session(issuer, wallet_path)
    record = _enroll(issuer, session)
    spent = record.refresh_token
    keys = session.store.key_ids()
    cut = _CutBeforeCredential(issuer.client)
    with pytest.raises(EnrollmentError) as caught:
        session.refresh(http=cast(httpx.Client, cut))
    assert caught.value.code == "transport"
    assert session.store.key_ids() == keys  # the failed batch's keys are not kept
    session = _reopen(issuer, session)
    assert session.issuer().refresh_token not in (None, spent)
    assert session.refresh(http=issuer.client) == 6  # the kept token works; the spent one never went again
    session.close()


def test_enrolled_even_if_the_first_batch_is_lost(
    in_process_issuer: InProcessIssuer, wallet_path: Path
) -> None:
    issuer = in_process_issuer
    session = _session(issuer, wallet_path)
    cut = _CutBeforeCredential(issuer.client)
    with pytest.raises(EnrollmentError):
        _enroll(issuer, session, http=cast(httpx.Client, cut))
    session = _reopen(issuer, session)
    record = session.issuer()
    assert is_valid_netno(record.netno) and session.store.key_ids() == {record.device_key_id}
    assert session.refresh_due() == ["anonymous"]
    assert session.refresh_if_needed(http=issuer.client) == 6
    session.close()


def test_enrollment_refusals(in_process_issuer: InProcessIssuer, wallet_path: Path) -> None:
    issuer = in_process_issuer
    session = _session(issuer, wallet_path)
    card = make_card(72, today=CARD_TODAY)
    with pytest.raises(EnrollmentError) as caught:
        session.enroll(card_reader(card, clone_chip(card.image)), card.access_key, issuer.settings.issuer_url,
                       http=issuer.client)  # fmt: skip
    assert caught.value.code == "active_authentication"
    assert session.store.issuers == [] and session.store.key_ids() == frozenset()
    _enroll(issuer, session, seed=72)
    with pytest.raises(WalletError, match="already enrolled"):
        _enroll(issuer, session, seed=72)
    with pytest.raises(UsageError):
        RefreshPolicy(batch_size=0)
    with pytest.raises(EnrollmentError) as caught:
        WalletSession.create(wallet_path.with_name("other.json"), PIN, kdf=MINIMUM_KDF)[0].enroll(
            card_reader(card), card.access_key, "http://127.0.0.1:9", http=httpx.Client(timeout=2)
        )
    assert caught.value.code == "transport"
    session.close()
