"""Every error as the shared JSON envelope; never an HTML page, never a 500 for client input."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from shared.api.http import error_headers, error_text, from_http_exception
from shared.errors import AppError, InternalError
from shared.logging_setup import get_logger

log = get_logger("flask")


def render_error(err: AppError, headers: dict[str, str] | None = None) -> Response:
    """The envelope with its status and the error's headers (``Retry-After``). A 5xx is
    logged with its full message and sent with its fixed public one."""
    if err.status >= 500:
        log.warning("%s %s: %s", err.status, err.code, err.message)
    return Response(error_text(err), status=err.status, headers=error_headers(err, headers),
                    mimetype="application/json")


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(AppError)
    def _app_error(err: AppError) -> Response:
        return render_error(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        return render_error(*from_http_exception(err))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error")
        return render_error(InternalError("Internal error."))
