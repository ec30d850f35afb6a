"""One error model for both apps.

Every error a client can cause is an :class:`AppError` with an HTTP status, a stable
machine-readable ``code`` and a human message. Both apps render it as
``{"error": {"code": ..., "message": ...}}``, so the same request gets the same bytes
from Flask and from Quart. This module is pure: game rules may raise these too.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """Base of every error that maps to an HTTP response."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default

    def to_body(self) -> dict[str, Any]:
        """The JSON envelope both apps send."""
        return {"error": {"code": self.code, "message": self.message}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class BadRequest(AppError):
    """400: malformed JSON or a request that does not match its schema."""

    status = 400
    code = "bad_request"


class ValidationFailed(BadRequest):
    """400: a schema violation; the message names the field."""

    code = "validation_error"


class Unauthorized(AppError):
    """401: the player token is missing."""

    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    """403: the player token is wrong for this player."""

    status = 403
    code = "forbidden"


class NotFound(AppError):
    """404: no such resource."""

    status = 404
    code = "not_found"


class MethodNotAllowed(AppError):
    """405: the route exists but not for this method."""

    status = 405
    code = "method_not_allowed"


class Conflict(AppError):
    """409: a version conflict the server could not resolve by retrying."""

    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    """413: the body is over the configured limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    """415: a body that is not JSON."""

    status = 415
    code = "unsupported_media_type"


class ActionRefused(AppError):
    """422: the rules refuse this action now (e.g. a breakthrough without enough qi)."""

    status = 422
    code = "action_refused"


class ChoicePending(ActionRefused):
    """409: an event's choice is pending; only ``choose`` (or ``flee``) is accepted until it is
    made. The message names the choice and its options."""

    status = 409
    code = "choice_pending"


class RateLimited(AppError):
    """429: the player exceeded the configured action rate."""

    status = 429
    code = "rate_limited"


class NotReady(AppError):
    """503: the store or the data is not ready."""

    status = 503
    code = "not_ready"


class InternalError(AppError):
    """500: a bug. Never raised for anything a client sent."""

    status = 500
    code = "internal_error"


_BY_STATUS: dict[int, type[AppError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        ActionRefused,
        RateLimited,
        NotReady,
        InternalError,
    )
}

_DEFAULT_MESSAGES: dict[int, str] = {
    400: "The request is malformed.",
    401: "A player token is required.",
    403: "That token does not belong to this player.",
    404: "Not found.",
    405: "Method not allowed for this route.",
    409: "The player changed at the same time; try again.",
    413: "The request body is too large.",
    415: "Send the body as application/json.",
    422: "The rules refuse this action now.",
    429: "Too many actions; slow down.",
    503: "The service is not ready.",
    500: "Internal error.",
}


def error_for_status(status: int, message: str | None = None) -> AppError:
    """Map a framework's HTTP status (e.g. werkzeug's 404/405/413) onto the error model."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = BadRequest if 400 <= status < 500 else InternalError
    return cls(message or _DEFAULT_MESSAGES.get(cls.status, "Error."))
