"""``make demo``: the whole NetID journey in one process, on embedded defaults.

1. A person reads their (simulated) ID card: PACE, secure messaging, passive and active authentication.
2. The issuer — here in process, with a DEMO key generated for this run only — mints the person's network
   number and a batch of single-use network certificates bound to keys on the person's device.
3. An app (the relying party "Example Shop") registers and asks yes/no questions: over 18? is the name
   the customer typed their real name? The wallet checks the request, asks consent, discloses the minimum.
4. The app verifies the answer itself and learns booleans and a pairwise subject — never the ID number.

Everything that crossed the wire is written to ``demo-out/`` for inspection, and the demo checks that none
of it holds the personal number, its birth date or the full name the app did not already know.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from netid.card.icao.verify_document import VerifiedDocument, verify_document
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.cli.card import read_with_progress, render_verification
from netid.credentials.jose import generate_signing_key, public_jwk
from netid.credentials.netno import format_netno, generate_netno
from netid.credentials.status_list import StatusList
from netid.errors import NetIDError
from netid.issuance import (
    RECOMMENDED_MIN_LIST_SIZE,
    IdentityAttributes,
    IssuerKeys,
    IssuerProfile,
    RpRegistration,
    RpScope,
    allocate_indices,
    issue_rp_certificate,
    mint_netcert_batch,
    status_list_token,
)
from netid.testing.cards import make_card
from netid.testing.leaks import find_values, personal_value_forms
from netid.verifier import (
    Answers,
    CachedStatusLists,
    InMemoryReplayCache,
    IssuerTrust,
    PresentationRequest,
    Query,
    Verifier,
    build_request,
)
from netid.wallet import OFFLINE, SoftwareKeyStore, Wallet
from netid.wallet.consent import ConsentPrompt

ISSUER = "https://issuer.netid.example"
STATUS_URI = f"{ISSUER}/status/1"
SHOP = "shop.example"
SHOP_RESPONSE_URI = f"https://{SHOP}/netid/response"
BATCH = 4


@dataclasses.dataclass
class DemoIssuer:
    """The issuer's role, in process. Its signing keys are generated per run and marked DEMO in their kids."""

    now: int
    profile: IssuerProfile = dataclasses.field(
        default_factory=lambda: IssuerProfile(ISSUER, IssuerKeys.generate(kid_prefix="demo-DO-NOT-TRUST"))
    )
    pairwise_key: bytes = dataclasses.field(default_factory=lambda: os.urandom(32))
    # a large list with random indices per credential: consecutive indices would let two RPs link a batch
    status: StatusList = dataclasses.field(default_factory=lambda: StatusList(2, RECOMMENDED_MIN_LIST_SIZE))
    used_indices: set[int] = dataclasses.field(default_factory=set)

    @property
    def jwks(self) -> dict[str, Any]:
        return self.profile.keys.jwks()

    def status_token(self, uri: str) -> str:
        key = self.profile.keys.status_list
        return status_list_token(self.status, key, sub=uri, iat=self.now, exp=self.now + 3600)

    def mint(
        self, verified: VerifiedDocument, holder_jwks: list[dict[str, Any]], scope: RpScope | None = None
    ) -> list[str]:
        doc = verified.document
        if doc.personal_number is None:
            raise NetIDError("the card carries no personal number (DG11)")
        attrs = IdentityAttributes(
            full_name=doc.full_name,
            personal_number=doc.personal_number,
            date_of_birth=doc.date_of_birth,
            document_expiry=doc.date_of_expiry,
            chip_auth=verified.chip_auth,
        )
        indices = allocate_indices(len(self.status), self.used_indices, len(holder_jwks), secrets.token_bytes)
        self.used_indices.update(indices)
        return mint_netcert_batch(
            attrs,
            profile=self.profile,
            holder_jwks=holder_jwks,
            status=[(STATUS_URI, i) for i in indices],
            now=self.now,
            rng=secrets.token_bytes,
            scope=scope,
        )


def _personal_values(verified: VerifiedDocument) -> dict[str, str]:
    """What must never reach the RP, in the forms it could appear in."""
    doc = verified.document
    return personal_value_forms(
        personal_number=doc.personal_number, date_of_birth=doc.date_of_birth, full_name=doc.full_name
    )


def _ask(
    console: Console,
    wallet: Wallet,
    verifier: Verifier,
    request: PresentationRequest,
    *,
    now: int,
    transcript: list[str],
) -> Answers:
    uri = request.to_uri()
    transcript.append(uri)

    def consent(prompt: ConsentPrompt) -> bool:
        console.print(
            Panel(prompt.text("zh") + "\n\n" + prompt.text("en"), title="wallet asks", expand=False)
        )
        return True

    response = wallet.present(uri, now=now, consent=consent, amr="pin")
    form = response.form()
    transcript.append(json.dumps(form, ensure_ascii=False))
    answers = verifier.verify(form["vp_token"], request)
    transcript.append(repr(answers))
    for name, value in answers.predicates.items():
        mark = "[bold green]yes[/]" if value else "[bold red]no[/]"
        console.print(f"  {name:<22} {mark}")
    if answers.subject:
        console.print(f"  {'pairwise subject':<22} {answers.subject}")
    console.print(
        f"  {'assurance':<22} {answers.assurance.level} (chip {answers.assurance.chip_auth}, "
        f"mode {answers.assurance.mode})"
    )
    return answers


def run_demo(console: Console, *, out_dir: str = "demo-out", seed: int = 7) -> dict[str, Any]:
    """Run the journey; return a summary (used by the tests). Raises NetIDError if any step fails."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = int(time.time())

    console.rule("1. Read the ID card (simulated chip, test card)")
    card = make_card(seed)
    reader = SimulatorReader(SimulatedCard(card.image))
    challenge = os.urandom(8)
    readout = read_with_progress(console, reader, card.access_key, aa_challenge=challenge)
    verified_box: list[VerifiedDocument] = []

    def verify() -> VerifiedDocument:
        verified_box.append(verify_document(readout, card.trust_store, challenge=challenge))
        return verified_box[0]

    if not render_verification(console, readout, verify):
        raise NetIDError("the card did not verify")
    verified = verified_box[0]

    console.rule("2. Issuer: network number and a batch of network certificates")
    issuer = DemoIssuer(now=now)
    netno = generate_netno()
    trust = IssuerTrust(issuer.jwks, issuer=ISSUER)
    # the demo's wallet has no network of its own: it skips the RP-revocation check, and says so
    wallet = Wallet(SoftwareKeyStore(), trust, rp_status=OFFLINE)
    wallet.add_credentials(issuer.mint(verified, wallet.new_holder_keys(BATCH)))
    wallet.add_credentials(
        issuer.mint(verified, wallet.new_holder_keys(2), RpScope(SHOP, netno, issuer.pairwise_key))
    )
    console.print(
        f"  network number         {format_netno(netno)} (random; the issuer maps it to a keyed hash)"
    )
    console.print(
        f"  netcerts               {BATCH} anonymous + 2 scoped to {SHOP}, single use, device-bound"
    )
    console.print(f"  issuer keys            {issuer.profile.keys.netcert.kid} … (generated for this run)")

    console.rule(f"3. {SHOP} asks yes/no questions")
    rp_key = generate_signing_key("ES256")
    registration = RpRegistration(
        rp_id=SHOP,
        name="Example Shop 示例商店",
        sector=SHOP,
        allowed_predicates=["age_over", "name_equals", "subject"],
        purposes=["age check", "account sign-in"],
        response_uris=[SHOP_RESPONSE_URI],
        request_jwk=public_jwk(rp_key),
    )
    rp_certificate = issue_rp_certificate(issuer.profile, registration, now=now)
    verifier = Verifier(
        trust,
        status=CachedStatusLists(issuer.status_token, trust, clock=lambda: now),
        replay_cache=InMemoryReplayCache(lambda: now),
        clock=lambda: now,
    )
    typed_name = verified.document.full_name  # what the customer typed into the shop's form
    questions = [
        (
            "over 18, and is the typed name real?",
            Query(purpose="age check", age_over=18, name_equals=typed_name),
        ),
        ("someone else's name", Query(purpose="age check", name_equals="李四")),
        ("sign in (pairwise subject)", Query(purpose="account sign-in", want_subject=True, age_over=18)),
    ]
    results: list[Answers] = []
    requests: list[PresentationRequest] = []
    exchanges: list[tuple[Query, list[str]]] = []  # what the shop saw, per question
    for title, query in questions:
        console.print(f"\n[bold]{SHOP} asks:[/] {title}")
        request = build_request(
            query, rp_key=rp_key, rp_certificate=rp_certificate, response_uri=SHOP_RESPONSE_URI, now=now
        )
        requests.append(request)
        transcript: list[str] = []
        results.append(_ask(console, wallet, verifier, request, now=now, transcript=transcript))
        exchanges.append((query, transcript))

    console.rule("4. What the app received")
    status_token = issuer.status_token(STATUS_URI)
    personal = _personal_values(verified)
    # per exchange: the only personal value allowed is one the shop supplied itself to compare
    leaks = set(find_values([rp_certificate, status_token], personal))
    for query, seen in exchanges:
        supplied = {query.name_equals, query.id_number_equals} - {None}
        leaks |= set(find_values(seen, {k: v for k, v in personal.items() if v not in supplied}))
    if leaks:
        raise NetIDError(f"privacy check failed: {', '.join(sorted(leaks))} reached the app")
    console.print(
        f"  decoded and scanned every request, presentation, status list and answer the app saw for "
        f"{len(personal)} forms of the personal number, birth date and name: [bold green]none found[/]"
    )
    console.print("  (the name appears only in the exchange where the shop typed it and asked to compare)")

    files = {
        "rp-certificate.jwt": rp_certificate,
        "request.jwt": requests[0].request_object,
        "request-uri.txt": requests[0].to_uri(),
        "presentation.json": exchanges[0][1][1],
        "issuer-jwks.json": json.dumps(issuer.jwks, indent=2),
        "status-list.jwt": status_token,
        "answers.json": json.dumps(
            [
                {
                    "predicates": dict(a.predicates),
                    "subject": a.subject,
                    "assurance": dataclasses.asdict(a.assurance),
                    "kind": a.credential_kind,
                }
                for a in results
            ],
            indent=2,
            ensure_ascii=False,
        ),
    }
    for name, content in files.items():
        (out / name).write_text(content + "\n", encoding="utf-8")
    console.print(f"  wrote {', '.join(files)} to {out}/")
    return {"answers": results, "out": out, "leaks": sorted(leaks), "netno": netno}
