"""Shared fixtures for the bot tests (owned jointly by helpers GEN and BOT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_checkpoint import shared_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny GPT-2 checkpoint folder (answers TINY_PAIRS, stops at EOS); read-only, shared."""
    return shared_tiny_checkpoint(tmp_path_factory)


# Helper BOT's fixtures (store, fake_generator, answerer, dpy, trained_tiny) live in their own module.
from tests.bot.fixtures import answerer, dpy, fake_generator, store, trained_tiny  # noqa: E402, F401
