"""Engines, sessions and schema upgrades for the store.

``open_store(url)`` is what an entry point calls: it builds the engine, brings the schema to the newest
Alembic revision and returns a ``sessionmaker``. SQLite (the default, ``sqlite:///data/qabot.db``) and
PostgreSQL (``postgresql+psycopg://…``) work with no code change.

SQLite details, and why:
- WAL journal: readers (exports, /stats) never block the writer and vice versa.
- ``synchronous=NORMAL``: in WAL mode a commit is still atomic and durable against process crashes; only
  an OS crash can lose the last commits, the usual trade for logging workloads.
- Every write transaction is ``BEGIN IMMEDIATE``: a read-then-write transaction (look up an exchange, then
  vote) would otherwise fail at once with "database is locked" when another connection wrote in between.
- Writers of one process queue on a lock (``_WriteGate``) before ``BEGIN IMMEDIATE``, not in SQLite's busy
  handler, which sleeps in steps of up to 100 ms; the busy timeout still covers other processes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///data/qabot.db"
DEFAULT_BUSY_TIMEOUT_S = 10.0
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Execution option that makes a SQLite transaction a plain deferred read (used by exports).
READ_ONLY = "qabot_read_only"


class StoreError(RuntimeError):
    """The database cannot be opened, upgraded or written; the message says which and why."""


def _bad_url(reason: str) -> StoreError:
    # The URL itself is never quoted: it may hold a password.
    return StoreError(f"DATABASE_URL (or --db) is not a valid database URL ({reason})")


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; bare ``postgresql://`` / ``postgres://`` get the psycopg 3 driver we ship.

    A URL that cannot be parsed raises ``StoreError`` (without the URL, which may hold a password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise _bad_url("expected e.g. sqlite:///data/qabot.db or postgresql://user@host/db") from None
    except ValueError:  # the only number in a URL is its port
        raise _bad_url("its port is not a number") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


# Query-string keys whose values are secrets (compared lower-case): libpq's and common drivers' spellings.
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "pass", "sslpassword", "token", "secret"})


def describe(url: str | URL) -> str:
    """The URL without its password, in the user part or the query string, for messages."""
    parsed = normalize_url(url)
    secret = {key: "***" for key in parsed.query if key.lower() in SECRET_QUERY_KEYS}
    if not secret:
        return parsed.render_as_string(hide_password=True)
    # Rendering escapes the query's "*" as %2A; the mask reads better as typed.
    text = parsed.update_query_dict(secret).render_as_string(hide_password=True)
    return text.replace("=%2A%2A%2A", "=***")


class _WriteGate:
    """One writer at a time per engine; owned by the DB-API connection that began the transaction."""

    def __init__(self, timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._owner: object | None = None
        self.timeout_s = timeout_s

    def enter(self, dbapi_connection: object) -> None:
        if not self._lock.acquire(timeout=self.timeout_s):
            raise OperationalError(
                "BEGIN IMMEDIATE",
                None,
                sqlite3.OperationalError(
                    f"database is locked (no turn to write within {self.timeout_s:g} s in this process)"
                ),
            )
        self._owner = dbapi_connection

    def leave(self, dbapi_connection: object) -> None:
        if self._owner is dbapi_connection:
            self._owner = None
            self._lock.release()


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite ``url`` (None: in memory, or a ``file:`` URI)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _setup_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    gate = _WriteGate(busy_timeout_s)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # We issue BEGIN ourselves (below); the driver's own implicit BEGIN would be deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        dbapi_connection = conn.connection.dbapi_connection
        gate.enter(dbapi_connection)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(dbapi_connection)
            raise

    # The gate must open only once COMMIT/ROLLBACK has run, and engine events fire before them, so the
    # dialect's (per-engine instance) methods are wrapped. The pool resets connections through them too.
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    for name in ("checkin", "close", "invalidate", "detach"):
        # Backstop: a connection that leaves the pool's hands can never keep the gate shut.
        event.listen(engine, name, lambda dbapi_connection, *_: gate.leave(dbapi_connection))


def make_engine(
    url: str | URL = DEFAULT_URL, *, create: bool = True, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
) -> Engine:
    """An engine for ``url``; for SQLite the parent folder is created (``create``) or must exist."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            if create:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the folder for database {path}: {exc}") from exc
            elif not path.is_file():
                raise StoreError(
                    f"no database at {path}; create it with `qabot db upgrade --db {describe(parsed)}`"
                )
        engine = _create_engine(
            parsed, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}, pool_size=10
        )
        _setup_sqlite(engine, busy_timeout_s)
        return engine
    # PostgreSQL (or anything else SQLAlchemy knows): pre-ping survives server restarts.
    return _create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=40)


def _create_engine(url: URL, **kwargs: Any) -> Engine:
    """``create_engine``; an unknown database kind or a driver that is not installed is a ``StoreError``."""
    try:
        return create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise _bad_url(f"unknown database kind {url.drivername!r}") from None
    except ImportError as exc:
        raise _bad_url(f"the driver for {url.drivername} is not installed: {exc}") from None
    except (ArgumentError, TypeError, ValueError) as exc:  # e.g. ?timeout=abc; its text may quote a secret
        raise _bad_url(f"{url.drivername} rejects its options: {type(exc).__name__}") from None


def alembic_config(connection: Any = None, url: str | URL | None = None) -> Any:
    """An Alembic ``Config`` built in code, so migrations run from an installed package and any cwd."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["url"] = url
    return config


def explain(url: str | URL, exc: BaseException) -> str:
    """A one-line reason an operation on ``url`` failed, naming the database."""
    where = describe(url)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if "locked" in reason:
        return f"database {where} is locked by another program ({reason}); close it or try again"
    if "not a database" in reason or "unable to open" in reason or "malformed" in reason:
        return f"cannot read database {where}: {reason}"
    return f"database {where}: {reason}"


def _run_upgrade(engine: Engine, url: str | URL) -> str:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    with engine.begin() as connection:
        config = alembic_config(connection)
        try:
            command.upgrade(config, "head")
        except CommandError as exc:  # one line, not a traceback; which revisions it lacks, if that is why
            known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
            heads = MigrationContext.configure(connection).get_current_heads()
            if unknown := [r for r in heads if r not in known]:
                raise StoreError(
                    f"database {describe(url)} was made by a newer qabot (revision {', '.join(unknown)}); "
                    "upgrade qabot"
                ) from exc
            raise StoreError(f"database {describe(url)}: cannot upgrade the schema: {exc}") from exc
        return MigrationContext.configure(connection).get_current_revision() or "base"


def upgrade(url: str | URL = DEFAULT_URL, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> str:
    """Bring the schema at ``url`` to the newest revision (creating it); return that revision.

    A database stamped by a newer qabot (a revision this one does not know) raises ``StoreError``."""
    engine = make_engine(url, busy_timeout_s=busy_timeout_s)
    try:
        return _run_upgrade(engine, url)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise StoreError(explain(url, exc)) from exc
    finally:
        engine.dispose()


def open_store(
    url: str | URL = DEFAULT_URL, *, create: bool = True, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
) -> sessionmaker[Session]:
    """Open the store at ``url``: upgrade its schema to head and return a session factory.

    Raises ``StoreError`` with a readable message when the database is locked, unreadable, unreachable,
    made by a newer qabot, or (``create=False``) missing.
    """
    engine = make_engine(url, create=create, busy_timeout_s=busy_timeout_s)
    try:
        revision = _run_upgrade(engine, url)
    except StoreError:
        engine.dispose()
        raise
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        engine.dispose()
        raise StoreError(explain(url, exc)) from exc
    log.info("store %s at revision %s", describe(url), revision)
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(session_factory: sessionmaker[Session]) -> Engine:
    """The engine behind a session factory made by ``open_store``."""
    engine = session_factory.kw.get("bind")
    if not isinstance(engine, Engine):
        raise TypeError("this session factory is not bound to an engine (make it with open_store)")
    return engine


def dispose(session_factory: sessionmaker[Session]) -> None:
    """Close the pooled connections of a store opened with ``open_store`` (when its user is done with it)."""
    engine_of(session_factory).dispose()


@contextmanager
def transaction(session_factory: sessionmaker[Session], what: str = "write") -> Iterator[Session]:
    """``with transaction(factory, "log exchange") as session:`` — commit, or raise StoreError.

    The StoreError's message says what failed and why; its caller reports it. The traceback is logged at
    debug level only: a command without logging set up would otherwise print it through Python's
    last-resort handler before its own one-line error."""
    try:
        with session_factory.begin() as session:
            yield session
    except SQLAlchemyError as exc:
        url = session_factory.kw.get("bind")
        message = explain(url.url, exc) if isinstance(url, Engine) else str(exc)
        log.debug("store: could not %s: %s", what, message, exc_info=exc)
        raise StoreError(f"could not {what}: {message}") from exc
