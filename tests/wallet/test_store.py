"""The PIN-protected wallet store: what the file holds (and hides), the card-like try counter and its
recovery code, PIN change, wipe, and atomic writes — checked by killing a process in the middle of one."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from netid.credentials.jose import decode_jws_unverified, load_public_jwk, verify_jws_signature
from netid.errors import UsageError
from netid.testing import TestWorld
from netid.testing.world import NOW
from netid.verifier import Query
from netid.wallet import DeviceKeyStore, Wallet
from netid.wallet.log import LogEntry
from netid.wallet.store import (
    DEFAULT_KDF,
    MINIMUM_KDF,
    IssuerRecord,
    KdfParams,
    WalletFileError,
    WalletInUseError,
    WalletLockedError,
    WalletNotFoundError,
    WalletStore,
    WrongPinError,
    default_wallet_path,
    wipe_wallet,
)
from tests.wallet.conftest import PIN, new_store, run_child

REFRESH_TOKEN = "TEST-refresh-token-0123456789abcdef"


def _fill(store: WalletStore, world: TestWorld, count: int = 3) -> list[str]:
    """``count`` netcerts bound to fresh keys of ``store``, an issuer record and a log line."""
    jwks = [store.public_jwk(store.create_key()) for _ in range(count)]
    issued = world.mint_for(jwks)
    store.add_credentials(issued)
    device = store.create_key()
    store.issuers.append(
        IssuerRecord(world.profile.issuer, "ABCDEFGHJ1", device, REFRESH_TOKEN, world.jwks, NOW)
    )
    store.append_log(LogEntry(event="enrolled", at=NOW, issuer=world.profile.issuer, credentials=count))
    return issued


def _header(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text("ascii"))


# --- what the file holds ----------------------------------------------------------------------------------


def test_everything_survives_a_reopen_and_nothing_is_readable_without_the_pin(wallet_path: Path) -> None:
    world = TestWorld.create(credentials=0)
    store, _ = new_store(wallet_path, clock=lambda: NOW)
    issued = _fill(store, world)
    keys = store.key_ids()
    store.close()

    raw = wallet_path.read_text("ascii")
    header = _header(wallet_path)
    assert header["format"] == "netid-wallet" and header["store"] == "software"
    kdf = header["pin"]["kdf"]
    assert (kdf["alg"], kdf["memory_kib"], kdf["time_cost"]) == ("argon2id", MINIMUM_KDF.memory_kib, 2)
    assert len(header["pin"]["salt"]) >= 22  # 16 bytes, base64url
    for secret in (REFRESH_TOKEN, "ABCDEFGHJ1", world.person.full_name, world.person.personal_number,
                   issued[0].split("~")[1], *keys):  # fmt: skip
        assert secret not in raw
    assert stat.S_IMODE(wallet_path.stat().st_mode) == 0o600

    with WalletStore.open(wallet_path, PIN, clock=lambda: NOW) as again:
        assert again.key_ids() == keys
        assert [c.credential.serialized for c in again.credentials if c.credential] == issued
        assert again.issuers[0].refresh_token == REFRESH_TOKEN and again.issuers[0].netno == "ABCDEFGHJ1"
        assert [e.event for e in again.log] == ["enrolled"]
        assert "refresh" not in repr(again.issuers[0]).lower().replace("refreshed_at", "")


def test_it_is_a_device_key_store_that_says_it_is_software(wallet_path: Path) -> None:
    store, _ = new_store(wallet_path)
    with store:
        assert isinstance(store, DeviceKeyStore) and store.hardware_backed is False
        key_id = store.create_key()
        token = store.sign_jwt(key_id, {"nonce": "n"}, typ="openid4vci-proof+jwt", include_jwk=True)
        header, payload, signing_input, signature = decode_jws_unverified(token)
        assert header["jwk"] == store.public_jwk(key_id) and payload == {"nonce": "n"}
        verify_jws_signature(signing_input, signature, load_public_jwk(header["jwk"]), "ES256")
        assert "jwk" not in decode_jws_unverified(store.sign_jwt(key_id, {}, typ="kb+jwt"))[0]
        store.delete_key(key_id)
        store.delete_key(key_id)  # idempotent
        with pytest.raises(UsageError):
            store.public_jwk(key_id)


def test_a_presentation_from_the_store_says_swk_and_uses_the_credential_up(wallet_path: Path) -> None:
    world = TestWorld.create(credentials=0)
    store, _ = new_store(wallet_path, clock=lambda: NOW)
    _fill(store, world, count=1)
    wallet = Wallet(store, world.trust, rp_status="offline")
    wallet.credentials = [c.credential for c in store.credentials if c.credential]
    request = world.request(Query(purpose="age check", age_over=18))
    response = wallet.present(request.to_uri(), now=NOW, consent=lambda p: True, amr="pin")
    assert world.verifier.verify(dict(response.vp_token), request)["age_over_18"] is True
    kb_jwt = response.vp_token["netcert"][0].rsplit("~", 1)[1]
    assert decode_jws_unverified(kb_jwt)[1]["amr"] == ["swk", "pin"]
    store.close()
    with WalletStore.open(wallet_path, PIN, clock=lambda: NOW) as again:  # used, key gone, on disk
        (record,) = again.credentials
        assert record.used and record.credential is None and record.used_at == NOW
        assert again.key_ids() == {again.issuers[0].device_key_id}
    assert world.person.full_name not in wallet_path.read_text()


# --- key derivation parameters ------------------------------------------------------------------------------


def test_argon2_parameters_below_the_minimum_are_refused(wallet_path: Path) -> None:
    with pytest.raises(WalletFileError):
        WalletStore.create(wallet_path, PIN, kdf=KdfParams(8 * 1024, 2, 1))
    with pytest.raises(WalletFileError):
        WalletStore.create(wallet_path, PIN, kdf=KdfParams(MINIMUM_KDF.memory_kib, 1, 1))
    assert DEFAULT_KDF.memory_kib >= MINIMUM_KDF.memory_kib and DEFAULT_KDF.time_cost >= 2
    new_store(wallet_path)[0].close()
    doc = _header(wallet_path)
    doc["pin"]["kdf"]["memory_kib"] = 1024  # a file weakened by someone else
    wallet_path.write_text(json.dumps(doc))
    with pytest.raises(WalletFileError, match="below the minimum"):
        WalletStore.open(wallet_path, PIN)
    assert WalletStore.info.__doc__  # the header is readable without the PIN, but not this one
    with pytest.raises(WalletFileError):
        WalletStore.info(wallet_path)


def test_a_damaged_or_foreign_file_is_a_file_error(wallet_path: Path) -> None:
    with pytest.raises(WalletNotFoundError):
        WalletStore.open(wallet_path.with_name("none.json"), PIN)
    new_store(wallet_path)[0].close()
    doc = _header(wallet_path)
    sealed = doc["payload"]["ciphertext"]
    doc["payload"]["ciphertext"] = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    wallet_path.write_text(json.dumps(doc))
    with pytest.raises(WalletFileError, match="tampered"):
        WalletStore.open(wallet_path, PIN)
    wallet_path.write_text("not json")
    with pytest.raises(WalletFileError):
        WalletStore.open(wallet_path, PIN)
    wallet_path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(WalletFileError):
        WalletStore.open(wallet_path, PIN)


# --- the PIN: counter, lockout, recovery code, change -------------------------------------------------------


def test_wrong_pins_count_down_and_lock_and_the_recovery_code_unlocks(wallet_path: Path) -> None:
    store, code = new_store(wallet_path)
    store.create_key()
    store.close()
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongPinError) as wrong:
            WalletStore.open(wallet_path, "000000")
        assert wrong.value.tries_left == left == WalletStore.info(wallet_path).tries_left
    with pytest.raises(WalletLockedError):
        WalletStore.open(wallet_path, "000000")
    assert WalletStore.info(wallet_path).locked
    with pytest.raises(WalletLockedError):  # the right PIN no longer opens it
        WalletStore.open(wallet_path, PIN)
    with pytest.raises(WrongPinError) as wrong:
        WalletStore.recover(wallet_path, "00000-00000-00000-00000", "135790")
    assert wrong.value.what == "recovery code" and wrong.value.tries_left == 9
    with pytest.raises(UsageError):  # not even the shape of a code: no try spent
        WalletStore.recover(wallet_path, "1234", "135790")
    # typed in lower case, with look-alikes and spaces: still the code
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    with WalletStore.recover(wallet_path, typed, "135790") as unlocked:
        assert len(unlocked.key_ids()) == 1
    info = WalletStore.info(wallet_path)
    assert (info.tries_left, info.recovery_tries_left) == (5, 10)
    WalletStore.open(wallet_path, "135790").close()
    with pytest.raises(WrongPinError):
        WalletStore.open(wallet_path, PIN)


def test_a_success_resets_the_counter(wallet_path: Path) -> None:
    new_store(wallet_path)[0].close()
    for _ in range(3):
        with pytest.raises(WrongPinError):
            WalletStore.open(wallet_path, "999999")
    WalletStore.open(wallet_path, PIN).close()
    assert WalletStore.info(wallet_path).tries_left == 5


def test_pin_rules(wallet_path: Path) -> None:
    with pytest.raises(UsageError):
        WalletStore.create(wallet_path, "12345", kdf=MINIMUM_KDF)
    store, _ = WalletStore.create(wallet_path, "１２３４５６", kdf=MINIMUM_KDF)  # full-width digits fold
    store.close()
    WalletStore.open(wallet_path, "123456").close()


def test_pin_change_reencrypts_and_the_recovery_code_still_works(wallet_path: Path) -> None:
    store, code = new_store(wallet_path)
    key = store.create_key()
    before = _header(wallet_path)
    store.change_pin("975310")
    store.close()
    after = _header(wallet_path)
    assert after["pin"]["salt"] != before["pin"]["salt"]
    assert after["pin"]["wrapped_key"] != before["pin"]["wrapped_key"]
    assert after["recovery"]["wrapped_key"] != before["recovery"]["wrapped_key"]  # a fresh data key
    assert after["recovery"]["public_key"] == before["recovery"]["public_key"]
    with pytest.raises(WrongPinError):
        WalletStore.open(wallet_path, PIN)
    with WalletStore.open(wallet_path, "975310") as opened:
        assert opened.key_ids() == {key}
    WalletStore.recover(wallet_path, code, "864200").close()
    with WalletStore.open(wallet_path, "864200") as opened:
        assert opened.key_ids() == {key}


def test_one_process_at_a_time(wallet_path: Path) -> None:
    store, _ = new_store(wallet_path)
    with pytest.raises(WalletInUseError):
        WalletStore.open(wallet_path, PIN)
    assert WalletStore.info(wallet_path).tries_left == 5  # refused before any try was spent
    store.close()
    store.close()  # idempotent
    with pytest.raises(UsageError):
        store.create_key()
    WalletStore.open(wallet_path, PIN).close()
    with pytest.raises(Exception, match="already exists"):
        new_store(wallet_path)


def test_wipe_removes_the_file_its_temporaries_and_its_lock(wallet_path: Path) -> None:
    store, _ = new_store(wallet_path)
    store.create_key()
    removed = store.wipe()
    assert wallet_path in removed and not wallet_path.exists()
    assert list(wallet_path.parent.iterdir()) == []
    new_store(wallet_path)[0].close()
    (wallet_path.parent / f".{wallet_path.name}.tmp-deadbeef").write_bytes(b"a crashed write")
    assert len(wipe_wallet(wallet_path)) == 3  # no PIN needed: it is the person's own file
    assert list(wallet_path.parent.iterdir()) == []
    assert wipe_wallet(wallet_path) == []


def test_default_location_per_platform(tmp_path: Path) -> None:
    home = Path("/home/ana")
    assert default_wallet_path({}, "linux", home) == home / ".local/share/netid/wallet.json"
    assert default_wallet_path({"XDG_DATA_HOME": "/xdg"}, "linux", home) == Path("/xdg/netid/wallet.json")
    assert default_wallet_path({"XDG_DATA_HOME": "relative"}, "linux", home).is_relative_to(home)
    assert default_wallet_path({}, "darwin", home) == home / "Library/Application Support/netid/wallet.json"
    appdata = r"C:\Users\ana\AppData\Roaming"
    assert default_wallet_path({"APPDATA": appdata}, "win32", home) == Path(appdata) / "netid" / "wallet.json"


# --- the counter is spent before the PIN is checked; writes are atomic -------------------------------------

_CHILD = """
import os, sys
from pathlib import Path
from netid.wallet import store as s

path, pin, stop_at, action = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def die(*args, **kwargs):
    os._exit(77)

def half_then_die(fd, data):
    os.write(fd, data[: len(data) // 2])
    os._exit(77)

if action == "open":  # stop inside the first write (the counter) or at the key derivation
    setattr(s, stop_at, half_then_die if stop_at == "_write_all" else die)
    s.WalletStore.open(path, pin)
else:  # open normally, then stop inside the write of a change
    store = s.WalletStore.open(path, pin)
    setattr(s, stop_at, half_then_die if stop_at == "_write_all" else die)
    store.create_key()
print("not stopped")
"""


@pytest.mark.parametrize("stop_at", ["_write_all", "_fsync", "_replace"])
def test_a_process_killed_mid_write_leaves_the_previous_store(wallet_path: Path, stop_at: str) -> None:
    store, _ = new_store(wallet_path)
    kept = store.create_key()
    store.close()
    before = wallet_path.read_bytes()
    child = run_child(_CHILD, str(wallet_path), PIN, stop_at, "change")
    assert child.returncode == 77, child.stderr
    assert wallet_path.read_bytes() == before  # the previous store, byte for byte (counter spent, reset)
    leftovers = list(wallet_path.parent.glob(f".{wallet_path.name}.tmp-*"))
    assert leftovers  # the interrupted write's temporary file
    with WalletStore.open(wallet_path, PIN) as again:
        assert again.key_ids() == {kept}  # the previous state, whole
    assert not list(wallet_path.parent.glob(f".{wallet_path.name}.tmp-*"))  # cleaned up on open


def test_killing_the_process_after_a_wrong_guess_does_not_give_the_try_back(wallet_path: Path) -> None:
    new_store(wallet_path)[0].close()
    child = run_child(_CHILD, str(wallet_path), "000000", "_derive", "open")  # stopped before the check
    assert child.returncode == 77, child.stderr
    assert WalletStore.info(wallet_path).tries_left == 4


@pytest.mark.parametrize("stop_at", ["_write_all", "_fsync", "_replace"])
def test_a_guess_whose_counter_write_was_killed_was_never_checked(wallet_path: Path, stop_at: str) -> None:
    """The PIN is derived only after the spent try is on disk: stopping the counter's write (the test stops
    the process there) never reaches the check, and leaves the counter as it was."""
    new_store(wallet_path)[0].close()
    child = run_child(_CHILD, str(wallet_path), "000000", stop_at, "open")
    assert child.returncode == 77, child.stderr
    assert WalletStore.info(wallet_path).tries_left == 5
    WalletStore.open(wallet_path, PIN).close()


def test_deferred_changes_are_one_write(wallet_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netid.wallet import store as module

    store, _ = new_store(wallet_path)
    writes: list[Path] = []
    real = module._atomic_write
    monkeypatch.setattr(module, "_atomic_write", lambda path, data: (writes.append(path), real(path, data)))
    with store.deferred():
        for _ in range(10):
            store.create_key()
    assert len(writes) == 1
    store.create_key()
    assert len(writes) == 2
    store.close()
    assert os.path.getsize(wallet_path) > 0
