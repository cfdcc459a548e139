"""A whole NetID world in memory, for tests: an issuer, a registered relying party and a wallet.

**TEST ONLY.** Every key here is derived from a public seed; never trust them anywhere.

One call builds an issuer (keys per purpose, JWKS, a large status list), a relying party registered
with it (request-signing key, access certificate), a wallet holding netcerts for a chosen test person,
and the RP's :class:`~netid.verifier.Verifier` — all on one controllable :class:`TestClock` and one
seeded byte source, so a test is deterministic and can move time::

    >>> from netid.testing import TestWorld
    >>> from netid.verifier import Query
    >>> world = TestWorld.create(age=16)
    >>> request = world.request(Query(purpose="age check", age_over=18))
    >>> answers = world.verifier.verify(world.present(request), request)
    >>> answers["age_over_18"]
    False

The issuer's and the RP's sides here call the same public functions a real deployment does
(:mod:`netid.issuance`, :func:`~netid.verifier.build_request`, :class:`~netid.wallet.Wallet`); only the
transport (HTTP) is left out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from netid.credentials.jose import SigningKey, public_jwk
from netid.credentials.netno import check_char
from netid.credentials.status_list import StatusList
from netid.credentials.status_source import CachedStatusLists
from netid.credentials.trust import IssuerTrust
from netid.errors import UsageError
from netid.issuance import (
    RECOMMENDED_MIN_LIST_SIZE,
    IdentityAttributes,
    IssuerKey,
    IssuerKeys,
    IssuerProfile,
    RpRegistration,
    RpScope,
    allocate_indices,
    issue_rp_certificate,
    mint_netcert_batch,
    status_list_token,
)
from netid.oid4vp.modes import AuthMode
from netid.oid4vp.request import PresentationRequest
from netid.personal_number import personal_number_check_char
from netid.policy import DEFAULT_POLICY, Policy
from netid.verifier.build import build_request
from netid.verifier.query import Query
from netid.verifier.replay import InMemoryReplayCache
from netid.verifier.verify import Verifier
from netid.wallet.keystore import SoftwareKeyStore
from netid.wallet.present import Wallet

__all__ = [
    "ALL_SCOPES",
    "ISSUER",
    "NOW",
    "RESPONSE_URI",
    "STATUS_URI",
    "DetRng",
    "TestClock",
    "TestWorld",
    "fixed_key",
    "test_person",
]

ISSUER = "https://issuer.netid.test"
STATUS_URI = "https://issuer.netid.test/status/1"
RESPONSE_URI = "https://shop.example/netid/response"
#: the world's starting time: 2026-11-18, a fixed "now"
NOW = 1_795_000_000
ALL_SCOPES = ("age_over", "doc_valid", "name_equals", "id_number_equals", "region_in", "subject", "netno")
#: the TEST pairwise-subject key (an issuer keeps its real one secret)
PAIRWISE_KEY = b"TEST pairwise key 0123456789"
#: the TEST network number of the world's person ("ABCDEFGHJ" + its check character)
NETNO = "ABCDEFGHJ" + check_char("ABCDEFGHJ")
_P256_ORDER = 2**256 - 2**224 + 2**192 + 2**96 - 1


class DetRng:
    """Deterministic byte source (SHA-256 in counter mode) standing in for ``secrets.token_bytes``.

    TEST ONLY: its output is predictable from the seed.
    """

    def __init__(self, seed: str) -> None:
        self._seed = seed.encode()
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        return out[:n]


class TestClock:
    """A clock a test moves by hand: call it for the time (Unix seconds), set :attr:`now` or
    :meth:`advance` it."""

    __test__ = False  # not a pytest test class

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> int:
        self.now += seconds
        return self.now


def fixed_key(alg: str, label: str) -> SigningKey:
    """A TEST private key derived from ``label`` (``"EdDSA"`` or ``"ES256"``)."""
    seed = hashlib.sha256(f"NETID TEST KEY {label}".encode()).digest()
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if alg == "ES256":
        return ec.derive_private_key(int.from_bytes(seed, "big") % _P256_ORDER or 1, ec.SECP256R1())
    raise UsageError(f"unsupported alg {alg!r}")


def test_person(
    *,
    age: int = 36,
    full_name: str = "张三丰",
    region: str = "440305",
    today: dt.date | None = None,
    chip_auth: Literal["aa", "ca", "pa-only"] = "aa",
) -> IdentityAttributes:
    """A fictitious person aged ``age`` on ``today`` (default: the world's :data:`NOW`), with a personal
    number of ``region`` that passes its check character. TEST ONLY."""
    today = today or dt.datetime.fromtimestamp(NOW, tz=dt.UTC).date()
    born = (
        dt.date(today.year - age, 3, 7)
        if (today.month, today.day) >= (3, 7)
        else dt.date(today.year - age - 1, 3, 7)
    )
    body = f"{region}{born:%Y%m%d}123"
    return IdentityAttributes(
        full_name=full_name,
        personal_number=body + personal_number_check_char(body),
        date_of_birth=born,
        document_expiry=today + dt.timedelta(days=3650),
        chip_auth=chip_auth,
    )


test_person.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _world_keys(netcert_alg: str) -> IssuerKeys:
    return IssuerKeys(
        netcert=IssuerKey(
            f"issuer-{netcert_alg}-1", "netcert", fixed_key(netcert_alg, f"issuer-{netcert_alg}")
        ),
        rp_certificate=IssuerKey(
            "issuer-rp-1", "rp_certificate", fixed_key("EdDSA", f"issuer-{netcert_alg}-rp")
        ),
        status_list=IssuerKey(
            "issuer-status-1", "status_list", fixed_key("EdDSA", f"issuer-{netcert_alg}-status")
        ),
    )


@dataclass
class TestWorld:
    """An issuer, one registered RP and a wallet holding netcerts for :attr:`person` (TEST ONLY).

    Build it with :meth:`create`. The RP's :attr:`verifier` fetches status lists from the world's
    issuer (recorded in :attr:`fetched_status`); :attr:`status` is that list, which a test may change to
    revoke a credential.
    """

    __test__ = False  # not a pytest test class

    profile: IssuerProfile
    person: IdentityAttributes
    rp_key: SigningKey
    rp_cert: str
    status: StatusList
    wallet: Wallet
    clock: TestClock
    rng: DetRng
    policy: Policy = DEFAULT_POLICY
    sector: str = "shop.example"
    #: status list URIs the verifier fetched, in order
    fetched_status: list[str] = field(default_factory=list)
    #: status indices handed out so far (the issuer's record; batch indices are drawn at random)
    used_indices: set[int] = field(default_factory=set)
    trust: IssuerTrust = field(init=False)
    replay: InMemoryReplayCache = field(init=False)
    verifier: Verifier = field(init=False)

    def __post_init__(self) -> None:
        self.trust = IssuerTrust(self.jwks, issuer=self.profile.issuer)
        self.replay = InMemoryReplayCache(self.clock)
        self.verifier = Verifier(
            self.trust,
            status=CachedStatusLists(
                self._fetch_status_late, self.trust, clock=self.clock, policy=self.policy
            ),
            replay_cache=self.replay,
            clock=self.clock,
            policy=self.policy,
        )

    @classmethod
    def create(
        cls,
        *,
        person: IdentityAttributes | None = None,
        age: int | None = None,
        netcert_alg: str = "EdDSA",
        scopes: Sequence[str] = ALL_SCOPES,
        purposes: Sequence[str] = ("age check", "sign in"),
        credentials: int = 2,
        now: int = NOW,
        seed: str = "world",
        policy: Policy = DEFAULT_POLICY,
    ) -> TestWorld:
        """A world whose wallet holds ``credentials`` anonymous netcerts for ``person`` (or a test person
        of ``age``; 36 by default) and an RP allowed ``scopes`` and ``purposes``."""
        if person is not None and age is not None:
            raise UsageError("give person or age, not both")
        person = person or test_person(age=36 if age is None else age)
        profile = IssuerProfile(ISSUER, _world_keys(netcert_alg))
        rp_key = fixed_key("ES256", "rp-shop")
        rp_cert = issue_rp_certificate(
            profile,
            RpRegistration(
                rp_id="shop.example",
                name="Example Shop",
                sector="shop.example",
                allowed_predicates=tuple(scopes),
                purposes=tuple(purposes),
                response_uris=(RESPONSE_URI,),
                request_jwk=public_jwk(rp_key),
            ),
            now=now - 1000,
        )
        trust = IssuerTrust(profile.keys.jwks(), issuer=ISSUER)
        wallet = Wallet(SoftwareKeyStore(), trust, rp_status="offline", policy=policy)
        world = cls(
            profile=profile,
            person=person,
            rp_key=rp_key,
            rp_cert=rp_cert,
            status=StatusList(2, RECOMMENDED_MIN_LIST_SIZE),  # large: indices are drawn at random from it
            wallet=wallet,
            clock=TestClock(now),
            rng=DetRng(seed),
            policy=policy,
        )
        if credentials:
            world.mint(credentials)
        return world

    # --- the issuer -------------------------------------------------------------------------------

    @property
    def jwks(self) -> dict[str, Any]:
        """The issuer's published JWKS."""
        return self.profile.keys.jwks()

    @property
    def netcert_key(self) -> IssuerKey:
        return self.profile.keys.netcert

    def fetch_status(self, uri: str) -> str:
        """What the issuer serves at a status list URI: a freshly signed token of :attr:`status`."""
        self.fetched_status.append(uri)
        if uri != STATUS_URI:
            raise UsageError(f"the test issuer serves no status list at {uri}")
        now = self.clock()
        return status_list_token(
            self.status, self.profile.keys.status_list, sub=STATUS_URI, iat=now, exp=now + 3600
        )

    def _fetch_status_late(self, uri: str) -> str:
        # looked up at call time, so a test can replace ``fetch_status`` on the instance
        return self.fetch_status(uri)

    def indices(self, count: int, first_index: int | None = None) -> list[int]:
        """Status indices for a batch: uniformly random unused ones, or — for tests that need a known
        index — ``first_index``, ``first_index + 1``, …"""
        if first_index is None:
            out = allocate_indices(len(self.status), self.used_indices, count, self.rng)
        else:
            out = list(range(first_index, first_index + count))
        self.used_indices.update(out)
        return out

    def mint_for(
        self,
        holder_jwks: Sequence[dict[str, Any]],
        *,
        kind: Literal["anonymous", "rp"] = "anonymous",
        first_index: int | None = None,
        include_netno: bool = False,
        attrs: IdentityAttributes | None = None,
        sector: str | None = None,
        now: int | None = None,
    ) -> list[str]:
        """Netcerts bound to ``holder_jwks`` (one each), as the issuer mints them; not stored anywhere."""
        scope = None
        if kind == "rp":
            scope = RpScope(sector or self.sector, NETNO, PAIRWISE_KEY, include_netno=include_netno)
        elif include_netno or sector is not None:
            raise UsageError("an anonymous batch has no sector and no netno")
        return mint_netcert_batch(
            attrs or self.person,
            profile=self.profile,
            holder_jwks=holder_jwks,
            status=[(STATUS_URI, i) for i in self.indices(len(holder_jwks), first_index)],
            now=(now if now is not None else self.clock() - 86_400),
            rng=self.rng,
            scope=scope,
        )

    def mint(
        self,
        count: int = 2,
        *,
        kind: Literal["anonymous", "rp"] = "anonymous",
        first_index: int | None = None,
        include_netno: bool = False,
        attrs: IdentityAttributes | None = None,
        sector: str | None = None,
        holder_alg: str = "ES256",
    ) -> list[str]:
        """Mint ``count`` netcerts for the wallet's fresh device keys and store them in the wallet."""
        creds = self.mint_for(
            self.wallet.new_holder_keys(count, holder_alg),
            kind=kind,
            first_index=first_index,
            include_netno=include_netno,
            attrs=attrs,
            sector=sector,
        )
        self.wallet.add_credentials(creds)
        return creds

    # --- the relying party and the holder --------------------------------------------------------

    def request(self, query: Query, *, response_uri: str = RESPONSE_URI, **kw: Any) -> PresentationRequest:
        """The RP's signed request for ``query`` (answered at ``response_uri``)."""
        return build_request(
            query,
            rp_key=self.rp_key,
            rp_certificate=self.rp_cert,
            response_uri=response_uri,
            now=self.clock(),
            rng=self.rng,
            **kw,
        )

    def present(self, request: PresentationRequest, amr: AuthMode = "pin") -> dict[str, list[str]]:
        """The wallet's ``vp_token`` for ``request`` (the holder consents)."""
        response = self.wallet.present(request.to_uri(), now=self.clock(), consent=lambda p: True, amr=amr)
        return dict(response.vp_token)
