"""A throwaway PostgreSQL server for the issuer's tests (and its benchmarks).

:class:`PostgresCluster` runs ``initdb`` and ``pg_ctl`` from the newest ``/usr/lib/postgresql/*/bin`` (or
the ``PATH``) into a temporary folder, listens on a free loopback port (and a Unix socket inside that
folder), and removes everything on :meth:`~PostgresCluster.stop`. ``initdb`` refuses to run as root, so as
root (CI) every server command runs as the ``postgres`` user through ``runuser``, in a folder that user
owns. Authentication is ``trust`` on loopback: nothing but this machine reaches it, and it lives for one
test session.

A cluster whose test process died without stopping it (a crash, ``kill -9``) is stopped and deleted by
the next :meth:`~PostgresCluster.start` (:func:`reap_orphans`; each cluster's folder names its process).

Not durable by default (``fsync`` and synchronous commit off): the tests kill issuer processes, never the
server, and a server crash would only lose a throwaway cluster. Pass ``durable=True`` to measure with
the settings a deployment has.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = [
    "INSTALL_HINT",
    "PostgresCluster",
    "PostgresUnavailableError",
    "find_pg_bin",
    "requirements_missing",
]

INSTALL_HINT = "apt-get install -y postgresql (or run scripts/ensure-system-deps.sh)"
_SERVICE_USER = "postgres"
_PREFIX = "netid-pg-"


class PostgresUnavailableError(RuntimeError):
    """The server could not be set up or started here."""


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the newest Debian ``/usr/lib/postgresql/N/bin``, else
    wherever ``PATH`` finds ``initdb``."""
    versions = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        if (
            (candidate / "initdb").exists()
            and (candidate / "pg_ctl").exists()
            and candidate.parent.name.isdigit()
        ):
            versions.append((int(candidate.parent.name), candidate))
    if versions:
        return max(versions)[1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def requirements_missing() -> str | None:
    """Why a throwaway server cannot run here (``None`` if it can)."""
    if find_pg_bin() is None:
        return f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}"
    if _as_root():
        import pwd

        try:
            pwd.getpwnam(_SERVICE_USER)
        except KeyError:
            return f"running as root, and there is no {_SERVICE_USER!r} user to run initdb as: {INSTALL_HINT}"
        if shutil.which("runuser") is None:
            return "running as root, and runuser (util-linux) is missing"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install 'netid[postgres]'"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans() -> list[Path]:
    """Stop and delete the clusters whose test process died without stopping them (a crash, a kill -9):
    each cluster's folder names the process that started it. Clusters of live processes are left alone."""
    reaped = []
    bin_dir = find_pg_bin()
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner) or bin_dir is None:
            continue
        if (folder / "data" / "postmaster.pid").exists():
            command = [str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"]
            if _as_root():
                command = ["runuser", "-u", _SERVICE_USER, "--", *command]
            subprocess.run(command, capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


class PostgresCluster:
    """One throwaway server; :meth:`start` it, :meth:`create_database` as many databases as wanted, then
    :meth:`stop` (which also deletes its folder)."""

    def __init__(self, *, durable: bool = False, user: str = "netid") -> None:
        self.bin = find_pg_bin()
        if self.bin is None:
            raise PostgresUnavailableError(f"initdb not found: {INSTALL_HINT}")
        self.durable = durable
        self.user = user
        self.port = 0
        self.root: Path | None = None
        self._started = False

    @property
    def version(self) -> str:
        return self.bin.parent.name if self.bin else "?"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if _as_root():
            command = ["runuser", "-u", _SERVICE_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            said = result.stderr.strip() or result.stdout.strip()
            raise PostgresUnavailableError(f"{Path(args[0]).name} failed ({result.returncode}): {said}")
        return result

    def start(self) -> PostgresCluster:
        assert self.bin is not None
        reap_orphans()
        self.root = Path(tempfile.mkdtemp(prefix=_PREFIX))
        (self.root / "owner.pid").write_text(str(os.getpid()))
        data, sockets = self.root / "data", self.root / "run"
        sockets.mkdir()
        if _as_root():
            shutil.chown(self.root, _SERVICE_USER, _SERVICE_USER)
            shutil.chown(sockets, _SERVICE_USER, _SERVICE_USER)
        self._run(
            str(self.bin / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "--no-locale",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={sockets}",
            "-c max_connections=200",
            "-c shared_buffers=64MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        for _ in range(5):  # a free port can be taken between choosing it and binding it: try another
            self.port = _free_port()
            try:
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"), "-w",
                    "-t", "60", "-o", " ".join([f"-c port={self.port}", *options]), "start",
                )  # fmt: skip
            except PostgresUnavailableError:
                if "could not bind" in self.log_tail() or "already in use" in self.log_tail():
                    continue
                self.stop()
                raise
            self._started = True
            atexit.register(self.stop)
            self._wait_ready()
            return self
        self.stop()
        raise PostgresUnavailableError("no free port for PostgreSQL")

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailableError(
                        f"PostgreSQL did not accept connections:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        if self.root is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-lines:])
        return ""

    def dsn(self, database: str) -> str:
        """A libpq URL for ``database``."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for ``database``, as the issuer's ``database_url`` takes."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, underscores); return its SQLAlchemy URL."""
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError("database names here are lowercase identifiers")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # a checked identifier
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown: connections are cut) and delete its folder. Idempotent."""
        if self._started and self.root is not None and self.bin is not None:
            self._started = False
            with contextlib.suppress(PostgresUnavailableError, subprocess.TimeoutExpired):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
