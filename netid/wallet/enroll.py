"""Enrolling with a NetID issuer: one card read → a network number and a first batch of netcerts.

The wallet's half of ``specs/enrollment.md``, then plain OpenID4VCI 1.0::

    GET  /.well-known/openid-credential-issuer → which proofs the issuer takes (key attestation?)
    POST /enrollment/start            → enrollment id, 8-byte challenge, the issuer's enrollment key
    read the card (AA over the challenge), seal the evidence to that key
    POST /enrollment/complete         → netno, credential offer (pre-authorized code)
    POST /token                       → access token, refresh token
    POST /nonce                       → c_nonce
    POST /credential (one key proof per fresh device key, or one key attestation of them all) → the batch

**Key attestation.** When the key store can have its keys attested
(:class:`~netid.wallet.keystore.AttestingKeyStore`) and the issuer's metadata lists the ``attestation``
proof type, the batch's keys go as one key attestation (OpenID4VCI 1.0 Appendix F.3) carrying the
``c_nonce``; otherwise as one ``jwt`` key proof per key. When the issuer's metadata requires key
attestations (``key_attestations_required``) and this key store cannot give one, :func:`enroll` and
:func:`refresh` fail with :class:`~netid.errors.EnrollmentError` ``key_attestation_required`` after
reading the metadata and before sending anything — no card read, no refresh token spent.

:func:`enroll` runs all of it; :func:`refresh` fetches a new batch later with the refresh token, no card
needed; :func:`revoke_device` asks the issuer to revoke this device's credentials, signed with the device
key recorded at enrollment. Each protocol step is a pure function here (build a request body, read an
answer) and only :class:`IssuerHttp` touches the network, through an injected :class:`httpx.Client`
(a :class:`fastapi.testclient.TestClient` works as one too).

Errors are :class:`~netid.errors.EnrollmentError`: the issuer's problem code when it refused (for example
``passive_authentication``, ``guardian_required``, ``invalid_proof``), ``transport`` when it could not be
reached, ``protocol`` when its answer was not what the protocol says, ``key_attestation_required`` when
it requires key attestations this key store cannot give. Card errors
(:class:`~netid.errors.CardError`) propagate unchanged: the user must hold the card still, or the access
key is wrong. Retrying ``complete`` after a lost answer is safe: the issuer answers the same evidence with
the same result, never a second network number.

>>> challenge = parse_start({"enrollment_id": "e1", "challenge": "AAAAAAAAAAA", "expires_at": 1,
...                          "enrollment_key": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}})
>>> challenge.challenge
b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from netid.card.icao.access import AccessKey
from netid.card.icao.read_document import CardReadout, ReadProgress, read_document_with_retry
from netid.card.interface import CardReader
from netid.credentials._b64 import b64url_decode, b64url_encode
from netid.credentials.jose import PRIVATE_JWK_MEMBERS
from netid.errors import EnrollmentError, ParseError, UsageError
from netid.oid4vci.evidence import EnrollmentEvidence
from netid.oid4vci.key_attestation import KeyAttestationRequirement
from netid.oid4vci.offer import (
    ANONYMOUS,
    PRE_AUTHORIZED_GRANT,
    RP_SCOPED,
    CredentialOffer,
    parse_credential_offer,
)
from netid.oid4vci.proofs import PROOF_TYP
from netid.wallet.keystore import AttestingKeyStore, DeviceKeyStore

__all__ = [
    "KEY_ATTESTATION_REQUIRED",
    "METADATA_PATH",
    "REVOKE_TYP",
    "EnrollmentChallenge",
    "EnrollmentResult",
    "IssuedBatch",
    "IssuerHttp",
    "TokenSet",
    "batch_proofs",
    "credential_request",
    "enroll",
    "key_proofs",
    "parse_complete",
    "parse_credentials",
    "parse_nonce",
    "parse_start",
    "parse_token",
    "pre_authorized_form",
    "proof_type_for",
    "refresh",
    "refresh_form",
    "revocation_request",
    "revoke_device",
    "seal_evidence",
]

#: the JWS type of a device-revocation request (``POST /devices/revoke``)
REVOKE_TYP: Final = "netid-revoke+jwt"
#: where the issuer publishes its OpenID4VCI credential issuer metadata (OpenID4VCI 1.0 §12.2.2)
METADATA_PATH: Final = "/.well-known/openid-credential-issuer"
#: the :class:`EnrollmentError` code when the issuer requires key attestations this key store cannot give
KEY_ATTESTATION_REQUIRED: Final = "key_attestation_required"
_CHALLENGE_BYTES: Final = 8


def _system_clock() -> int:
    return int(time.time())


def _protocol(message: str) -> EnrollmentError:
    return EnrollmentError("protocol", message)


def _member(body: Mapping[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _protocol(f"the issuer's answer lacks {name}")
    return value


# --- the steps, without I/O ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrollmentChallenge:
    """``POST /enrollment/start``'s answer: what the card must sign and whom to seal the evidence to."""

    enrollment_id: str
    challenge: bytes
    expires_at: int
    enrollment_key: Mapping[str, Any] = field(repr=False)


def parse_start(body: object) -> EnrollmentChallenge:
    """Read the start answer (:class:`EnrollmentError` ``protocol`` if it is not one)."""
    if not isinstance(body, Mapping):
        raise _protocol("the enrollment start answer is not a JSON object")
    key = _member(body, "enrollment_key", Mapping)
    if key.get("kty") != "EC" or key.get("crv") != "P-256" or not PRIVATE_JWK_MEMBERS.isdisjoint(key):
        raise _protocol("the enrollment key is not a public P-256 key")
    try:
        challenge = b64url_decode(_member(body, "challenge", str), "challenge")
    except ParseError:
        raise _protocol("the challenge is not base64url") from None
    if len(challenge) != _CHALLENGE_BYTES:
        raise _protocol("the challenge is not 8 bytes")
    return EnrollmentChallenge(
        _member(body, "enrollment_id", str), challenge, _member(body, "expires_at", int), dict(key)
    )


def seal_evidence(
    readout: CardReadout,
    challenge: EnrollmentChallenge,
    device_key: Mapping[str, Any],
    *,
    guardian_netno: str | None = None,
) -> str:
    """The card read as evidence for this enrollment (no portrait), sealed to the issuer's key."""
    if readout.aa_challenge != challenge.challenge:
        raise EnrollmentError("protocol", "the card was read with another challenge than the issuer's")
    evidence = EnrollmentEvidence.from_readout(
        readout, enrollment_id=challenge.enrollment_id, device_key=device_key, guardian_netno=guardian_netno
    )
    return evidence.seal(challenge.enrollment_key)


def parse_complete(body: object, *, issuer_url: str) -> tuple[str, CredentialOffer]:
    """``(netno, offer)`` from the complete answer; the offer must be from ``issuer_url``."""
    if not isinstance(body, Mapping):
        raise _protocol("the enrollment answer is not a JSON object")
    netno = _member(body, "netno", str)
    try:
        offer = parse_credential_offer(_member(body, "credential_offer", Mapping))
    except ParseError:
        raise _protocol("the credential offer is malformed") from None
    if offer.credential_issuer != issuer_url:
        raise _protocol("the credential offer is from another issuer")
    return netno, offer


def pre_authorized_form(offer: CredentialOffer) -> dict[str, str]:
    """The token request redeeming the offer's pre-authorized code."""
    return {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": offer.pre_authorized_code}


def refresh_form(refresh_token: str) -> dict[str, str]:
    """The token request exchanging a (single-use) refresh token."""
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token response. Both tokens are bearer secrets: ``repr`` hides them."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int


def parse_token(body: object) -> TokenSet:
    if not isinstance(body, Mapping) or str(body.get("token_type", "")).lower() != "bearer":
        raise _protocol("the token answer is not a Bearer token response")
    return TokenSet(
        _member(body, "access_token", str),
        _member(body, "refresh_token", str),
        _member(body, "expires_in", int),
    )


def parse_nonce(body: object) -> str:
    if not isinstance(body, Mapping):
        raise _protocol("the nonce answer is not a JSON object")
    nonce: str = _member(body, "c_nonce", str)
    return nonce


def proof_type_for(
    metadata: object, configuration_id: str, *, issuer_url: str, keystore: DeviceKeyStore
) -> str:
    """The proof type to ask ``configuration_id`` with, from the issuer's credential issuer metadata.

    ``"attestation"`` when ``keystore`` can attest its keys and the issuer lists that proof type;
    ``"jwt"`` otherwise. :class:`EnrollmentError` ``key_attestation_required`` when a proof type of the
    configuration carries ``key_attestations_required`` and this wallet cannot send an ``attestation``
    proof (the store cannot attest, or the issuer does not take that type); ``protocol`` when the
    metadata is not the issuer's or does not describe the configuration.
    """
    if not isinstance(metadata, Mapping) or metadata.get("credential_issuer") != issuer_url:
        raise _protocol("the credential issuer metadata is not this issuer's")
    configurations = metadata.get("credential_configurations_supported")
    configuration = configurations.get(configuration_id) if isinstance(configurations, Mapping) else None
    types = configuration.get("proof_types_supported") if isinstance(configuration, Mapping) else None
    if not isinstance(types, Mapping) or not all(isinstance(entry, Mapping) for entry in types.values()):
        raise _protocol(f"the issuer's metadata does not describe the proofs {configuration_id} takes")
    required = False
    for entry in types.values():
        if "key_attestations_required" in entry:
            try:
                KeyAttestationRequirement.from_metadata(entry["key_attestations_required"])
            except ParseError:
                raise _protocol("the issuer's key_attestations_required is malformed") from None
            required = True
    if "attestation" in types and isinstance(keystore, AttestingKeyStore):
        return "attestation"
    if required:
        raise EnrollmentError(
            KEY_ATTESTATION_REQUIRED,
            "the issuer requires key attestations, and this key store cannot have its keys attested",
        )
    if "jwt" not in types:
        raise _protocol("the issuer takes no proof type this wallet sends")
    return "jwt"


def key_proofs(
    keystore: DeviceKeyStore, key_ids: Sequence[str], *, audience: str, nonce: str, now: int
) -> list[str]:
    """One OpenID4VCI key proof (``openid4vci-proof+jwt``, public key in ``jwk``) per device key."""
    claims = {"aud": audience, "iat": now, "nonce": nonce}
    return [keystore.sign_jwt(key_id, claims, typ=PROOF_TYP, include_jwk=True) for key_id in key_ids]


def batch_proofs(
    keystore: DeviceKeyStore,
    key_ids: Sequence[str],
    proof_type: str,
    *,
    audience: str,
    nonce: str,
    now: int,
) -> list[str]:
    """The ``proofs`` array for ``key_ids``: :func:`key_proofs` for ``"jwt"``; for ``"attestation"`` the
    one key attestation of them all the (attesting) key store gives for ``nonce``."""
    if proof_type == "attestation":
        if not isinstance(keystore, AttestingKeyStore):
            raise EnrollmentError(KEY_ATTESTATION_REQUIRED, "this key store cannot have its keys attested")
        return [keystore.attest_keys(key_ids, nonce=nonce, now=now)]
    if proof_type != "jwt":
        raise UsageError(f"unknown proof type {proof_type!r}")
    return key_proofs(keystore, key_ids, audience=audience, nonce=nonce, now=now)


def credential_request(
    configuration_id: str, proofs: Sequence[str], *, rp_id: str | None = None, proof_type: str = "jwt"
) -> dict[str, Any]:
    """The credential request body: anonymous netcerts, or RP-scoped ones for ``rp_id``; ``proofs`` of
    ``proof_type`` (``jwt`` key proofs, or the one key ``attestation``)."""
    if (configuration_id == RP_SCOPED) != (rp_id is not None):
        raise EnrollmentError("protocol", "netcert_rp needs rp_id, and only it does")
    body: dict[str, Any] = {
        "credential_configuration_id": configuration_id,
        "proofs": {proof_type: list(proofs)},
    }
    if rp_id is not None:
        body["netid_rp"] = rp_id
    return body


def parse_credentials(body: object, *, count: int) -> list[str]:
    """The batch from a credential answer: exactly ``count`` credentials, in the order of the proofs."""
    items = body.get("credentials") if isinstance(body, Mapping) else None
    if not isinstance(items, list) or len(items) != count:
        raise _protocol("the credential answer does not hold one credential per proof")
    out: list[str] = []
    for item in items:
        credential = item.get("credential") if isinstance(item, Mapping) else None
        if not isinstance(credential, str):
            raise _protocol("a credential in the answer is not a string")
        out.append(credential)
    return out


def revocation_request(
    keystore: DeviceKeyStore, device_key_id: str, *, issuer_url: str, now: int, jti: str
) -> str:
    """A device-revocation request signed by the device key (``POST /devices/revoke``)."""
    claims = {"aud": issuer_url, "iat": now, "jti": jti}
    return keystore.sign_jwt(device_key_id, claims, typ=REVOKE_TYP, include_jwk=True)


# --- the edge: HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuerHttp:
    """The issuer's HTTP API through ``http``; every failure becomes an :class:`EnrollmentError`."""

    issuer_url: str
    http: httpx.Client = field(repr=False)

    def get(self, path: str) -> Any:
        """``GET`` a published document (the metadata)."""
        try:
            response = self.http.get(f"{self.issuer_url}{path}", headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise EnrollmentError(
                "transport", f"the issuer could not be reached ({type(exc).__name__})"
            ) from exc
        return self._answer(response)

    def post(
        self,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.http.post(f"{self.issuer_url}{path}", json=json, data=form, headers=headers)
        except httpx.TransportError as exc:
            raise EnrollmentError(
                "transport", f"the issuer could not be reached ({type(exc).__name__})"
            ) from exc
        return self._answer(response)

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        if response.status_code >= 500:
            raise EnrollmentError(
                "transport", "the issuer failed; try again later", status=response.status_code
            )
        try:
            body = response.json()
        except ValueError:
            raise EnrollmentError(
                "protocol", "the issuer's answer is not JSON", status=response.status_code
            ) from None
        if response.status_code >= 400:
            code = body.get("code") or body.get("error") if isinstance(body, Mapping) else None
            detail = (
                body.get("detail") or body.get("error_description") if isinstance(body, Mapping) else None
            )
            raise EnrollmentError(
                code if isinstance(code, str) else "protocol",
                detail if isinstance(detail, str) else f"the issuer refused ({response.status_code})",
                status=response.status_code,
            )
        return body


# --- the flows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedBatch:
    """Netcerts bound to fresh keys in the key store, and the refresh token for the next batch."""

    credentials: tuple[str, ...] = field(repr=False)
    refresh_token: str = field(repr=False)

    def __repr__(self) -> str:
        return f"IssuedBatch({len(self.credentials)} credentials)"


@dataclass(frozen=True, slots=True)
class EnrollmentResult:
    """What :func:`enroll` brings home. Keep ``refresh_token`` secret; ``device_key_id`` names the key
    that can later revoke this device (:func:`revoke_device`)."""

    netno: str
    credentials: tuple[str, ...] = field(repr=False)
    refresh_token: str = field(repr=False)
    device_key_id: str

    def __repr__(self) -> str:
        return f"EnrollmentResult(netno=…, {len(self.credentials)} credentials)"


def _batch(
    api: IssuerHttp,
    tokens: TokenSet,
    *,
    keystore: DeviceKeyStore,
    count: int,
    configuration_id: str,
    rp_id: str | None,
    clock: Callable[[], int],
    key_alg: str,
    proof_type: str,
) -> IssuedBatch:
    nonce = parse_nonce(api.post("/nonce"))
    key_ids = [keystore.create_key(key_alg) for _ in range(count)]
    try:
        proofs = batch_proofs(
            keystore, key_ids, proof_type, audience=api.issuer_url, nonce=nonce, now=clock()
        )
        body = credential_request(configuration_id, proofs, rp_id=rp_id, proof_type=proof_type)
        credentials = parse_credentials(
            api.post("/credential", json=body, token=tokens.access_token), count=count
        )
    except BaseException:
        for key_id in key_ids:  # keys without a credential are of no use
            keystore.delete_key(key_id)
        raise
    return IssuedBatch(tuple(credentials), tokens.refresh_token)


def enroll(
    reader: CardReader,
    access_key: AccessKey,
    issuer_url: str,
    *,
    keystore: DeviceKeyStore,
    http: httpx.Client,
    batch_size: int = 30,
    configuration_id: str = ANONYMOUS,
    rp_id: str | None = None,
    guardian_netno: str | None = None,
    progress: Callable[[str], None] | None = None,
    clock: Callable[[], int] = _system_clock,
    retries: int = 2,
    key_alg: str = "ES256",
    read_progress: Callable[[ReadProgress], None] | None = None,
    connect_timeout: float | None = None,
    on_enrolled: Callable[[str, str, str], None] | None = None,
) -> EnrollmentResult:
    """Enroll the card in ``reader`` with the issuer at ``issuer_url`` and fetch a first batch.

    ``progress`` is told each step (``start``, ``read``, ``complete``, ``token``, ``credentials``,
    ``done``); ``read_progress`` each file of the card read, and ``connect_timeout`` is how long to wait
    for the card. ``retries`` is how often ``complete`` is re-sent, with the same evidence, after the
    answer was lost in transit. ``guardian_netno`` is required below the issuer's self-enrollment age.
    ``on_enrolled(netno, device_key_id, refresh_token)`` is called as soon as the enrollment is granted,
    before the batch is fetched: a wallet that stores them then stays enrolled (and can fetch the batch
    by :func:`refresh`) even if the batch request fails. The issuer's metadata is read first: when it
    requires key attestations that ``keystore`` cannot give, ``key_attestation_required`` is raised before
    anything is sent (the module docstring).
    """
    if batch_size < 1:
        raise EnrollmentError("protocol", "batch_size must be at least 1")
    api = IssuerHttp(issuer_url.rstrip("/"), http)
    proof_type = proof_type_for(
        api.get(METADATA_PATH), configuration_id, issuer_url=api.issuer_url, keystore=keystore
    )
    say = progress or (lambda step: None)
    say("start")
    challenge = parse_start(api.post("/enrollment/start"))
    say("read")
    readout = read_document_with_retry(
        reader,
        access_key,
        aa_challenge=challenge.challenge,
        progress=read_progress,
        connect_timeout=connect_timeout,
    )
    device_key_id = keystore.create_key("ES256")
    sealed = seal_evidence(
        readout, challenge, keystore.public_jwk(device_key_id), guardian_netno=guardian_netno
    )
    say("complete")
    body = {"enrollment_id": challenge.enrollment_id, "evidence": sealed}
    for attempt in range(retries + 1):
        try:
            answer = api.post("/enrollment/complete", json=body)
            break
        except EnrollmentError as exc:
            if exc.code != "transport" or attempt == retries:
                keystore.delete_key(device_key_id)
                raise
    netno, offer = parse_complete(answer, issuer_url=api.issuer_url)
    say("token")
    tokens = parse_token(api.post("/token", form=pre_authorized_form(offer)))
    if on_enrolled is not None:
        on_enrolled(netno, device_key_id, tokens.refresh_token)
    say("credentials")
    batch = _batch(
        api, tokens, keystore=keystore, count=batch_size, configuration_id=configuration_id, rp_id=rp_id,
        clock=clock, key_alg=key_alg, proof_type=proof_type,
    )  # fmt: skip
    say("done")
    return EnrollmentResult(netno, batch.credentials, batch.refresh_token, device_key_id)


def refresh(
    issuer_url: str,
    refresh_token: str,
    *,
    keystore: DeviceKeyStore,
    http: httpx.Client,
    batch_size: int = 30,
    configuration_id: str = ANONYMOUS,
    rp_id: str | None = None,
    clock: Callable[[], int] = _system_clock,
    key_alg: str = "ES256",
    on_refresh_token: Callable[[str], None] | None = None,
) -> IssuedBatch:
    """A fresh batch (age predicates re-derived by the issuer) without reading the card: the refresh
    token is single-use, so keep the new one from the result. Also how an RP-scoped batch is fetched
    (``configuration_id="netcert_rp"``, ``rp_id``). ``on_refresh_token`` gets the new refresh token as
    soon as the old one is spent, before the batch is fetched: store it then, or a failed batch request
    leaves the wallet with a spent token (and presenting a spent token revokes the device's tokens).
    Like :func:`enroll`, it reads the issuer's metadata first and raises ``key_attestation_required``
    before the refresh token is spent when the issuer requires key attestations ``keystore`` cannot give."""
    api = IssuerHttp(issuer_url.rstrip("/"), http)
    proof_type = proof_type_for(
        api.get(METADATA_PATH), configuration_id, issuer_url=api.issuer_url, keystore=keystore
    )
    tokens = parse_token(api.post("/token", form=refresh_form(refresh_token)))
    if on_refresh_token is not None:
        on_refresh_token(tokens.refresh_token)
    return _batch(
        api, tokens, keystore=keystore, count=batch_size, configuration_id=configuration_id, rp_id=rp_id,
        clock=clock, key_alg=key_alg, proof_type=proof_type,
    )  # fmt: skip


def revoke_device(
    issuer_url: str,
    device_key_id: str,
    *,
    keystore: DeviceKeyStore,
    http: httpx.Client,
    clock: Callable[[], int] = _system_clock,
    rng: Callable[[int], bytes] = secrets.token_bytes,
) -> int:
    """Ask the issuer to revoke every credential of this device (signed with its device key); returns
    how many credentials the issuer revoked."""
    api = IssuerHttp(issuer_url.rstrip("/"), http)
    request = revocation_request(
        keystore, device_key_id, issuer_url=api.issuer_url, now=clock(), jti=b64url_encode(rng(16))
    )
    body = api.post("/devices/revoke", json={"request": request})
    if not isinstance(body, Mapping) or not isinstance(body.get("credentials"), int):
        raise _protocol("the revocation answer is malformed")
    revoked: int = body["credentials"]
    return revoked
