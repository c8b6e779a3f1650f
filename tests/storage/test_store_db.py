"""Engines and migrations: schema from empty, models == migrations, clear startup errors, concurrency."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import sessionmaker

from storage import candidates, repo, votes
from storage.db import (
    StoreError,
    alembic_config,
    describe,
    dispose,
    engine_of,
    make_engine,
    open_store,
    transaction,
    upgrade,
)
from storage.export import export_dataset
from storage.models import Base, Exchange

TABLES = {
    "exchanges",
    "feedback",
    "corrections",
    "taught_pairs",
    "candidates",
    "dismissals",
    "harvest_cursors",
    "digest_posts",
    "training_runs",
    "changes",
    "synonyms",
    "alembic_version",
}


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrations_build_the_schema_from_empty(db_url):
    assert upgrade(db_url) == _head()
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head()
    finally:
        engine.dispose()
    assert upgrade(db_url) == _head()  # idempotent


def test_models_match_migrations(store):
    """The `alembic check` question: would autogenerate find anything to migrate?"""
    with engine_of(store).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_downgrade_to_base_and_back(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


SOURCE_COLUMNS = {"matched_question", "match_score", "zone", "escalated_at"}  # 0002
CHOICE_COLUMNS = {"chosen_question", "chosen_by_admin"}  # 0003, 0004


def _migrate(engine, direction: str, revision: str) -> None:
    with engine.begin() as conn:
        getattr(command, direction)(alembic_config(conn), revision)


def _exchange_columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("exchanges")}


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_0002_and_0003_up_down_up_keep_every_row(db_url):
    """0002 and 0003 add nullable columns (NULL on older rows) and drop them again without losing votes or
    corrections: on SQLite a batch rebuild would drop `exchanges`, and its ON DELETE CASCADE would empty
    both tables."""
    engine = make_engine(db_url)
    try:
        _migrate(engine, "upgrade", "0001")
        assert not SOURCE_COLUMNS & _exchange_columns(engine)
        with engine.begin() as conn:  # a row written by a 0001-era bot
            old_id = conn.execute(
                text(
                    "INSERT INTO exchanges (created_at, question, question_key, answer, model_version,"
                    " unanswered, source) VALUES (:at, 'Old?', 'k', 'Old.', 'v0', false, 'discord')"
                    " RETURNING id"
                ),
                {"at": datetime(2024, 1, 1)},
            ).scalar_one()
        _migrate(engine, "upgrade", "head")  # the ORM writes every column of the head revision
        assert _exchange_columns(engine) >= SOURCE_COLUMNS | CHOICE_COLUMNS
        factory = sessionmaker(engine, expire_on_commit=False)
        with factory.begin() as s:
            old = s.get(Exchange, old_id)
            assert (old.matched_question, old.match_score, old.zone, old.escalated_at) == (None,) * 4
            assert old.chosen_question is None
            assert old.chosen_by_admin is False
            new = repo.log_exchange(
                s, question="New?", answer="New.", model_version="v1", confidence=0.9, unanswered=False,
                latency_ms=1.0, source="discord", matched_question="Known?", match_score=0.8, zone="suggest",
            )  # fmt: skip
            repo.mark_escalated(s, new.id)
            assert repo.record_choice(s, new.id, "Known?")
            new_id = new.id
            for exchange_id in (old_id, new_id):
                votes.set_vote(s, exchange_id, "u1", 1)
                repo.add_correction(s, exchange_id, "Fixed.", "admin")
        counts = {t: _count(engine, t) for t in ("exchanges", "feedback", "corrections")}
        assert counts == {"exchanges": 2, "feedback": 2, "corrections": 2}

        _migrate(engine, "downgrade", "0002")
        assert not CHOICE_COLUMNS & _exchange_columns(engine)
        assert _exchange_columns(engine) >= SOURCE_COLUMNS
        assert {t: _count(engine, t) for t in counts} == counts
        _migrate(engine, "downgrade", "0001")
        assert not (SOURCE_COLUMNS | CHOICE_COLUMNS) & _exchange_columns(engine)
        assert {t: _count(engine, t) for t in counts} == counts
        with engine.begin() as conn:  # a 0001-era bot can still write
            conn.execute(
                text(
                    "INSERT INTO feedback (exchange_id, user_id, vote, created_at, updated_at)"
                    " VALUES (:id, 'u2', -1, :at, :at)"
                ),
                {"id": new_id, "at": datetime(2024, 1, 2)},
            )

        _migrate(engine, "upgrade", "head")
        assert _exchange_columns(engine) >= SOURCE_COLUMNS | CHOICE_COLUMNS
        assert _count(engine, "feedback") == 3 and _count(engine, "corrections") == 2
        with factory.begin() as s:
            exchanges = list(s.scalars(select(Exchange)))
            assert {(e.zone, e.chosen_question) for e in exchanges} == {(None, None)}  # dropped stays dropped
            assert repo.mark_escalated(s, new_id) is True
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def test_0005_change_log_up_down_up_keeps_every_other_row(db_url):
    """0005 adds the change log (``storage.changes``) and drops it again; no other table loses a row."""
    engine = make_engine(db_url)
    try:
        _migrate(engine, "upgrade", "head")
        factory = sessionmaker(engine, expire_on_commit=False)
        with factory.begin() as s:
            repo.add_taught_pair(s, "Old?", "Old.")
        assert _count(engine, "changes") == 1 and _count(engine, "taught_pairs") == 1
        _migrate(engine, "downgrade", "0004")
        assert "changes" not in inspect(engine).get_table_names()
        assert _count(engine, "taught_pairs") == 1
        _migrate(engine, "upgrade", "head")
        with factory.begin() as s:
            repo.add_taught_pair(s, "New?", "New.")
        assert _count(engine, "changes") == 1 and _count(engine, "taught_pairs") == 2
    finally:
        engine.dispose()


def test_0006_synonyms_up_down_up_keeps_every_other_row(db_url):
    """0006 adds the admins' synonyms and drops them again; no other table loses a row."""
    engine = make_engine(db_url)
    try:
        _migrate(engine, "upgrade", "head")
        factory = sessionmaker(engine, expire_on_commit=False)
        with factory.begin() as s:
            repo.add_taught_pair(s, "What is a goalkeeper?", "The player who may handle the ball.")
            repo.set_synonym(s, "goalie", ["goalkeeper"], admin_id=7)
        assert _count(engine, "synonyms") == 1 and _count(engine, "changes") == 2
        _migrate(engine, "downgrade", "0005")
        assert "synonyms" not in inspect(engine).get_table_names()
        assert _count(engine, "taught_pairs") == 1 and _count(engine, "changes") == 2
        _migrate(engine, "upgrade", "head")
        with factory.begin() as s:
            repo.set_synonym(s, "keeper", ["goalkeeper"])
            assert [x["word"] for x in repo.synonyms(s)] == ["keeper"]
    finally:
        engine.dispose()


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


def test_migrations_ship_inside_the_package():
    folder = Path(alembic_config().get_main_option("script_location"))
    assert (folder / "env.py").is_file() and (folder / "script.py.mako").is_file()
    assert folder.parent.name == "storage"


def test_0007_candidates_up_down_up_keeps_every_other_row(db_url):
    """0007 adds members' candidate pairs and drops them again; the taught pair one became stays."""
    engine = make_engine(db_url)
    try:
        _migrate(engine, "upgrade", "head")
        factory = sessionmaker(engine, expire_on_commit=False)
        with factory.begin() as s:
            row, _ = candidates.propose(s, question="Q?", answer="A.", source="reply", answer_message_id=3)
            candidates.accept(s, row.id, 7)
        assert _count(engine, "candidates") == 1 and _count(engine, "taught_pairs") == 1
        _migrate(engine, "downgrade", "0006")
        assert "candidates" not in inspect(engine).get_table_names()
        assert _count(engine, "taught_pairs") == 1
        _migrate(engine, "upgrade", "head")
        with factory.begin() as s:
            assert candidates.propose(s, question="Q?", answer="A.", source="harvest")[1]
    finally:
        engine.dispose()
