"""Browser tests: Debian's headless Chromium, driven by Playwright, against the example shop and a live
issuer — both real servers on 127.0.0.1 (:class:`netid.demo.DemoStack`) — with wallets enrolled from
simulated cards answering what the pages show.

Chromium is Debian's ``chromium`` (``scripts/ensure-system-deps.sh`` installs it; Playwright's own browser
download is never used): ``$NETID_CHROMIUM``, else ``chromium`` on the ``PATH``. Without it, or without
the ``playwright`` package, the tests skip with the command that installs it — and fail under ``CI``,
where the scripts must have installed both.

Screenshots go to ``test-artifacts/browser/`` in the repository (ignored by git; ``$NETID_TEST_ARTIFACTS``
chooses another folder); each test prints where.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.demo import DemoStack
from netid.testing.cards import make_card
from netid.wallet.http import PresentationOutcome, answer_counter_qr, present_uri
from netid.wallet.session import WalletSession

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
    # a camera for the counter page: Chromium's fake capture device, allowed without a prompt
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]  # fmt: skip
PIN = "246810"


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must have it: scripts/ensure-system-deps.sh and the test-core extra)")
    pytest.skip(why)


def chromium_path() -> str | None:
    return os.environ.get("NETID_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the browser tests (a Playwright ``Browser``).

    Package-scoped, not session-scoped: Playwright's sync API keeps an event loop running in this thread
    until it stops, and every later test that calls ``asyncio.run`` would fail while it runs."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test-core]'")
    executable = chromium_path()
    if executable is None:
        _unavailable("no chromium: sudo apt-get install chromium (or bash scripts/ensure-system-deps.sh)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("NETID_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {folder}")
    return folder


@dataclass
class Holder:
    """A person with a wallet file enrolled at the live issuer."""

    name: str
    full_name: str
    session: WalletSession
    http: httpx.Client
    posted: list[httpx.Request]

    def answer(self, uri: str) -> PresentationOutcome:
        """Consent, present, post — as ``netid present`` does."""
        return present_uri(
            self.session,
            uri,
            http=self.http,
            consent=lambda prompt: True,
            mode="pin",
            allow_loopback_http=True,
        )

    def answer_counter(self, qr_text: str) -> str:
        """Consent and answer a desk's QR code, as ``netid present NETIDC1:…`` does: the dynamic QR text."""
        answered = answer_counter_qr(self.session, qr_text, http=self.http, consent=lambda prompt: True)
        return answered.qr_text


@dataclass
class Live:
    stack: DemoStack
    adult: Holder
    teen: Holder

    @property
    def shop(self) -> str:
        return self.stack.shop.url


def _holder(stack: DemoStack, folder: Path, name: str, seed: int, age: int) -> Holder:
    card = make_card(seed, age=age)
    posted: list[httpx.Request] = []

    def record(request: httpx.Request) -> None:
        if request.method == "POST":
            posted.append(request)

    http = httpx.Client(timeout=30, event_hooks={"request": [record]})
    session, _ = WalletSession.create(folder / f"wallet-{name}.json", PIN)
    session.enroll(SimulatorReader(SimulatedCard(card.image)), card.access_key, stack.issuer.url, http=http,
                   batch_size=8)  # fmt: skip
    return Holder(name, card.person.full_name, session, http, posted)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The issuer and the shop as servers, and two enrolled holders: 36 and 16 years old."""
    folder = tmp_path_factory.mktemp("browser-stack")
    with DemoStack.start(Console(file=io.StringIO()), folder) as stack:
        adult = _holder(stack, folder, "adult", 31, 36)
        teen = _holder(stack, folder, "teen", 32, 16)
        try:
            yield Live(stack, adult, teen)
        finally:
            for holder in (adult, teen):
                holder.session.close()
                holder.http.close()
