"""A deterministic in-memory NetID world for verifier/wallet tests: issuer, RP, wallet, status list.

Every key here is a TEST key derived from a fixed seed; never use them for anything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from netid.credentials.jose import SigningKey, public_jwk
from netid.credentials.netcert import IdentityAttributes, NetcertPolicy, mint_netcert_batch
from netid.credentials.status_list import (
    RECOMMENDED_MIN_LIST_SIZE,
    StatusList,
    allocate_indices,
    status_list_token,
)
from netid.verifier import (
    CachedStatusLists,
    InMemoryReplayCache,
    IssuerTrust,
    PresentationRequest,
    Query,
    Verifier,
    build_request,
    issue_rp_certificate,
)
from netid.wallet import SoftwareKeyStore, Wallet

ISSUER = "https://issuer.netid.test"
STATUS_URI = "https://issuer.netid.test/status/1"
RESPONSE_URI = "https://shop.example/netid/response"
NOW = 1_795_000_000  # 2026-11-18T...Z, a fixed "now"
ALL_SCOPES = ("age_over", "doc_valid", "name_equals", "id_number_equals", "region_in", "subject", "netno")


class DetRng:
    """Deterministic byte source (SHA-256 in counter mode) standing in for secrets.token_bytes."""

    def __init__(self, seed: str) -> None:
        self._seed = seed.encode()
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        return out[:n]


def fixed_key(alg: str, label: str) -> SigningKey:
    """A TEST private key derived from ``label``."""
    seed = hashlib.sha256(f"NETID TEST KEY {label}".encode()).digest()
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    scalar = int.from_bytes(seed, "big") % (2**256 - 2**224 + 2**192 + 2**96 - 1) or 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def personal_number(prefix17: str) -> str:
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    total = sum(int(c) * w for c, w in zip(prefix17, weights, strict=True))
    return prefix17 + "10X98765432"[total % 11]


PERSON = IdentityAttributes(
    full_name="张三丰",
    personal_number=personal_number("44030519900307123"),
    date_of_birth=dt.date(1990, 3, 7),
    document_expiry=dt.date(2036, 5, 1),
    chip_auth="aa",
    enrollment_factors=("nfc_chip", "face_match"),
)


@dataclass
class World:
    issuer_alg: str
    issuer_key: SigningKey
    kid: str
    jwks: dict[str, Any]
    rp_key: SigningKey
    rp_cert: str
    status: StatusList
    wallet: Wallet
    clock_now: list[int] = field(default_factory=lambda: [NOW])
    rng: DetRng = field(default_factory=lambda: DetRng("world"))
    fetched_status: list[str] = field(default_factory=list)
    sector: str = "shop.example"
    #: status indices handed out so far (the issuer's record; batch indices are drawn at random)
    used_indices: set[int] = field(default_factory=set)
    verifier: Verifier = field(init=False)

    def __post_init__(self) -> None:
        trust = IssuerTrust(self.jwks, clock=self.clock)
        self.trust = trust
        self.replay = InMemoryReplayCache(self.clock)
        self.verifier = Verifier(
            trust,
            status=CachedStatusLists(self._fetch_status_late, trust, clock=self.clock),
            replay_cache=self.replay,
            clock=self.clock,
        )

    def clock(self) -> int:
        return self.clock_now[0]

    def _fetch_status_late(self, uri: str) -> str:
        # looked up at call time, so a test can replace ``fetch_status`` on the instance
        return self.fetch_status(uri)

    def fetch_status(self, uri: str) -> str:
        self.fetched_status.append(uri)
        assert uri == STATUS_URI
        return status_list_token(
            self.status,
            self.issuer_key,
            sub=STATUS_URI,
            iat=self.clock(),
            exp=self.clock() + 3600,
            kid=self.kid,
        )

    def mint(
        self,
        count: int = 2,
        *,
        kind: str = "anonymous",
        first_index: int | None = None,
        include_netno: bool = False,
        attrs: IdentityAttributes = PERSON,
        sector: str | None = None,
        holder_alg: str = "ES256",
    ) -> list[str]:
        jwks = self.wallet.new_holder_keys(count, holder_alg)
        creds = mint_netcert_batch(
            attrs,
            issuer=ISSUER,
            issuer_key=self.issuer_key,
            kid=self.kid,
            holder_jwks=jwks,
            count=count,
            kind=kind,  # type: ignore[arg-type]
            sector=(sector or self.sector) if kind == "rp" else None,
            netno="ABCDEFGHJ" + _netno_check("ABCDEFGHJ") if kind == "rp" else None,
            pairwise_key=b"TEST pairwise key 0123456789" if kind == "rp" else None,
            status_uri=STATUS_URI,
            status_indices=self.indices(count, first_index),
            now=self.clock() - 86_400,
            policy=NetcertPolicy(),
            rng=self.rng,
            include_netno=include_netno,
        )
        self.wallet.add_credentials(creds)
        return creds

    def indices(self, count: int, first_index: int | None = None) -> list[int]:
        """Status indices for a batch: uniformly random unused ones (protocol.md §3), or — for tests that
        need a known index — ``first_index``, ``first_index + 1``, …"""
        if first_index is None:
            out = allocate_indices(len(self.status), self.used_indices, count, self.rng)
        else:
            out = list(range(first_index, first_index + count))
        self.used_indices.update(out)
        return out

    def request(self, query: Query, **kw: Any) -> PresentationRequest:
        return build_request(
            query,
            rp_key=self.rp_key,
            rp_certificate=self.rp_cert,
            response_uri=RESPONSE_URI,
            now=self.clock(),
            rng=self.rng,
            **kw,
        )

    def present(self, req: PresentationRequest, amr: str = "pin") -> dict[str, list[str]]:
        resp = self.wallet.present(req.to_uri(), now=self.clock(), consent=lambda p: True, amr=amr)  # type: ignore[arg-type]
        return dict(resp.vp_token)


def _netno_check(body: str) -> str:
    from netid.credentials.netno import check_char

    return check_char(body)


def make_world(
    issuer_alg: str = "EdDSA",
    *,
    scopes: tuple[str, ...] = ALL_SCOPES,
    purposes: tuple[str, ...] = ("age check", "sign in"),
) -> World:
    issuer_key = fixed_key(issuer_alg, f"issuer-{issuer_alg}")
    kid = f"issuer-{issuer_alg}-1"
    jwk = public_jwk(issuer_key) | {"kid": kid, "use": "sig", "alg": issuer_alg}
    jwks = {"keys": [jwk]}
    rp_key = fixed_key("ES256", "rp-shop")
    rp_cert = issue_rp_certificate(
        issuer=ISSUER,
        issuer_key=issuer_key,
        kid=kid,
        rp_id="shop.example",
        name="Example Shop",
        sector="shop.example",
        allowed_predicates=scopes,
        purposes=purposes,
        response_uris=(RESPONSE_URI,),
        request_jwk=public_jwk(rp_key),
        now=NOW - 1000,
    )
    status = StatusList(2, RECOMMENDED_MIN_LIST_SIZE)  # large: batch indices are drawn at random from it
    wallet = Wallet(SoftwareKeyStore(), jwks)
    return World(issuer_alg, issuer_key, kid, jwks, rp_key, rp_cert, status, wallet)


# --- hand-built pieces for negative tests ------------------------------------------------------------


def mint_raw(
    w: World,
    holder_keys: list[SigningKey],
    *,
    kind: str = "anonymous",
    attrs: IdentityAttributes = PERSON,
    now: int | None = None,
    first_index: int = 100,
    sector: str | None = None,
) -> list[str]:
    """Mint netcerts bound to keys the test holds (not the wallet), for hand-built presentations."""
    return mint_netcert_batch(
        attrs,
        issuer=ISSUER,
        issuer_key=w.issuer_key,
        kid=w.kid,
        holder_jwks=[public_jwk(k) for k in holder_keys],
        count=len(holder_keys),
        kind=kind,  # type: ignore[arg-type]
        sector=(sector or w.sector) if kind == "rp" else None,
        netno="ABCDEFGHJ" + _netno_check("ABCDEFGHJ") if kind == "rp" else None,
        pairwise_key=b"TEST pairwise key 0123456789" if kind == "rp" else None,
        status_uri=STATUS_URI,
        status_indices=w.indices(len(holder_keys), first_index),
        now=(now if now is not None else w.clock() - 86_400),
        policy=NetcertPolicy(),
        rng=w.rng,
    )


def kb_jwt(
    holder_key: SigningKey,
    without_kb: str,
    *,
    aud: str,
    nonce: str,
    iat: int,
    amr: list[str] | None = None,
    sd_hash_value: str | None = None,
    typ: str = "kb+jwt",
) -> str:
    from netid.credentials.jose import sign_jws
    from netid.credentials.sdjwt.codec import sd_hash

    payload: dict[str, Any] = {
        "iat": iat,
        "aud": aud,
        "nonce": nonce,
        "sd_hash": sd_hash_value if sd_hash_value is not None else sd_hash(without_kb),
        "amr": amr if amr is not None else ["swk", "pin"],
    }
    return sign_jws(payload, holder_key, typ=typ)


def hand_present(
    serialized: str,
    holder_key: SigningKey,
    req: PresentationRequest,
    *,
    claims: tuple[str, ...] = (),
    iat: int | None = None,
    aud: str | None = None,
    nonce: str | None = None,
    amr: list[str] | None = None,
) -> dict[str, list[str]]:
    """A presentation disclosing exactly the top-level ``claims``, bound with a KB-JWT."""
    from netid.credentials.sdjwt.present import present_sd_jwt

    without_kb = present_sd_jwt(serialized, disclose=[(c,) for c in claims])
    kb = kb_jwt(
        holder_key,
        without_kb,
        aud=aud if aud is not None else req.client_id,
        nonce=nonce if nonce is not None else req.nonce,
        iat=iat if iat is not None else req.iat,
        amr=amr,
    )
    return {"netcert": [without_kb + kb]}


def resign(
    w: World,
    req: PresentationRequest,
    edit: Any,
    *,
    key: SigningKey | None = None,
    header_edit: Any = None,
) -> str:
    """Re-sign ``req``'s request object after ``edit(claims)`` — an RP (or attacker) building its own."""
    from netid.credentials.jose import decode_jws_unverified, sign_jws

    header, claims, _, _ = decode_jws_unverified(req.request_object)
    edit(claims)
    extra = {"jwt": header["jwt"]}
    if header_edit is not None:
        header_edit(extra)
    return sign_jws(claims, key or w.rp_key, typ=header["typ"], extra_headers=extra)
