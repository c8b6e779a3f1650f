"""Engines: SQLite's settings, clear startup errors, writes and exports under contention, concurrency (the
migrations: ``test_store_migrations.py``)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select, text

from storage import repo, votes
from storage.db import StoreError, describe, dispose, engine_of, open_store, transaction, upgrade
from storage.export import export_dataset
from storage.models import Exchange


def test_sqlite_uses_wal_foreign_keys_and_busy_timeout(tmp_path):
    factory = open_store(f"sqlite:///{tmp_path / 'q.db'}", busy_timeout_s=3)
    with engine_of(factory).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3000


def test_default_url_creates_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    factory = open_store()
    dispose(factory)
    assert (tmp_path / "data" / "qabot.db").is_file()


def test_missing_database_is_a_clear_error_when_not_creating(tmp_path):
    with pytest.raises(StoreError, match="no database at .*missing.db"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}", create=False)


def test_folder_that_cannot_be_created_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the folder"):
        open_store(f"sqlite:///{tmp_path / 'file' / 'q.db'}")


def test_unreadable_database_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot read database .*garbage.db"):
        open_store(f"sqlite:///{path}")


def test_locked_database_at_startup_is_a_clear_error(tmp_path):
    path = tmp_path / "locked.db"
    other = sqlite3.connect(path, isolation_level=None)  # another program, in rollback-journal mode
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            open_store(f"sqlite:///{path}", busy_timeout_s=0.2)
        assert time.monotonic() - started < 5
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_unreachable_postgresql_is_a_clear_error():
    with pytest.raises(StoreError, match="postgresql\\+psycopg://bot:\\*\\*\\*@127.0.0.1:9/"):
        open_store("postgresql://bot:secret@127.0.0.1:9/qabot?connect_timeout=2")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("notaurl", "expected e.g. sqlite"),
        ("postgresql://bot:secret@host:abc/qabot", "its port is not a number"),
        ("foo://bot:secret@host/qabot", "unknown database kind 'foo'"),
        ("mysql://bot:secret@host/qabot", "the driver for mysql is not installed"),
        ("sqlite:///q.db?timeout=secret", "sqlite rejects its options"),
    ],
)
def test_malformed_url_is_a_clear_error_without_the_url(url, reason, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for call in (open_store, upgrade):
        with pytest.raises(StoreError, match="DATABASE_URL .*not a valid database URL") as info:
            call(url)
        assert reason in str(info.value) and "secret" not in str(info.value)


def test_a_password_in_the_query_string_is_masked_too():
    url = "postgresql://bob@127.0.0.1:9/qabot?connect_timeout=2&Password=hunter2&sslpassword=hunter3"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert "hunter" not in message
    assert "postgresql+psycopg://bob@127.0.0.1:9/qabot?Password=***&connect_timeout=2" in message
    assert describe("postgresql://bob:pw@h/db?PWD=a&passwd=b&token=c&sslmode=require") == (
        "postgresql+psycopg://bob:***@h/db?PWD=***&passwd=***&sslmode=require&token=***"
    )


def test_a_store_from_a_newer_qabot_is_a_clear_error(db_url):
    factory = open_store(db_url)
    with transaction(factory) as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    dispose(factory)
    for call in (open_store, upgrade):
        with pytest.raises(StoreError, match=r"made by a newer qabot \(revision 0099\); upgrade qabot"):
            call(db_url)


def test_failed_write_is_raised_with_its_traceback_at_debug_level_only(store, caplog):
    caplog.set_level(logging.DEBUG, logger="storage.db")
    with pytest.raises(StoreError, match="could not log vote"), transaction(store, "log vote") as s:
        votes.set_vote(s, 424242, "u1", 1)  # no such exchange: foreign key violation
    logged = [r for r in caplog.records if "could not log vote" in r.getMessage()]
    assert logged and all(r.levelno == logging.DEBUG for r in logged) and logged[0].exc_info
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(Exchange)) == 0


def test_write_while_another_program_holds_the_lock_fails_clearly(tmp_path):
    path = tmp_path / "q.db"
    factory = open_store(f"sqlite:///{path}", busy_timeout_s=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"), transaction(factory, "log exchange") as s:
            repo.log_exchange(
                s, question="q", answer="a", model_version="v", confidence=1.0, unanswered=False,
                latency_ms=1.0, source="terminal",
            )  # fmt: skip
    finally:
        other.execute("ROLLBACK")
        other.close()
    with transaction(factory) as s:  # and the store works again afterwards
        s.execute(text("SELECT 1"))


def test_export_does_not_wait_for_a_writer(tmp_path):
    factory = open_store(f"sqlite:///{tmp_path / 'q.db'}", busy_timeout_s=5)
    with factory.begin() as s:
        repo.add_taught_pair(s, "Q?", "A.")
    writer = factory()
    writer.execute(text("SELECT 1"))  # holds this process's write turn (BEGIN IMMEDIATE)
    try:
        started = time.monotonic()
        assert export_dataset(factory, "jsonl", tmp_path / "out.jsonl") == 1
        assert time.monotonic() - started < 2
    finally:
        writer.close()


@pytest.mark.slow
def test_50_threads_write_5000_exchanges_without_lock_errors(store):
    threads, per_thread = 50, 100
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with store.begin() as s:
                    repo.log_exchange(
                        s, question=f"q {n} {i}", answer="a", model_version="v", confidence=0.5,
                        unanswered=False, latency_ms=1.0, source="discord", reply_message_id=f"{n}{i}",
                    )  # fmt: skip
                    if i % 10 == 0:  # read-then-write transactions, as the reaction handler does
                        found = repo.exchange_by_reply(s, f"{n}{i}")
                        votes.set_vote(s, found.id, f"user{n}", 1)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors[:3]
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(Exchange)) == threads * per_thread
