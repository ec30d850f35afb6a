"""Every error as the shared JSON envelope (the mirror of legacy_flask.errors)."""

from __future__ import annotations

from quart import Quart, Response
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from shared.api.bodies import validation_message
from shared.api.http import error_response, from_http_exception
from shared.errors import AppError, InternalError, ValidationFailed
from shared.logging_setup import get_logger

log = get_logger("quart")


def render_error(err: AppError, headers: dict[str, str] | None = None) -> Response:
    """The envelope with its status and the error's headers (``shared.api.http``)."""
    body, status, all_headers = error_response(err, headers)
    return Response(body, status=status, headers=all_headers, mimetype="application/json")


def init_app(app: Quart) -> None:
    """Register the handlers."""

    @app.errorhandler(AppError)
    async def _app_error(err: AppError) -> Response:
        return render_error(err)

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema_error(err: RequestSchemaValidationError) -> Response:
        # quart-schema validated with the same pydantic model and TypeAdapter as Flask does.
        return render_error(ValidationFailed(validation_message(err.validation_error)))

    @app.errorhandler(HTTPException)
    async def _http_error(err: HTTPException) -> Response:
        return render_error(*from_http_exception(err))

    @app.errorhandler(Exception)
    async def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error")
        return render_error(InternalError("Internal error."))
