"""Both store faces behind one awaitable interface, for tests that cover both."""

from __future__ import annotations

from typing import Any

from shared.store import AsyncStore, SyncStore


class SyncFace:
    """A SyncStore whose methods can be awaited, so one test body covers both faces."""

    def __init__(self, store: SyncStore) -> None:
        self.inner = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            return attr(*args, **kwargs)

        return call


Face = SyncFace | AsyncStore
