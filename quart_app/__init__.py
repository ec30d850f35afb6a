"""The async Quart app, served by hypercorn: the same routes as legacy_flask.

``create_app()`` builds it; every route's work lives in ``shared.usecases`` and runs here
through the awaiting driver, with the async store and the async DeepSeek face (or the
thread pool / Celery, by ``LLM_BACKEND``). Requests and responses are validated by
quart-schema, which also serves ``/openapi.json``; ``/docs`` renders it without a CDN.
"""

from __future__ import annotations

from quart import Quart

from shared.api.http import configure_json_provider
from shared.config import Settings
from shared.logging_setup import configure_logging
from shared.paths import WEBPAGE_DIR

APP_NAME = "quart"


def create_app(settings: Settings | None = None) -> Quart:
    """App factory: settings from the environment unless given (tests pass their own)."""
    from quart_app import core, docs, errors, guard, observability
    from quart_app.blueprints import register_blueprints

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, APP_NAME)
    app = Quart(__name__, static_folder=str(WEBPAGE_DIR), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, XIANXIA_SETTINGS=settings)
    core.init_app(app, settings)
    docs.init_app(app)
    configure_json_provider(app.json)  # after quart-schema installed its provider
    errors.init_app(app)
    observability.init_app(app)
    guard.init_app(app)
    register_blueprints(app)
    docs.document_errors(app)
    return app
