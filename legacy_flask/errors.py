"""Every error as the shared JSON envelope; never an HTML page, never a 500 for client input."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from shared.api.http import json_text
from shared.errors import AppError, InternalError, error_for_status
from shared.logging_setup import get_logger

log = get_logger("flask")


def render_error(err: AppError) -> Response:
    """The envelope with its status (and Allow for 405 is added by the caller)."""
    return Response(json_text(err.to_body()) + "\n", status=err.status,
                    mimetype="application/json")


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(AppError)
    def _app_error(err: AppError) -> Response:
        return render_error(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        resp = render_error(error_for_status(err.code or 500))
        for name, value in err.get_headers():
            if name.lower() == "allow":  # 405 says which methods the route takes
                resp.headers["Allow"] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error")
        return render_error(InternalError("Internal error."))
