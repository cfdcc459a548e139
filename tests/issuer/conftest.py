"""The issuer under test: in process (FastAPI's TestClient) for API tests, and as a real uvicorn server
on 127.0.0.1 for end-to-end ones. Every test gets its own SQLite file, key file and TEST ONLY CSCA."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from issuer_service.core.config import Settings
from issuer_service.main import build_context, create_app
from netid.testing.cards import make_pki
from netid.testing.world import NOW, TestClock

#: TEST ONLY admin tokens: name -> token (the settings hold their SHA-256)
ADMIN_TOKENS = {"alice": "TEST-admin-token-alice-0123456789", "bob": "TEST-admin-token-bob-0123456789"}
KEYSTORE_PASSPHRASE = "TEST ONLY issuer key-file passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_csca(folder: Path) -> Path:
    """The test kit's CSCA (shared by every make_card) as the issuer's only trust anchor."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test-csca.pem").write_bytes(make_pki(0).csca_certificate.public_bytes(Encoding.PEM))
    return folder


def issuer_env(tmp: Path, *, port: int, database_url: str | None = None) -> dict[str, str]:
    """NETID_ISSUER_* settings for a test issuer rooted at ``tmp``."""
    hashes = {name: hashlib.sha256(token.encode()).hexdigest() for name, token in ADMIN_TOKENS.items()}
    return {
        "NETID_ISSUER_ISSUER_URL": f"http://127.0.0.1:{port}",
        "NETID_ISSUER_PORT": str(port),
        "NETID_ISSUER_DEV_MODE": "true",
        "NETID_ISSUER_DATABASE_URL": database_url or f"sqlite:///{tmp / 'issuer.db'}",
        "NETID_ISSUER_KEYSTORE_PATH": str(tmp / "issuer-keys.json"),
        "NETID_ISSUER_KEYSTORE_PASSPHRASE": KEYSTORE_PASSPHRASE,
        "NETID_ISSUER_CSCA_PATH": str(write_csca(tmp / "csca")),
        "NETID_ISSUER_MIGRATE_ON_START": "true",
        "NETID_ISSUER_ADMIN_TOKENS": json.dumps(hashes),
        "NETID_ISSUER_LOG_FILE": str(tmp / "issuer.log"),
    }


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    env = issuer_env(tmp, port=8000)
    values: dict[str, Any] = {k.removeprefix("NETID_ISSUER_").lower(): v for k, v in env.items()}
    values.pop("port")
    values["admin_tokens"] = json.loads(values["admin_tokens"])
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class InProcessIssuer:
    client: TestClient
    settings: Settings
    clock: TestClock
    tmp: Path

    def admin(self, name: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKENS[name]}"}


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[InProcessIssuer]:
    """The issuer app in process, on a clock the test controls (starting at the test world's NOW)."""
    settings = settings_for(tmp_path)
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock)
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        yield InProcessIssuer(client, settings, clock, tmp_path)


@dataclass
class LiveIssuer:
    url: str
    process: subprocess.Popen[bytes]
    tmp: Path
    env: dict[str, str]


def start_live_issuer(
    tmp: Path, *, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> LiveIssuer:
    """``python -m issuer_service serve`` on a free loopback port; returns once /readyz answers."""
    port = free_port()
    env = os.environ | issuer_env(tmp, port=port, database_url=database_url) | (extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "issuer_service", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"the issuer exited with {process.returncode}:\n{out}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return LiveIssuer(url, process, tmp, env)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the issuer did not become ready in 30 s")


def stop_live_issuer(live: LiveIssuer) -> int:
    """SIGTERM, as an orchestrator stops it; returns the exit code (graceful shutdown: 0)."""
    live.process.terminate()
    try:
        return live.process.wait(timeout=15)
    finally:
        if live.process.poll() is None:
            live.process.kill()
        if live.process.stdout:
            live.process.stdout.close()


@pytest.fixture
def live_issuer(tmp_path: Path) -> Iterator[LiveIssuer]:
    live = start_live_issuer(tmp_path)
    try:
        yield live
    finally:
        stop_live_issuer(live)
