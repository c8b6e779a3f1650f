"""Migrations: the schema from empty, models == migrations, down to base and back, each revision up, down
and up again keeping every other row, and the migrations shipped inside the package (the engines:
``test_store_db.py``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import sessionmaker

from storage import candidates, repo, synonyms, votes
from storage.db import alembic_config, engine_of, make_engine, upgrade
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
            synonyms.set_synonym(s, "goalie", ["goalkeeper"], admin_id=7)
        assert _count(engine, "synonyms") == 1 and _count(engine, "changes") == 2
        _migrate(engine, "downgrade", "0005")
        assert "synonyms" not in inspect(engine).get_table_names()
        assert _count(engine, "taught_pairs") == 1 and _count(engine, "changes") == 2
        _migrate(engine, "upgrade", "head")
        with factory.begin() as s:
            synonyms.set_synonym(s, "keeper", ["goalkeeper"])
            assert [x["word"] for x in synonyms.synonyms(s)] == ["keeper"]
    finally:
        engine.dispose()


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
