"""Every error as the shared JSON envelope (the mirror of legacy_flask.errors)."""

from __future__ import annotations

from quart import Quart, Response
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from shared.api.bodies import validation_message
from shared.api.http import error_headers, error_text, from_http_exception
from shared.errors import AppError, InternalError, ValidationFailed
from shared.logging_setup import get_logger

log = get_logger("quart")


def render_error(err: AppError, headers: dict[str, str] | None = None) -> Response:
    """The envelope with its status and the error's headers (``Retry-After``). A 5xx is
    logged with its full message and sent with its fixed public one."""
    if err.status >= 500:
        log.warning("%s %s: %s", err.status, err.code, err.message)
    return Response(error_text(err), status=err.status, headers=error_headers(err, headers),
                    mimetype="application/json")


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
