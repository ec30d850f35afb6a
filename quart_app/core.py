"""Open the shared runtime for Quart: world at build time, store and HTTP client per worker."""

from __future__ import annotations

from quart import Quart, current_app

from shared.config import Settings
from shared.runtime import Runtime, close_async, open_async, prepare, tune_gc


def init_app(app: Quart, settings: Settings) -> None:
    """Load and check the world now (bad data stops start-up); open I/O in the serving loop."""
    rt = prepare("quart", settings)
    app.extensions["xianxia"] = rt

    @app.before_serving
    async def _open() -> None:
        await open_async(rt)
        tune_gc(settings)

    @app.after_serving
    async def _close() -> None:
        await close_async(rt)


def runtime() -> Runtime:
    """The current app's runtime."""
    return current_app.extensions["xianxia"]  # type: ignore[no-any-return]
