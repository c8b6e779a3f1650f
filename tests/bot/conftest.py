"""Shared fixtures for the bot tests; they live in ``tests/bot/fixtures.py`` (members' answers' in
``tests/bot/member_answers_support.py``), the generator fakes in ``tests/bot/fakes.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.fixtures import answerer, dpy, fake_generator, store, trained_tiny  # noqa: F401
from tests.bot.member_answers_support import admins, channel, helper  # noqa: F401
from tests.tiny_checkpoint import shared_tiny_checkpoint

# Fixtures that train a model (once per session): a test that uses one is slow by definition.
TRAINING_FIXTURES = frozenset({"tiny_checkpoint", "trained_tiny"})
HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny GPT-2 checkpoint folder (answers TINY_PAIRS, stops at EOS); read-only, shared."""
    return shared_tiny_checkpoint(tmp_path_factory)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a bot test that trains a model (through a fixture) without ``@pytest.mark.slow``."""
    unmarked = [
        item.nodeid
        for item in items
        if item.path.is_relative_to(HERE)
        and TRAINING_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError("these tests train a model but are not marked slow: " + ", ".join(unmarked))
