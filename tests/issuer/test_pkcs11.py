"""The PKCS#11 key store against SoftHSM2: keys made on a throwaway token, signatures by the token that
verifiers accept, private halves that cannot leave it, and a whole issuer running with them.

The token lives in a temporary folder (``SOFTHSM2_CONF`` names a config whose ``tokendir`` is there),
initialised with ``softhsm2-util --init-token``. SoftHSM2 is a system package
(scripts/ensure-system-deps.sh): missing, these tests fail under CI and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from issuer_service.keys.file import FileKeyStore
from issuer_service.keys.store import KeyStore, KeyStoreError
from netid.credentials.jose import decode_jws_unverified, load_public_jwk
from netid.credentials.status_list import parse_status_list_token
from netid.credentials.trust import IssuerTrust
from netid.oid4vp.certificate import parse_rp_certificate, status_reference
from tests.issuer.conftest import (
    ADMIN_TOKENS,
    KEYSTORE_PASSPHRASE,
    issuer_env,
    live_output,
    settings_for,
    start_live_issuer,
    stop_live_issuer,
    unavailable,
)

pkcs11 = pytest.importorskip("pkcs11", reason="the hsm extra (python-pkcs11) is not installed")
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass  # noqa: E402
from pkcs11.exceptions import PKCS11Error, UserAlreadyLoggedIn  # noqa: E402

from issuer_service.keys.pkcs11 import Pkcs11KeyStore  # noqa: E402

pytestmark = pytest.mark.slow

INSTALL_HINT = "apt-get install -y softhsm2 (or run scripts/ensure-system-deps.sh)"
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
TOKEN_LABEL = "netid-test"
USER_PIN = "TEST-pin-2718"
SO_PIN = "TEST-so-pin-3141"


@dataclass(frozen=True)
class SoftHsm:
    module: Path
    label: str
    pin: str
    conf: Path

    def env(self) -> dict[str, str]:
        """NETID_ISSUER_* settings for an issuer whose signing keys are on this token."""
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "NETID_ISSUER_KEYSTORE": "pkcs11",
            "NETID_ISSUER_PKCS11_MODULE": str(self.module),
            "NETID_ISSUER_PKCS11_TOKEN_LABEL": self.label,
            "NETID_ISSUER_PKCS11_PIN": self.pin,
        }


def _module() -> Path | None:
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def softhsm() -> Iterator[SoftHsm]:
    """A SoftHSM2 token in a temporary folder, for the whole session (python-pkcs11 loads the library
    once per process and SoftHSM2 reads its config then, so one token serves every test)."""
    module = _module()
    if module is None or shutil.which("softhsm2-util") is None:
        unavailable(f"SoftHSM2 not found: {INSTALL_HINT}")
    assert module is not None
    root = Path(tempfile.mkdtemp(prefix="netid-softhsm-"))
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", USER_PIN,
             "--so-pin", SO_PIN],
            check=True, capture_output=True, env=os.environ | {"SOFTHSM2_CONF": str(conf)},
        )  # fmt: skip
        yield SoftHsm(module, TOKEN_LABEL, USER_PIN, conf)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def hsm_store(softhsm: SoftHsm, tmp_path: Path) -> Iterator[Pkcs11KeyStore]:
    overrides = {
        name.removeprefix("NETID_ISSUER_").lower(): value
        for name, value in softhsm.env().items()
        if name.startswith("NETID_ISSUER_")
    }
    settings = settings_for(tmp_path, **overrides)
    store = Pkcs11KeyStore(settings, FileKeyStore(tmp_path / "keys.json", KEYSTORE_PASSPHRASE))
    yield store
    store.close()


def _kid(alg: str) -> str:
    return f"test-{alg.lower()}-{secrets.token_hex(4)}"


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_the_token_signs_jws_a_verifier_accepts(hsm_store: Pkcs11KeyStore, alg: str) -> None:
    kid = _kid(alg)
    jwk = hsm_store.create_signing_key(kid, alg)  # type: ignore[arg-type]
    assert "d" not in jwk and jwk["kty"] == ("OKP" if alg == "EdDSA" else "EC")
    signer = hsm_store.signer(kid)
    assert signer.alg == alg and signer.public_jwk() == jwk
    message = b"header.payload"
    signature = signer.sign(message)
    assert len(signature) == 64  # raw JWS form: Ed25519 R||S, ECDSA r||s
    public = load_public_jwk(jwk)
    assert public.verify(message, signature)
    assert not public.verify(message + b"!", signature)
    assert isinstance(hsm_store, KeyStore)


def test_the_private_halves_cannot_leave_the_token(hsm_store: Pkcs11KeyStore, softhsm: SoftHsm) -> None:
    kids = {alg: _kid(alg) for alg in ("EdDSA", "ES256")}
    for alg, kid in kids.items():
        hsm_store.create_signing_key(kid, alg)  # type: ignore[arg-type]
    with _user_session(softhsm) as session:
        wrapping = session.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
        for kid in kids.values():
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=kid)
            assert private[Attribute.EXTRACTABLE] is False and private[Attribute.NEVER_EXTRACTABLE] is True
            assert private[Attribute.SENSITIVE] is True and private[Attribute.ALWAYS_SENSITIVE] is True
            assert private[Attribute.TOKEN] is True and private[Attribute.PRIVATE] is True
            with pytest.raises(PKCS11Error):  # AttributeSensitive: no raw value
                private[Attribute.VALUE]
            with pytest.raises(PKCS11Error):  # KeyUnextractable: not even wrapped
                wrapping.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        # positive control: the same wrapping works on a key that may leave the token
        extractable = session.generate_key(
            KeyType.AES, 128, store=False, template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False}
        )
        assert len(wrapping.wrap_key(extractable, mechanism=Mechanism.AES_KEY_WRAP_PAD)) == 24


def test_the_enrollment_key_and_secrets_stay_in_the_key_file(
    hsm_store: Pkcs11KeyStore, tmp_path: Path
) -> None:
    kid = f"enrollment-{secrets.token_hex(3)}"
    jwk = hsm_store.create_enrollment_key(kid)
    assert jwk["crv"] == "P-256" and hsm_store.enrollment_key(kid).curve.name == "secp256r1"
    lookup = hsm_store.secret("lookup")
    file_store = FileKeyStore(tmp_path / "keys.json", KEYSTORE_PASSPHRASE)  # the same file, opened anew
    assert file_store.secret("lookup") == lookup
    assert file_store.enrollment_key(kid).private_numbers() == hsm_store.enrollment_key(kid).private_numbers()
    with pytest.raises(KeyStoreError):
        hsm_store.signer(kid)  # not on the token
    hsm_store.check()


def test_signing_from_many_threads_is_safe(hsm_store: Pkcs11KeyStore) -> None:
    # the library is initialised without OS locking: unserialised calls from threads corrupt SoftHSM2's
    # heap (seen: "free(): invalid pointer"), so the store serialises them
    kid = _kid("ES256")
    public = load_public_jwk(hsm_store.create_signing_key(kid, "ES256"))
    signer = hsm_store.signer(kid)
    messages = [f"message {i}".encode() for i in range(400)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        signatures = list(pool.map(signer.sign, messages))
    assert all(public.verify(m, s) for m, s in zip(messages, signatures, strict=True))


def test_the_store_recovers_when_the_hsm_drops_its_sessions(
    hsm_store: Pkcs11KeyStore, softhsm: SoftHsm
) -> None:
    kid = _kid("EdDSA")
    public = load_public_jwk(hsm_store.create_signing_key(kid, "EdDSA"))
    signer = hsm_store.signer(kid)
    assert public.verify(b"before", signer.sign(b"before"))
    pkcs11.lib(str(softhsm.module)).reinitialize()  # as an HSM restart: every handle invalid, logged out
    with pytest.raises(KeyStoreError, match="could not sign"):
        signer.sign(b"during")  # the request that meets the dead session fails...
    assert public.verify(b"after", signer.sign(b"after"))  # ...the next one logs in anew and signs


def test_a_kid_is_never_reused_and_unknown_kids_fail_clearly(hsm_store: Pkcs11KeyStore) -> None:
    kid = _kid("EdDSA")
    hsm_store.create_signing_key(kid, "EdDSA")
    with pytest.raises(KeyStoreError, match="already holds"):
        hsm_store.create_signing_key(kid, "ES256")
    with pytest.raises(KeyStoreError, match="no single signing key"):
        hsm_store.signer("no-such-kid")


def test_a_wrong_pin_stops_the_issuer_with_a_clear_message(softhsm: SoftHsm, tmp_path: Path) -> None:
    # in a process of its own: PKCS#11 logins are per process, and this one already has the right PIN
    env = (
        os.environ
        | issuer_env(tmp_path, port=8000)
        | softhsm.env()
        | {"NETID_ISSUER_PKCS11_PIN": "TEST-wrong"}
    )
    result = subprocess.run(
        [sys.executable, "-m", "issuer_service", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "PKCS#11" in result.stderr and "PinIncorrect" in result.stderr
    assert "TEST-wrong" not in result.stderr  # the PIN is never echoed


def test_a_whole_issuer_signs_with_the_hsm(softhsm: SoftHsm, tmp_path: Path) -> None:
    live = start_live_issuer(tmp_path, extra_env=softhsm.env())
    try:
        jwks = httpx.get(f"{live.url}/jwks.json").json()
        trust = IssuerTrust(jwks, issuer=live.url)
        # the published signing keys are objects on the token
        with _user_session(softhsm) as session:
            on_token = {k.label for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})}
        assert {k["kid"] for k in jwks["keys"]} <= on_token

        # an RP access certificate, signed through the HSM, verified against the published JWKS
        from tests.issuer.test_registry import rp_body

        response = httpx.post(
            f"{live.url}/admin/rps",
            json=rp_body("hsm-shop.example"),
            headers={"Authorization": f"Bearer {ADMIN_TOKENS['alice']}"},
        )
        assert response.status_code == 201, response.text
        token_text = response.json()["certificate"]
        now = int(time.time())
        certificate = parse_rp_certificate(token_text, trust, now)
        assert certificate.rp_id == "hsm-shop.example"

        # its status list, signed through the HSM with the status-list key
        reference = status_reference(decode_jws_unverified(token_text)[1])
        assert reference is not None
        uri, idx = reference
        status_token = httpx.get(uri)
        assert status_token.status_code == 200
        header = decode_jws_unverified(status_token.text)[0]
        status_key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        assert status_key["netid_purpose"] == "status_list"
        statuses = parse_status_list_token(
            status_token.text, load_public_jwk(status_key), now=now, expected_sub=uri
        )
        assert statuses.get(idx) == 0
    finally:
        code = stop_live_issuer(live)
    assert code == 0, live_output(live)


@contextlib.contextmanager
def _user_session(softhsm: SoftHsm) -> Iterator[Any]:
    """A logged-in session on the test token (this process may be logged in already: a key store)."""
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label)
    try:
        session = token.open(rw=True, user_pin=softhsm.pin)
    except UserAlreadyLoggedIn:
        session = token.open(rw=True)
    with session:
        yield session
