"""The `netid` console script as a person (or a script) runs it, against a real issuer on 127.0.0.1:
enroll with a simulated card, see the credentials and the log, change the PIN, lock it and unlock it with
the recovery code, revoke this device (the issuer's status list says so to an RP), wipe the wallet."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from issuer_service.core.context import IssuerContext
from issuer_service.db.tables import Person
from issuer_service.main import build_context
from netid.cli import EXIT_CODES, ExitCode
from netid.credentials.netno import is_valid_netno
from netid.errors import VerificationError
from netid.testing.cards import make_card
from netid.testing.wallet_provider import TestWalletProvider
from netid.verifier import Query
from netid.wallet.session import WalletSession
from tests.issuer.conftest import (
    LiveIssuer,
    TestRp,
    register_test_rp,
    rp_verifier,
    settings_of,
    start_live_issuer,
    stop_live_issuer,
)

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).with_name("netid")
PIN, NEW_PIN, NEWER_PIN = "482915", "715026", "903318"


@pytest.fixture(scope="module")
def side(live_issuer: LiveIssuer) -> Iterator[IssuerContext]:
    """The live issuer's database and keys opened from the test (to register an RP directly)."""
    context = build_context(settings_of(live_issuer))
    try:
        yield context
    finally:
        context.engine.dispose()


def netid(*args: str, wallet: Path, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a subprocess, with ``env`` added (e.g. ``NETID_PIN``)."""
    if not SCRIPT.exists():
        pytest.skip("the netid console script is not installed next to this interpreter")
    base = {k: v for k, v in os.environ.items() if not k.startswith("NETID_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**base, "COLUMNS": "120", "NETID_WALLET": str(wallet), **env},
    )


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, (result.returncode, result.stderr)
    return json.loads(result.stdout)


def _error(result: subprocess.CompletedProcess[str], code: ExitCode) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert (
        result.stderr.count("error: ") == 1 and "hint: " in result.stderr and "Traceback" not in result.stderr
    )
    return result.stderr


def _present(wallet_file: Path, pin: str, rp: TestRp, live: LiveIssuer) -> tuple[dict[str, Any], Any]:
    """Present from the wallet file with the in-process Wallet over the store (no `netid present` yet)."""
    with WalletSession.open(wallet_file, pin) as session:
        request = rp.request(Query(purpose="age check", age_over=18), now=int(time.time()))
        wallet = session.wallet(rp_status="offline")
        vp = wallet.present(request.to_uri(), now=int(time.time()), consent=lambda p: True, amr="pin")
    return dict(vp.vp_token), request


def test_the_whole_wallet_from_the_command_line(
    live_issuer: LiveIssuer, side: IssuerContext, tmp_path: Path
) -> None:
    wallet = tmp_path / "holder" / "wallet.json"
    rp = register_test_rp(side, rp_id="cli-shop.example", sector="cli-shop.example")
    person = make_card(81).person

    # enroll: a new wallet, its recovery code shown once, progress for the card and the network steps
    enrolled = netid("enroll", "--issuer", live_issuer.url, "--reader", "sim:81", "--batch", "6",
                     wallet=wallet, NETID_PIN=PIN)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    assert (
        "recovery code: " in enrolled.stdout and "DG11" in enrolled.stdout and "enrolled" in enrolled.stdout
    )
    code = enrolled.stdout.split("recovery code: ", 1)[1].split()[0]
    assert len(code.replace("-", "")) == 20
    assert person.personal_number not in enrolled.stdout + enrolled.stderr
    assert stat.S_IMODE(wallet.stat().st_mode) == 0o600 and person.full_name not in wallet.read_text()

    listed = _json(netid("credentials", "--json", wallet=wallet, NETID_PIN=PIN))
    (issuer,) = listed["issuers"]
    assert issuer["issuer"] == live_issuer.url and is_valid_netno(issuer["netno"])
    assert issuer["unused"] == {"anonymous": 6, "rp": 0} and issuer["used"] == 0
    assert issuer["next_expiry"].endswith("Z") and issuer["refresh_due"] == []
    assert "unused, anonymous (age checks) │ 6" in netid("credentials", wallet=wallet, NETID_PIN=PIN).stdout

    # an RP asks; the verifier answers yes; the log says who asked what
    vp, request = _present(wallet, PIN, rp, live_issuer)
    with httpx.Client(timeout=30) as http:
        assert rp_verifier(http, live_issuer.url, lambda: int(time.time())).verify(vp, request)["age_over_18"]
    log = netid("log", wallet=wallet, NETID_PIN=PIN)
    assert log.returncode == 0 and "answered Test RP cli-shop.example (cli-shop.example)" in log.stdout
    assert "age_over_18: yes" in log.stdout
    export = tmp_path / "my-log.json"
    logged = _json(netid("log", "--json", "--export", str(export), wallet=wallet, NETID_PIN=PIN))
    assert [e["event"] for e in logged["entries"]] == ["enrolled", "presented"]
    assert json.loads(export.read_text())["entries"] == logged["entries"]
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert _json(netid("credentials", "--json", wallet=wallet, NETID_PIN=PIN))["issuers"][0]["used"] == 1

    # PIN change (from standard input), then wrong PINs count down and lock
    changed = netid("pin", "change", "--pin-stdin", "--json", wallet=wallet, stdin=f"{PIN}\n{NEW_PIN}\n")
    assert _json(changed) == {"changed": True}
    for left in (4, 3, 2, 1):
        err = _error(netid("credentials", wallet=wallet, NETID_PIN=PIN), ExitCode.PIN)
        assert f"{left} {'try' if left == 1 else 'tries'} left" in err
    err = _error(netid("credentials", wallet=wallet, NETID_PIN=PIN), ExitCode.PIN)
    assert "locked" in err and "netid pin unlock" in err
    locked = netid("credentials", "--json", wallet=wallet, NETID_PIN=NEW_PIN)  # the right PIN: still locked
    assert locked.returncode == ExitCode.PIN == 10
    assert json.loads(locked.stdout)["error"]["kind"] == "pin"
    unlocked = netid("pin", "unlock", "--pin-stdin", wallet=wallet, stdin=f"{code.lower()}\n{NEWER_PIN}\n")
    assert unlocked.returncode == 0, unlocked.stderr
    assert (
        _json(netid("credentials", "--json", wallet=wallet, NETID_PIN=NEWER_PIN))["issuers"][0]["used"] == 1
    )

    # a refresh: none due yet (5 unused), then forced; no card needed
    assert _json(netid("refresh", "--json", wallet=wallet, NETID_PIN=NEWER_PIN))["arrived"] == 0
    forced = _json(netid("refresh", "--force", "--batch", "3", "--json", wallet=wallet, NETID_PIN=NEWER_PIN))
    assert forced["arrived"] == 3 and forced["issuers"][0]["unused"]["anonymous"] == 8

    # revoke this device; a copy of the wallet taken before can no longer prove anything
    copy = tmp_path / "copy" / "wallet.json"
    copy.parent.mkdir()
    shutil.copy2(wallet, copy)
    refused = netid("revoke", wallet=wallet, NETID_PIN=NEWER_PIN)  # no terminal to confirm at
    assert "--yes" in _error(refused, ExitCode.USAGE)
    revoked = _json(netid("revoke", "--yes", "--json", wallet=wallet, NETID_PIN=NEWER_PIN))
    assert revoked == {"issuer": live_issuer.url, "revoked": 9}
    vp, request = _present(copy, NEWER_PIN, rp, live_issuer)
    with httpx.Client(timeout=30) as http, pytest.raises(VerificationError) as caught:
        rp_verifier(http, live_issuer.url, lambda: int(time.time())).verify(vp, request)
    assert caught.value.code == "status_revoked"
    after = _json(netid("credentials", "--json", wallet=wallet, NETID_PIN=NEWER_PIN))["issuers"][0]
    assert after["revoked_at"] and after["unused"] == {"anonymous": 0, "rp": 0}
    assert "revoked this device" in netid("log", wallet=wallet, NETID_PIN=NEWER_PIN).stdout
    refresh = netid("refresh", wallet=wallet, NETID_PIN=NEWER_PIN)
    assert "not enrolled" in _error(refresh, ExitCode.FAILED)

    # wipe: asks first; --yes for scripts
    assert "--yes" in _error(netid("wallet", "wipe", wallet=wallet), ExitCode.USAGE)
    wiped = _json(netid("wallet", "wipe", "--yes", "--json", wallet=wallet))
    assert wiped["wiped"] and str(wallet) in wiped["removed"] and not wallet.exists()
    assert list(wallet.parent.iterdir()) == []
    gone = netid("credentials", wallet=wallet, NETID_PIN=NEWER_PIN)
    assert "netid enroll" in _error(gone, ExitCode.FAILED)


def test_issuer_trouble_is_exit_code_7_with_the_issuers_code(live_issuer: LiveIssuer, tmp_path: Path) -> None:
    wallet = tmp_path / "wallet.json"
    cloned = netid("enroll", "--issuer", live_issuer.url, "--reader", "sim:82:cloned", "--batch", "1",
                   wallet=wallet, NETID_PIN=PIN)  # fmt: skip
    err = _error(cloned, ExitCode.NETWORK)
    assert "the issuer answered active_authentication" in err
    assert not wallet.exists()  # the wallet made for this enrollment is not left behind, empty
    down = netid("enroll", "--issuer", "http://127.0.0.1:9", "--reader", "sim:82", "--json",
                 wallet=wallet, NETID_PIN=PIN)  # fmt: skip
    assert down.returncode == ExitCode.NETWORK == 7
    problem = json.loads(down.stdout)["error"]
    assert problem["kind"] == "network" and "could not reach the issuer" in problem["message"]
    plain = netid("enroll", "--issuer", "http://issuer.example", wallet=wallet, NETID_PIN=PIN)
    assert "https" in _error(plain, ExitCode.USAGE)
    short = netid("enroll", "--issuer", live_issuer.url, "--reader", "sim:82", wallet=wallet, NETID_PIN="123")
    assert "6 to 128 characters" in _error(short, ExitCode.USAGE)
    no_pin = netid("credentials", wallet=tmp_path / "none.json")
    assert no_pin.returncode in (ExitCode.USAGE, ExitCode.FAILED)
    assert set(EXIT_CODES) >= {ExitCode.NETWORK, ExitCode.REFUSED, ExitCode.PIN}


def test_a_child_enrolls_with_a_guardian(
    live_issuer: LiveIssuer, side: IssuerContext, tmp_path: Path
) -> None:
    # `sim:SEED:age=N`: the simulator's card of a 12-year-old — below the issuer's self-enrollment age (14)
    parent_wallet, child_wallet = tmp_path / "parent.json", tmp_path / "child.json"
    adult = ("enroll", "--issuer", live_issuer.url, "--reader", "sim:83", "--batch", "1", "--json")
    parent = _json(netid(*adult, wallet=parent_wallet, NETID_PIN=PIN))
    child = ("enroll", "--issuer", live_issuer.url, "--reader", "sim:84:age=12", "--batch", "1")

    alone = netid(*child, wallet=child_wallet, NETID_PIN=PIN)
    assert "the issuer answered guardian_required" in (err := _error(alone, ExitCode.NETWORK))
    assert "--guardian NETNO" in err
    assert not child_wallet.exists()  # refused at the issuer: no empty wallet left behind

    netno = parent["netno"]
    mistyped = netno[:-1] + ("0" if netno[-1] != "0" else "1")  # another check character: never valid
    typo = netid(*child, "--guardian", mistyped, wallet=child_wallet, NETID_PIN=PIN)
    assert "--guardian is not a network number" in _error(typo, ExitCode.USAGE)
    assert not child_wallet.exists()  # refused before the card was read or a wallet made

    # the guardian's number as a person types it: lower case, grouped with spaces (folded to canonical)
    typed = " ".join(netno.lower()[i : i + 4] for i in range(0, len(netno), 4))
    enrolled = _json(netid(*child, "--guardian", typed, "--json", wallet=child_wallet, NETID_PIN=PIN))
    assert is_valid_netno(enrolled["netno"]) and enrolled["netno"] != netno
    with side.sessions() as db:  # the issuer recorded who the guardian is
        child_row = db.scalars(select(Person).where(Person.netno == enrolled["netno"])).one()
        guardian_row = db.scalars(select(Person).where(Person.netno == netno)).one()
        assert child_row.guardian_id == guardian_row.id and guardian_row.guardian_id is None


def test_an_issuer_that_requires_key_attestation_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    # the command-line wallet keeps its device keys in software: it reads the issuer's metadata and stops,
    # with no card read and nothing posted (the issuer's log shows no enrollment)
    attesters = TestWalletProvider().write_jwks(tmp_path / "attesters.json")
    live = start_live_issuer(tmp_path, extra_env={"NETID_ISSUER_KEY_ATTESTERS_PATH": str(attesters)})
    try:
        wallet = tmp_path / "wallet.json"
        refused = netid("enroll", "--issuer", live.url, "--reader", "sim:85", "--json", wallet=wallet,
                        NETID_PIN=PIN)  # fmt: skip
        assert refused.returncode == ExitCode.NETWORK, refused.stderr
        error = json.loads(refused.stdout)["error"]
        assert error["message"].startswith("the issuer requires a key attestation")
        assert "secure hardware" in error["hint"] and not wallet.exists()
        log = (tmp_path / "issuer.log").read_text()
        assert "/.well-known/openid-credential-issuer" in log and "/enrollment/" not in log
    finally:
        assert stop_live_issuer(live) == 0
