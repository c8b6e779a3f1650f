"""Claims on the weekly digest (``storage.digests``, revision 0009): of processes serving one store, exactly
one claims a week, however they race; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

from storage.db import dispose, open_store, transaction
from storage.digests import claim_digest, release_digest, week_of

RACERS = 8  # one engine each: as many processes serving one store


def test_a_week_is_claimed_once_and_can_be_given_back(store):
    with store.begin() as s:
        assert claim_digest(s, "2026-W49") is True
    with store.begin() as s:
        assert claim_digest(s, "2026-W49") is False
        assert claim_digest(s, "2026-W50") is True  # the next week is another claim
    with store.begin() as s:
        assert release_digest(s, "2026-W49") is True
        assert release_digest(s, "2026-W49") is False
    with store.begin() as s:
        assert claim_digest(s, "2026-W49") is True  # given back: claimable again


def test_processes_racing_for_a_week_claim_it_exactly_once(db_url):
    """Each racer opens the store as a process of its own would (an engine, a pool) and claims the same
    week at the same moment; the database lets one insert land."""
    dispose(open_store(db_url))  # the schema first, as two first starts would race to create it
    factories = [open_store(db_url) for _ in range(RACERS)]
    start = threading.Barrier(RACERS)
    won: list[bool] = []
    errors: list[BaseException] = []

    def race(factory) -> None:
        try:
            start.wait()
            with transaction(factory, "claim the digest") as session:
                claimed = claim_digest(session, "2026-W49")
            won.append(claimed)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(f,)) for f in factories]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for f in factories:
            dispose(f)
    assert not errors, errors[:2]
    assert sorted(won) == [False] * (RACERS - 1) + [True]


def test_a_week_is_named_by_its_iso_week_in_utc():
    monday = datetime(2026, 12, 7, tzinfo=UTC)  # midnight
    assert week_of(monday) == week_of(monday + timedelta(days=7, minutes=-1)) == "2026-W50"
    assert week_of(monday - timedelta(minutes=1)) == "2026-W49"
    # 00:30 on Monday in UTC+2 is still Sunday in UTC: the week before.
    assert week_of(datetime(2026, 12, 7, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == "2026-W49"
    assert week_of(datetime(2026, 12, 31, 12)) == "2026-W53"  # naive: UTC
    assert week_of(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"  # ISO years: one week, one name
