"""The counter's replay cache remembers a dynamic QR for exactly as long as the window accepts it, judged
from the KB-JWT's own ``iat``: a holder whose clock runs ahead stays single-use too (docs/mutation.md)."""

from __future__ import annotations

import pytest

from netid.errors import VerificationError
from netid.oid4vp.in_person import CounterRequest
from netid.verifier import CounterVerifier, InMemoryReplayCache, Query, build_counter_request
from netid.wallet.in_person import answer_counter
from tests.verifier.kit import World, make_world

WINDOW = 30  # Policy.in_person_window's default


@pytest.fixture
def w() -> World:
    world = make_world()
    world.mint(2)
    return world


def counter_request(w: World) -> CounterRequest:
    return build_counter_request(
        Query(purpose="age check", age_over=18),
        rp_key=w.rp_key,
        rp_certificate=w.rp_cert,
        counter_id="gate-1",
        now=w.clock(),
        rng=w.rng,
    )


@pytest.mark.parametrize("ahead", [WINDOW, 10])
def test_a_qr_from_a_clock_that_runs_ahead_is_remembered_through_its_own_window(w: World, ahead: int) -> None:
    req = counter_request(w)
    now = w.clock()
    qr = answer_counter(req.to_qr_text(), w.wallet, now=now + ahead, consent=lambda p: True, amr="pin")
    verifier = CounterVerifier(w.trust, status=None, clock=w.clock, replay_cache=InMemoryReplayCache(w.clock))
    assert verifier.verify(qr, req)["age_over_18"]
    for t in (now + WINDOW + 1, now + ahead + WINDOW):  # past now + window, still inside iat + window
        w.clock.now = t
        with pytest.raises(VerificationError) as exc:
            verifier.verify(qr, req)
        assert exc.value.code == "nonce_reused", t
    w.clock.now = now + ahead + WINDOW + 1  # the window refuses it from here on
    with pytest.raises(VerificationError) as exc:
        verifier.verify(qr, req)
    assert exc.value.code == "window"
