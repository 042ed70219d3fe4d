"""Shared fixtures: a clean HERALD_* environment, the shared data directory, the feed server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.fakes.feed_server import FeedServer, start_feed_server

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _clean_herald_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own HERALD_* settings must never leak into a test's configuration.
    for name in list(os.environ):
        if name.startswith("HERALD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared real-world data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    async with start_feed_server() as server:
        yield server


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database URL, on SQLite and on the local PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/herald.db"
        return
    from tests.support import postgres_database

    async with postgres_database() as url:
        yield url
