"""The legacy Flask app, served by gunicorn (gthread workers): the fallback deployment.

``create_app()`` builds it; every route's work lives in ``shared.usecases`` and runs here
through the blocking driver, with the sync store and the sync DeepSeek face.
"""

from __future__ import annotations

from flask import Flask

from shared.api.http import configure_json_provider
from shared.config import Settings
from shared.logging_setup import configure_logging
from shared.paths import WEBPAGE_DIR

APP_NAME = "flask"


def create_app(settings: Settings | None = None) -> Flask:
    """App factory: settings from the environment unless given (tests pass their own)."""
    from legacy_flask import core, errors, guard, observability
    from legacy_flask.blueprints import register_blueprints

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, APP_NAME)
    app = Flask(__name__, static_folder=str(WEBPAGE_DIR), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, XIANXIA_SETTINGS=settings)
    configure_json_provider(app.json)
    core.init_app(app, settings)
    errors.init_app(app)
    observability.init_app(app)
    guard.init_app(app)
    register_blueprints(app)
    return app
