"""Every error as the shared JSON envelope; never an HTML page, never a 500 for client input."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from shared.api.http import error_response, from_http_exception
from shared.errors import AppError, InternalError
from shared.logging_setup import get_logger

log = get_logger("flask")


def render_error(err: AppError, headers: dict[str, str] | None = None) -> Response:
    """The envelope with its status and the error's headers (``shared.api.http``)."""
    body, status, all_headers = error_response(err, headers)
    return Response(body, status=status, headers=all_headers, mimetype="application/json")


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
