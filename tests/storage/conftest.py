"""Fixtures for the store's tests: the same tests run on SQLite and on a throwaway PostgreSQL server.

The PostgreSQL server is started once per test session from the Debian ``postgresql`` binaries, on
loopback, in a temporary data directory; each test gets a fresh database. ``initdb`` refuses to run as
root, so under root the server runs as the ``postgres`` user (``runuser``). Where the binaries are
missing the PostgreSQL variants skip and say why.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _pg_bindir() -> Path | None:
    candidates = [os.environ.get("QABOT_PG_BINDIR", "")] + sorted(
        glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in a temp dir; ``database()`` makes a fresh database and returns its URL."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.datadir = Path(tempfile.mkdtemp(prefix="qabot-pg-"))
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.datadir, "postgres", "postgres")
        pgdata = str(self.datadir / "data")
        self._run(
            str(self.bindir / "initdb"), "-D", pgdata, "-A", "trust", "-U", self.user, "-E", "UTF8", "-N"
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.datadir} -c fsync=off"
        log = str(self.datadir / "server.log")
        self._run(str(self.bindir / "pg_ctl"), "-D", pgdata, "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        try:
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.datadir / "data"), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        import psycopg

        name = f"qabot_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found (apt-get install -y postgresql, or set QABOT_PG_BINDIR)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root needs `runuser` to start PostgreSQL as the postgres user")
    server = PostgresServer(bindir)
    try:
        server.start()
    except (subprocess.SubprocessError, OSError, KeyError) as exc:
        shutil.rmtree(server.datadir, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qabot.db'}"
    return request.getfixturevalue("postgres_server").database()


@pytest.fixture
def store(db_url: str):
    """A session factory on a migrated, empty store."""
    from storage.db import dispose, open_store

    factory = open_store(db_url)
    yield factory
    dispose(factory)
