"""Fixtures of the store tests: every face on every database.

``store`` presents the sync face with awaitable methods (:class:`SyncFace`), so one test body
checks that the two faces behave identically.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.store import open_async_store, open_store
from tests.store.faces import Face, SyncFace

# Every face on every database.
COMBOS = [
    ("sync", "sqlite"),
    ("sync", "postgres"),
    ("async", "sqlite"),
    ("async", "postgres"),
]


@pytest.fixture(params=COMBOS, ids=[f"{face}-{db}" for face, db in COMBOS])
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(face, database URL) for one combination."""
    face, db = request.param
    return face, request.getfixturevalue("sqlite_url" if db == "sqlite" else "postgres_url")


@pytest.fixture
async def store(combo: tuple[str, str]) -> AsyncIterator[Face]:
    """A migrated store on a fresh database, through each face."""
    face_name, url = combo
    if face_name == "sync":
        sync = open_store(url)
        sync.init_schema()
        yield SyncFace(sync)
        sync.close()
        return
    face = open_async_store(url)
    await face.init_schema()
    yield face
    await face.close()
