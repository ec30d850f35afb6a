"""One error model for both apps.

Every error a client can cause is an :class:`AppError` with an HTTP status, a stable
machine-readable ``code`` and a human message. Both apps render it as
``{"error": {"code": ..., "message": ...}}``, so the same request gets the same bytes
from Flask and from Quart. This module is pure: game rules may raise these too.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """Base of every error that maps to an HTTP response.

    ``retry_after`` (seconds) becomes a ``Retry-After`` header on the response.
    """

    status: ClassVar[int] = 500
    code: str = "internal_error"  # a class default; an instance may override it
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # instance override of the class default
        if retry_after is not None:
            self.retry_after = max(1, int(retry_after))

    def to_body(self) -> dict[str, Any]:
        """The JSON envelope both apps send."""
        return {"error": {"code": self.code, "message": self.message}}

    def response_headers(self) -> dict[str, str]:
        """Headers this error adds to its response (``Retry-After`` when it has one)."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

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


class UnknownPlayer(NotFound):
    """404 ``player_not_found``: an unknown id, an id that cannot exist, or a token that is not
    this player's. One fixed message that never echoes the id, so the answer does not tell
    whether a player exists."""

    code = "player_not_found"

    def __init__(self) -> None:
        super().__init__("找不到这位修士。")


class MethodNotAllowed(AppError):
    """405: the route exists but not for this method."""

    status = 405
    code = "method_not_allowed"


class Conflict(AppError):
    """409: a version conflict the server could not resolve by retrying (retry in 1 s)."""

    status = 409
    code = "conflict"
    retry_after = 1


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


class IdempotencyKeyReused(AppError):
    """422: an ``Idempotency-Key`` already used for a different action of this player."""

    status = 422
    code = "idempotency_key_reused"


class RateLimited(AppError):
    """429: a rate or budget is spent; ``retry_after`` says when to come back (default 60 s)."""

    status = 429
    code = "rate_limited"
    retry_after = 60


class UriTooLong(AppError):
    """414: the request target is longer than the apps accept."""

    status = 414
    code = "uri_too_long"


class HeadersTooLarge(AppError):
    """431: the request headers are larger than the apps accept."""

    status = 431
    code = "headers_too_large"


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
        UriTooLong,
        HeadersTooLarge,
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
    414: "请求的地址太长。",
    429: "请求太频繁，请稍后再试。",
    431: "请求头太大。",
    503: "The service is not ready.",
    500: "Internal error.",
}

# What a client reads for a server-side failure, by code: never the driver's words, the
# database URL or a host name (those go to the log). Unknown 5xx codes get their status's;
# ``not_ready`` keeps its message, which is always one of this project's fixed sentences
# (readiness probes read it: "Redis (the LLM task queue) does not answer.").
_PUBLIC_5XX: dict[str, str] = {
    "store_unavailable": "存档暂时无法访问，请稍后再试。",
    "queue_unavailable": "任务队列暂时不可用，请稍后再试。",
    "task_timeout": "任务没有按时完成，请稍后再查。",
    "internal_error": "服务内部出错。",
}
_OWN_5XX_MESSAGES = frozenset({"not_ready"})
_PUBLIC_BY_STATUS: dict[int, str] = {
    500: "服务内部出错。", 503: "服务暂时不可用，请稍后再试。", 504: "处理超时，请稍后再试。",
}


def error_for_status(status: int, message: str | None = None) -> AppError:
    """Map a framework's HTTP status (e.g. werkzeug's 404/405/413) onto the error model."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = BadRequest if 400 <= status < 500 else InternalError
    return cls(message or _DEFAULT_MESSAGES.get(cls.status, "Error."))


def public_error(err: AppError) -> AppError:
    """The error as a client may see it: a 5xx keeps its status and code but its message is a
    fixed one, so nothing about the database, the driver or the network reaches a body."""
    if err.status < 500 or err.code in _OWN_5XX_MESSAGES:
        return err
    message = _PUBLIC_5XX.get(err.code) or _PUBLIC_BY_STATUS.get(err.status, "服务内部出错。")
    public = type(err).__new__(type(err))
    AppError.__init__(public, message, code=err.code, retry_after=err.retry_after)
    return public
