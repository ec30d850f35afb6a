"""Open the shared runtime for Flask and reach it from views."""

from __future__ import annotations

import atexit

from flask import Flask, current_app

from shared.config import Settings
from shared.runtime import Runtime, close_sync, open_sync, tune_gc


def init_app(app: Flask, settings: Settings) -> None:
    """Load the world, open the store and the LLM client; closed at interpreter exit."""
    rt = open_sync("flask", settings)
    app.extensions["xianxia"] = rt
    tune_gc(settings)
    # WSGI has no shutdown hook; gunicorn workers exit through the interpreter.
    atexit.register(close_sync, rt)


def runtime() -> Runtime:
    """The current app's runtime."""
    return current_app.extensions["xianxia"]  # type: ignore[no-any-return]
