"""``make demo``: the whole NetID journey over HTTP, between real servers on 127.0.0.1.

1. **Servers.** The issuer service (``python -m issuer_service serve``: SQLite, an encrypted key file, the
   TEST CSCA as its only trust anchor, JSON logs) and the example shop (``python -m relying_party_example
   serve``) start as separate processes on free loopback ports. The shop registers with the issuer the way
   an app does (``python -m relying_party_example register``: its keys, then ``POST /admin/rps``).
2. **Enrollment.** A simulated person's ID card is read by the wallet (PACE, secure messaging, the chip
   signs the issuer's challenge), sealed to the issuer, checked there (passive and active authentication),
   and a batch of network certificates comes back over OpenID4VCI into a PIN-protected wallet file.
3. **The shop asks**, through its web pages, as a customer's browser would: sign in (a pairwise subject),
   the wine cellar's age gate (over 18), a name typed for the parcel that is not the customer's (no), then
   the customer's real name (yes). Each time the browser reads the request link off the page, the wallet
   fetches the signed request, shows the consent prompt, and posts its answer encrypted to the shop
   (``direct_post.jwt``); the page sees the answer and moves on (:func:`netid.wallet.http.present_uri`).
4. **What the shop received** — every request it got from the browser and the wallet, the answers
   decrypted with its own key, its database and its log — is scanned for the personal number, the birth
   date and the name (:mod:`netid.testing.leaks`), with positive controls that show the scan sees them
   where they really are. The issuer's database and log are scanned for the personal number.
5. Everything that crossed the wire goes to ``demo-out/`` (the signed request object, the presentation the
   shop received, the issuer's JWKS and status list, the shop's answers, a log of every HTTP exchange),
   next to the issuer's and the shop's databases and JSON logs. Then both servers stop.

``python -m netid.demo --serve`` (``make serve``) starts the servers and an enrolled wallet and leaves them
running, for a person to click through the shop with ``netid present`` as the wallet.

The issuer's keys, admin token and the shop's session secret are made for each run and are worthless
afterwards; every card is a TEST card.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from netid.card.icao.read_document import ReadProgress
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.credentials.jose import decode_jws_unverified
from netid.credentials.sdjwt.codec import split_sd_jwt
from netid.errors import NetIDError
from netid.oid4vp.response import decrypt_response, encryption_jwk
from netid.testing.cards import TestCard, make_card, make_pki
from netid.testing.leaks import find_values, personal_value_forms
from netid.wallet.consent import ConsentPrompt
from netid.wallet.http import PresentationOutcome, present_uri
from netid.wallet.session import WalletSession

__all__ = ["DemoError", "DemoStack", "main", "run_demo", "serve"]

SHOP_RP_ID: Final = "shop.example"
#: the modules the demo runs as servers, and the extras that bring them
_NEEDS: Final = {
    "fastapi": "issuer,example",
    "uvicorn": "issuer,example",
    "sqlalchemy": "issuer",
    "alembic": "issuer",
    "pydantic_settings": "issuer",
    "jinja2": "example",
    "segno": "example",
    "multipart": "example",
    "issuer_service": "issuer",
    "relying_party_example": "example",
}
_READY_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 15.0
_ANSWER_TIMEOUT: Final = 15.0
#: what the run writes at the top of the output folder (cleared at the start of each run)
_WIRE_FILES: Final = (
    "request.jwt",
    "request-uri.txt",
    "presentation.json",
    "rp-certificate.jwt",
    "issuer-jwks.json",
    "status-list.jwt",
    "answers.json",
    "wire.jsonl",
)
_RUN_FOLDERS: Final = ("issuer", "shop", "wallet")


class DemoError(NetIDError):
    """The demo could not run, or one of its checks failed (the message says which)."""


def _missing_modules() -> list[str]:
    import importlib.util  # noqa: PLC0415

    return [name for name in _NEEDS if importlib.util.find_spec(name) is None]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _preferred_port(port: int) -> int:
    return port if not port_open(port) and _bindable(port) else free_port()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --- the servers --------------------------------------------------------------------------------------------


@dataclass
class Service:
    """A server the demo started: ``python -m <module> …`` with its output in ``output``."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int:
        """SIGTERM (a graceful shutdown, exit code 0), then SIGKILL after a while; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=_STOP_TIMEOUT)
        return int(self.process.returncode)


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any NETID_ISSUER_* / NETID_SHOP_* of the user's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETID_ISSUER_", "NETID_SHOP_"))}
    return env | dict(extra)


def _spawn(module_args: Sequence[str], *, env: Mapping[str, str], output: Path) -> subprocess.Popen[bytes]:
    # output to a file, never a pipe nobody reads (a full pipe blocks the server); a session of its own so
    # the terminal's Ctrl-C reaches the demo, which stops its servers itself
    with open(output, "wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            [sys.executable, "-m", *module_args],
            env=_clean_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_ready(service: Service, path: str, http: httpx.Client) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise DemoError(f"the {service.name} exited with {service.process.returncode}:\n{service.tail()}")
        with contextlib.suppress(httpx.TransportError):
            if http.get(f"{service.url}{path}", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise DemoError(
        f"the {service.name} did not answer {path} within {_READY_TIMEOUT:.0f} s:\n{service.tail()}"
    )


# --- what crossed the wire ----------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP exchange the browser or the wallet had (bodies as text)."""

    who: str
    method: str
    url: str
    status: int
    request_body: str
    response_type: str
    response_body: str

    def to_json(self) -> dict[str, Any]:
        return {
            "who": self.who,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "request_body": self.request_body,
            "response_type": self.response_type,
            "response_body": self.response_body,
        }


@dataclass
class Wire:
    """Records every exchange of the clients made by :meth:`client`."""

    exchanges: list[Exchange] = field(default_factory=list)

    def client(self, who: str, **options: Any) -> httpx.Client:
        def record(response: httpx.Response) -> None:
            response.read()
            request = response.request
            self.exchanges.append(
                Exchange(
                    who=who,
                    method=request.method,
                    url=str(request.url),
                    status=response.status_code,
                    request_body=request.content.decode("utf-8", "replace"),
                    response_type=response.headers.get("content-type", ""),
                    response_body=response.text,
                )
            )

        return httpx.Client(timeout=30, event_hooks={"response": [record]}, **options)

    def to_shop(self, shop_url: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.url.startswith(shop_url + "/")]


def _sqlite_dump(path: Path) -> list[str]:
    """Every value of every row of every table of a SQLite file (bytes as hex, base64 and latin-1)."""
    out: list[str] = []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite_master
                for value in row:
                    if isinstance(value, bytes):
                        out += [value.hex(), base64.b64encode(value).decode(), value.decode("latin-1")]
                    elif value is not None:
                        out.append(str(value))
    return out


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


# --- the stack ----------------------------------------------------------------------------------------------


@dataclass
class DemoStack:
    """The issuer and the shop as servers on 127.0.0.1, the shop registered, and the folders they use.

    Use :meth:`start` as a context manager: both servers are stopped when it exits, whatever happened."""

    out: Path
    issuer: Service
    shop: Service
    admin_token: str = field(repr=False)
    exit_codes: dict[str, int] = field(default_factory=dict)

    @property
    def issuer_dir(self) -> Path:
        return self.out / "issuer"

    @property
    def shop_dir(self) -> Path:
        return self.out / "shop"

    @property
    def rp_file(self) -> Path:
        return self.shop_dir / "shop-rp.json"

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        console: Console,
        out: Path,
        *,
        issuer_port: int | None = None,
        shop_port: int | None = None,
    ) -> Iterator[DemoStack]:
        """Start the issuer, register the shop, start the shop; stop both on exit."""
        missing = _missing_modules()
        if missing:
            extras = sorted({x for name in missing for x in _NEEDS[name].split(",")})
            raise DemoError(
                f"the demo runs the issuer service and the example shop, which need more packages "
                f"({', '.join(missing)} missing): pip install 'netid[cli,{','.join(extras)}]'"
            )
        issuer_dir, shop_dir = out / "issuer", out / "shop"
        for folder in (issuer_dir / "csca", shop_dir):
            folder.mkdir(parents=True, exist_ok=True)
        (issuer_dir / "csca" / "test-csca.pem").write_bytes(
            make_pki(0).csca_certificate.public_bytes(Encoding.PEM)  # the TEST cards' CSCA
        )
        admin_token = secrets.token_urlsafe(24)
        issuer_port = issuer_port or free_port()
        shop_port = shop_port or free_port()
        issuer_url = f"http://127.0.0.1:{issuer_port}"
        shop_url = f"http://127.0.0.1:{shop_port}"
        services: list[Service] = []
        exit_codes: dict[str, int] = {}
        try:
            with httpx.Client() as http:
                started = time.perf_counter()
                env = {
                    "NETID_ISSUER_ISSUER_URL": issuer_url,
                    "NETID_ISSUER_HOST": "127.0.0.1",
                    "NETID_ISSUER_PORT": str(issuer_port),
                    "NETID_ISSUER_DEV_MODE": "true",  # http:// on loopback
                    "NETID_ISSUER_DATABASE_URL": f"sqlite:///{(issuer_dir / 'issuer.db').resolve()}",
                    "NETID_ISSUER_MIGRATE_ON_START": "true",
                    "NETID_ISSUER_KEYSTORE_PATH": str((issuer_dir / "issuer-keys.json").resolve()),
                    "NETID_ISSUER_KEYSTORE_PASSPHRASE": secrets.token_urlsafe(24),
                    "NETID_ISSUER_CSCA_PATH": str((issuer_dir / "csca").resolve()),
                    "NETID_ISSUER_ADMIN_TOKENS": json.dumps(
                        {"demo": hashlib.sha256(admin_token.encode()).hexdigest()}
                    ),
                    "NETID_ISSUER_LOG_FILE": str((issuer_dir / "issuer.log").resolve()),
                }
                output = issuer_dir / "issuer.out"
                process = _spawn(["issuer_service", "serve"], env=env, output=output)
                issuer = Service("issuer", issuer_url, issuer_port, process, output)
                services.append(issuer)
                _wait_ready(issuer, "/readyz", http)
                console.print(
                    f"  issuer  {issuer_url}  (pid {issuer.pid}; SQLite {issuer_dir / 'issuer.db'}; "
                    f"ready in {time.perf_counter() - started:.1f} s)"
                )

                started = time.perf_counter()
                rp_file = shop_dir / "shop-rp.json"
                registration = subprocess.run(  # noqa: S603 - our own interpreter and module
                    [sys.executable, "-m", "relying_party_example", "register", "--issuer", issuer_url,
                     "--base-url", shop_url, "--out", str(rp_file), "--rp-id", SHOP_RP_ID],
                    env=_clean_env({"NETID_ISSUER_ADMIN_TOKEN": admin_token}),
                    capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
                )  # fmt: skip
                if registration.returncode != 0:
                    raise DemoError(f"registering the shop failed:\n{registration.stderr.strip()}")
                console.print(
                    f"  shop registered with the issuer: its keys and RP access certificate in {rp_file} "
                    f"({time.perf_counter() - started:.1f} s)"
                )

                started = time.perf_counter()
                env = {
                    "NETID_SHOP_RP_FILE": str(rp_file.resolve()),
                    "NETID_SHOP_PORT": str(shop_port),
                    "NETID_SHOP_DATABASE_URL": f"sqlite:///{(shop_dir / 'shop.db').resolve()}",
                    "NETID_SHOP_SESSION_SECRET": secrets.token_urlsafe(32),
                    "NETID_SHOP_LOG_FILE": str((shop_dir / "shop.log").resolve()),
                }
                output = shop_dir / "shop.out"
                process = _spawn(["relying_party_example", "serve"], env=env, output=output)
                shop = Service("shop", shop_url, shop_port, process, output)
                services.append(shop)
                _wait_ready(shop, "/healthz", http)
                console.print(
                    f"  shop    {shop_url}  (pid {shop.pid}; transactions in {shop_dir / 'shop.db'}; "
                    f"ready in {time.perf_counter() - started:.1f} s)"
                )
            yield cls(out, issuer, shop, admin_token, exit_codes)
        finally:
            exit_codes.update({s.name: s.stop() for s in reversed(services)})
            if services:
                console.print(
                    "  stopped "
                    + ", ".join(f"the {name} (exit code {code})" for name, code in exit_codes.items())
                )

    def shop_registration(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.rp_file.read_text(encoding="utf-8"))
        return data

    def shop_encryption_key(self) -> ec.EllipticCurvePrivateKey:
        """The shop's response-decryption key, from its registration file: to read what it received."""
        pem = self.shop_registration()["encryption_key"].encode("ascii")
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DemoError("the shop's encryption key is not an EC key")
        return key


# --- the wallet ---------------------------------------------------------------------------------------------


def _enroll(
    console: Console, stack: DemoStack, card: TestCard, wallet_dir: Path, http: httpx.Client
) -> tuple[WalletSession, str]:
    """A new wallet file with a PIN, enrolled with the issuer by reading ``card`` in a simulated reader."""
    wallet_dir.mkdir(parents=True, exist_ok=True)
    pin = f"{secrets.randbelow(10**6):06d}"
    (wallet_dir / "pin.txt").write_text(pin + "\n", encoding="utf-8")
    session, recovery_code = WalletSession.create(wallet_dir / "wallet.json", pin)
    (wallet_dir / "recovery-code.txt").write_text(recovery_code + "\n", encoding="utf-8")
    steps = {
        "start": "the issuer's one-time challenge",
        "read": "reading the ID card chip",
        "complete": "evidence sealed to the issuer: passive + active authentication",
        "token": "enrollment granted: network number minted",
        "credentials": "fetching the batch over OpenID4VCI",
        "done": "stored in the wallet",
    }
    reader = SimulatorReader(SimulatedCard(card.image))
    with Progress(
        TextColumn("  {task.description:<16}"), BarColumn(), TextColumn("{task.fields[what]}"),
        console=console, transient=False,
    ) as progress:  # fmt: skip
        files: dict[str, TaskID] = {}
        overall = progress.add_task("enrollment", total=len(steps), what="")

        def on_step(step: str) -> None:
            progress.update(overall, advance=1, what=steps.get(step, step))

        def on_read(event: ReadProgress) -> None:
            if event.file is None:
                return
            if event.file not in files:
                files[event.file] = progress.add_task(escape(event.file), total=event.total, what="")
            progress.update(
                files[event.file], completed=event.done, total=event.total, what=f"{event.total} B"
            )

        session.enroll(
            reader, card.access_key, stack.issuer.url, http=http, batch_size=10, progress=on_step,
            read_progress=on_read,
        )  # fmt: skip
    summary = session.summary()["issuers"][0]
    console.print(
        f"  network number        {summary['netno']} (random; the issuer keeps only a keyed hash of the "
        f"ID number)"
    )
    console.print(
        f"  network certificates  {summary['unused']['anonymous']} single-use, bound to keys in the wallet "
        f"file {wallet_dir / 'wallet.json'} (PIN in {wallet_dir / 'pin.txt'})"
    )
    return session, pin


def _consent(console: Console) -> Callable[[ConsentPrompt], bool]:
    def consent(prompt: ConsentPrompt) -> bool:
        console.print(
            Panel(prompt.text("zh") + "\n\n" + prompt.text("en"), title="the wallet asks", expand=False)
        )
        return True

    return consent


# --- the customer's browser at the shop ---------------------------------------------------------------------


_REQUEST_URI_RE: Final = re.compile(r'id="qr" data-request-uri="([^"]+)"')


@dataclass
class Check:
    """One check the shop made, as the browser and the wallet saw it."""

    name: str
    request_uri: str
    landing: str
    landing_status: int
    session: dict[str, Any]
    outcome: PresentationOutcome
    seconds: float


def _check(
    console: Console,
    browser: httpx.Client,
    wallet: WalletSession,
    wallet_http: httpx.Client,
    *,
    name: str,
    start: str,
    form: Mapping[str, str] | None = None,
) -> Check:
    """Press the button at ``start`` in the browser, answer the request on the page with the wallet, wait
    for the page to see the answer, and follow it to where the shop leads."""
    began = time.perf_counter()
    pressed = browser.post(start, data=dict(form) if form else None)
    if pressed.status_code != 303 or pressed.headers.get("location") != "/check":
        raise DemoError(f"the shop did not start the check at {start}: HTTP {pressed.status_code}")
    page = browser.get("/check")
    found = _REQUEST_URI_RE.search(page.text)
    if page.status_code != 200 or not found:
        raise DemoError(f"the shop's check page shows no request (HTTP {page.status_code})")
    request_uri = html.unescape(found[1])
    console.print(f"  the page shows a QR code and a link: [dim]{escape(request_uri[:96])}…[/]")
    outcome = present_uri(
        wallet, request_uri, http=wallet_http, consent=_consent(console), mode="pin", allow_loopback_http=True
    )
    disclosed = ", ".join(sorted(outcome.disclosed)) or "nothing"
    console.print(
        f"  the wallet posted its answer ({outcome.response_mode}); it disclosed: {disclosed}"
        + (
            f"; fetched {outcome.rp_credentials} credentials for this shop first"
            if outcome.rp_credentials
            else ""
        )
    )
    deadline = time.monotonic() + _ANSWER_TIMEOUT
    while browser.get("/check/status").json().get("status") in ("pending", "fetched"):  # what check.js does
        if time.monotonic() > deadline:
            raise DemoError("the shop's page never saw the wallet's answer")
        time.sleep(0.05)
    done = browser.get("/check/done")
    landing = done.headers.get("location", "/check/done")
    final = browser.get(landing) if done.status_code == 303 else done
    session: dict[str, Any] = browser.get("/api/session").json()
    return Check(name, request_uri, landing, final.status_code, session, outcome, time.perf_counter() - began)


def _show_answers(console: Console, check: Check, keys: Sequence[str]) -> None:
    for key in keys:
        value = check.session["answers"].get(key) if key != "subject" else check.session.get("subject")
        if isinstance(value, bool):
            shown = "[bold green]yes[/]" if value else "[bold red]no[/]"
        else:
            shown = escape(str(value))
        console.print(f"  the shop learned  {key:<14} {shown}")
    console.print(
        f"  the browser is now at {check.landing} (HTTP {check.landing_status}); "
        f"{check.seconds * 1000:.0f} ms"
    )


# --- the run ------------------------------------------------------------------------------------------------


def _prepare(out: Path) -> None:
    """Clear what an earlier run left (only the demo's own files and folders)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in _RUN_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)
    for name in _WIRE_FILES:
        (out / name).unlink(missing_ok=True)


def _received(stack: DemoStack, wire: Wire) -> tuple[list[str], list[dict[str, Any]]]:
    """What the shop received over HTTP (URLs and bodies), and the wallet's answers as the shop decrypted
    them with its own key."""
    key = stack.shop_encryption_key()
    kid = encryption_jwk(key)["kid"]
    texts: list[str] = []
    decrypted: list[dict[str, Any]] = []
    for exchange in wire.to_shop(stack.shop.url):
        texts += [exchange.url, exchange.request_body]
        if exchange.method == "POST" and "/netid/response/" in exchange.url:
            form = dict(httpx.QueryParams(exchange.request_body))
            if "response" in form:
                payload = decrypt_response(form["response"], key, kid=kid, max_bytes=1024 * 1024)
                decrypted.append(payload)
                texts.append(json.dumps(payload, ensure_ascii=False))
    return texts, decrypted


def _stored(stack: DemoStack) -> list[str]:
    """What the shop keeps: its database, its log."""
    database = stack.shop_dir / "shop.db"
    return [*(_sqlite_dump(database) if database.exists() else []), _text(stack.shop_dir / "shop.log")]


def _write(out: Path, files: Mapping[str, str]) -> None:
    for name, content in files.items():
        (out / name).write_text(content if content.endswith("\n") else content + "\n", encoding="utf-8")


def run_demo(console: Console, *, out_dir: str = "demo-out", seed: int = 7) -> dict[str, Any]:
    """Run the journey (see the module docstring); return a summary for the tests. :class:`DemoError` if a
    step or a check fails; the servers are stopped either way."""
    out = Path(out_dir)
    _prepare(out)
    began = time.perf_counter()
    card = make_card(seed)
    person = card.person
    wire = Wire()
    checks: dict[str, Check] = {}
    summary: dict[str, Any] = {"out": out}

    console.rule("1. The issuer and the shop start as servers on 127.0.0.1")
    with DemoStack.start(console, out) as stack:
        summary["pids"] = [stack.issuer.pid, stack.shop.pid]
        summary["ports"] = [stack.issuer.port, stack.shop.port]
        summary["services"] = stack.exit_codes
        with (
            wire.client("wallet") as wallet_http,
            wire.client("browser", base_url=stack.shop.url, follow_redirects=False) as browser,
        ):
            console.rule("2. A person enrolls: their ID card (simulated chip) → the issuer → their wallet")
            started = time.perf_counter()
            wallet, pin = _enroll(console, stack, card, out / "wallet", wallet_http)
            summary["wallet"] = {"file": out / "wallet" / "wallet.json", "pin": pin}
            console.print(f"  enrolled in {time.perf_counter() - started:.1f} s")
            try:
                home = browser.get("/")
                if home.status_code != 200:
                    raise DemoError(f"the shop's home page answered HTTP {home.status_code}")

                console.rule("3. Sign in with NetID (the browser shows a QR code; the wallet answers)")
                checks["sign_in"] = _check(
                    console, browser, wallet, wallet_http, name="sign in", start="/signin"
                )
                _show_answers(console, checks["sign_in"], ["subject", "doc_valid"])

                console.rule("4. The wine cellar: over 18?")
                checks["age"] = _check(console, browser, wallet, wallet_http, name="age gate", start="/age")
                _show_answers(console, checks["age"], ["age_over_18"])

                console.rule("5. A parcel for 李四: is that the customer's real name?")
                checks["wrong_name"] = _check(
                    console,
                    browser,
                    wallet,
                    wallet_http,
                    name="wrong name",
                    start="/name",
                    form={"name": "李四"},
                )
                _show_answers(console, checks["wrong_name"], ["name_equals"])
                # before the shop ever typed the real name: nothing it holds may contain it
                before_real_name = _received(stack, wire)[0] + _stored(stack)

                console.rule("6. The customer types their real name")
                checks["real_name"] = _check(
                    console, browser, wallet, wallet_http, name="real name", start="/name",
                    form={"name": person.full_name},
                )  # fmt: skip
                _show_answers(console, checks["real_name"], ["name_equals"])
                account = browser.get("/account")
                issuer_jwks = wallet_http.get(f"{stack.issuer.url}/jwks.json").text
                unused = [
                    r.credential.serialized for r in wallet.store.credentials if r.usable and r.credential
                ]
            finally:
                wallet.close()

            console.rule("7. What the shop received and stored")
            received, decrypted = _received(stack, wire)
            stored = _stored(stack)
            pages = [e.response_body for e in wire.to_shop(stack.shop.url) if e.who == "browser"]
            personal = personal_value_forms(
                personal_number=person.personal_number, date_of_birth=person.date_of_birth,
                full_name=person.full_name,
            )  # fmt: skip
            never = {label: value for label, value in personal.items() if label != "full name"}
            leaks = set(find_values([*received, *stored, *pages, account.text], never))
            leaks |= {
                f"{label} (before the shop typed it)" for label in find_values(before_real_name, personal)
            }
            number = {k: personal[k] for k in ("personal number", "personal number without check character")}
            issuer_kept = [
                *_sqlite_dump(stack.issuer_dir / "issuer.db"),
                _text(stack.issuer_dir / "issuer.log"),
            ]
            issuer_leaks = find_values(issuer_kept, number)
            # positive controls: the same scans find the values where they really are
            controls = {
                "the typed real name, in the shop's database": bool(
                    find_values(stored, {"full name": person.full_name})
                ),
                "the personal number, in a netcert the wallet holds": bool(
                    find_values(unused[:1], {"personal number": person.personal_number})
                ),
            }
            for label, seen in controls.items():
                if not seen:
                    raise DemoError(f"the leak scan is blind: it did not find {label}")
            scanned = len(received) + len(stored) + len(pages) + 1
            console.print(
                f"  scanned {scanned} texts the shop received, stored or served (decoded: URL encoding, "
                f"base64url, JWTs, SD-JWT disclosures, JSON; {len(decrypted)} answers decrypted with the "
                f"shop's key) for {len(personal)} forms of the ID number, birth date and name:"
            )
            if leaks:
                raise DemoError(f"privacy check failed: {', '.join(sorted(leaks))} reached the shop")
            console.print(
                "  [bold green]no ID number, no birth date[/]; the name only after the shop typed it itself"
                " and asked to compare"
            )
            if issuer_leaks:
                raise DemoError(f"the issuer keeps {', '.join(issuer_leaks)} in clear")
            console.print(
                "  the issuer's database and log: [bold green]no ID number in clear[/] (a keyed hash and "
                "encrypted attributes only)"
            )
            console.print(
                "  positive controls: the scan finds the typed name in the shop's database, and the ID "
                "number in an unused netcert in the wallet"
            )

            sign_in = checks["sign_in"]
            signin_object = next(
                e.response_body for e in wire.exchanges if e.who == "wallet" and "/netid/request/" in e.url
            )
            issuer_jwt = split_sd_jwt(_first_presentation(decrypted[0])).issuer_jwt
            status_uri = decode_jws_unverified(issuer_jwt)[1]["status"]["status_list"]["uri"]
            status_list = wallet_http.get(status_uri).text
            answers = {
                name: {"shop_session": c.session, "wallet_said": dict(c.outcome.answers)}
                for name, c in checks.items()
            }
            files = {
                "request.jwt": signin_object,
                "request-uri.txt": sign_in.request_uri,
                "presentation.json": json.dumps(
                    {
                        "note": "what the wallet posted to the shop's response URI (direct_post.jwt), "
                        "and what the shop read after decrypting it with its own key",
                        "posted": next(
                            e.request_body
                            for e in wire.exchanges
                            if e.method == "POST" and "/netid/response/" in e.url
                        ),
                        "received": decrypted[0],
                    },
                    indent=2,
                    ensure_ascii=False,
                ),
                "rp-certificate.jwt": stack.shop_registration()["certificate"],
                "issuer-jwks.json": json.dumps(json.loads(issuer_jwks), indent=2),
                "status-list.jwt": status_list,
                "answers.json": json.dumps(answers, indent=2, ensure_ascii=False),
                # every exchange with the shop, the browser's and the wallet's (the wallet's enrollment with
                # the issuer is the holder's own business: its netcerts carry every personal claim)
                "wire.jsonl": "\n".join(
                    json.dumps(e.to_json(), ensure_ascii=False) for e in wire.to_shop(stack.shop.url)
                ),
            }
            _write(out, files)

    console.rule("8. Written to " + str(out))
    kept = {
        "issuer/issuer.db": "the issuer's SQLite database",
        "issuer/issuer.log": "the issuer's JSON log",
        "shop/shop.db": "the shop's transactions",
        "shop/shop.log": "the shop's JSON log",
        "wallet/wallet.json": "the wallet file (PIN in wallet/pin.txt)",
    }
    for name in files:
        console.print(f"  {name}")
    for name, what in kept.items():
        console.print(f"  {name:<20} {what}")
    closed = [port for port in summary["ports"] if not port_open(port)]
    if len(closed) != len(summary["ports"]) or any(code != 0 for code in stack.exit_codes.values()):
        raise DemoError(f"the servers did not stop cleanly: {stack.exit_codes}, ports {summary['ports']}")
    elapsed = time.perf_counter() - began
    console.print(f"  both servers stopped, ports closed; the whole demo took {elapsed:.1f} s")
    summary.update(
        checks=checks,
        leaks=sorted(leaks),
        issuer_leaks=issuer_leaks,
        controls=controls,
        files=sorted(files),
        seconds=elapsed,
    )
    return summary


def _first_presentation(payload: Mapping[str, Any]) -> str:
    vp_token = payload.get("vp_token")
    if not isinstance(vp_token, Mapping):
        raise DemoError("the shop received no vp_token")
    for presentations in vp_token.values():
        if isinstance(presentations, list) and presentations and isinstance(presentations[0], str):
            return presentations[0]
    raise DemoError("the shop's vp_token holds no presentation")


# --- make serve ---------------------------------------------------------------------------------------------


def serve(console: Console, *, out_dir: str = "demo-out", seed: int = 7) -> int:
    """Start the issuer and the shop (on ports 8000 and 8001 when free), enroll a demo wallet, print how to
    click through, and keep running until Ctrl-C (or SIGTERM); then stop both. Returns an exit code."""
    out = Path(out_dir)
    _prepare(out)
    stop = False

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with (
            DemoStack.start(
                console, out, issuer_port=_preferred_port(8000), shop_port=_preferred_port(8001)
            ) as stack,
            httpx.Client(timeout=30) as http,
        ):
            session, pin = _enroll(console, stack, make_card(seed), out / "wallet", http)
            session.close()
            wallet = (out / "wallet" / "wallet.json").resolve()
            netid = Path(sys.executable).with_name("netid")
            command = str(netid) if netid.exists() else "netid"
            console.print(
                Panel(
                    f"The shop:    [bold]{stack.shop.url}[/]\n"
                    f"The issuer:  {stack.issuer.url}   (admin token for this run: {stack.admin_token})\n\n"
                    f"1. Open the shop and press [bold]Sign in with NetID[/] (or the wine cellar, or "
                    f"'Confirm your name').\n"
                    f"2. Copy the request link shown under the QR code (openid4vp://…).\n"
                    f"3. Answer it with the demo wallet (PIN {pin}):\n\n"
                    f"   NETID_WALLET={wallet} NETID_PIN={pin} \\\n"
                    f"     {command} present --allow-loopback-http 'openid4vp://…'\n\n"
                    f"The page moves on by itself when the wallet has answered.\n"
                    f"Wallet file: {wallet}  (PIN also in {out / 'wallet' / 'pin.txt'})\n"
                    f"Databases and JSON logs: {out / 'issuer'}/, {out / 'shop'}/\n\n"
                    f"Ctrl-C stops both servers.",
                    title="make serve: NetID on 127.0.0.1",
                    expand=False,
                )
            )
            while not stop:
                for service in (stack.issuer, stack.shop):
                    if service.process.poll() is not None:
                        console.print(f"[red]the {service.name} stopped:[/]\n{escape(service.tail())}")
                        return 1
                time.sleep(0.3)
    except KeyboardInterrupt:
        pass  # Ctrl-C: the servers were stopped on the way out
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m netid.demo [--out DIR] [--seed N] [--serve]``."""
    parser = argparse.ArgumentParser(prog="python -m netid.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo-out", help="where to write what crossed the wire")
    parser.add_argument("--seed", type=int, default=7, help="the test card's seed (default 7)")
    parser.add_argument("--serve", action="store_true", help="keep the issuer and the shop running")
    args = parser.parse_args(argv)
    console = Console()
    try:
        if args.serve:
            return serve(console, out_dir=args.out, seed=args.seed)
        run_demo(console, out_dir=args.out, seed=args.seed)
    except DemoError as exc:
        console.print(f"[bold red]demo failed:[/] {escape(str(exc))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
