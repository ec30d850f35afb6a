"""Body parsing and validation with one set of error messages for both apps."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from shared.errors import (
    BadRequest,
    InternalError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

T = TypeVar("T")

_JSON_TYPES = ("application/json",)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime in _JSON_TYPES or (mime.startswith("application/") and mime.endswith("+json"))


def parse_json_body(raw: bytes, content_type: str | None, max_bytes: int) -> Any:
    """Decode a JSON request body or raise the matching client error (413, 415, 400)."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge("The request body is too large.")
    if not _is_json(content_type):
        raise UnsupportedMediaType("Send the body as application/json.")
    try:
        # json.loads on bytes reads UTF-8 (with or without a BOM), UTF-16 and UTF-32 alike;
        # both apps validate what this returns and never decode the body a second time.
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        # json's messages carry line/column, which helps a client find the mistake.
        raise BadRequest(f"Malformed JSON body: {exc}", code="malformed_json") from None
    except RecursionError:
        # ~1,000 nested arrays exhaust the parser's recursion: the client's fault, not ours.
        raise BadRequest("Malformed JSON body: nested too deeply.",
                         code="malformed_json") from None


def read_capped(read: Callable[[int], bytes], max_bytes: int, chunk: int = 16384) -> bytes:
    """Read a body of unknown length (chunked) through ``read(n)`` to its end, or raise 413 as
    soon as it passes ``max_bytes``: never parse a body cut at the limit."""
    parts: list[bytes] = []
    size = 0
    while True:
        data = read(chunk)
        if not data:
            return b"".join(parts)
        size += len(data)
        if size > max_bytes:
            raise PayloadTooLarge("The request body is too large.")
        parts.append(data)


def validation_message(error: ValidationError | Exception) -> str:
    """One line naming each bad field, e.g. ``name: String should have at most 24 characters``."""
    if not isinstance(error, ValidationError):
        return str(error) or "The request does not match its schema."
    parts = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item.get("loc", ())) or "body"
        parts.append(f"{loc}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


@lru_cache(maxsize=64)
def _cached_adapter(model: Hashable) -> TypeAdapter[Any]:
    return TypeAdapter(cast(Any, model))


def _adapter(model: Any) -> TypeAdapter[Any]:
    return _cached_adapter(cast(Hashable, model))


def validate(model: type[T], data: Any) -> T:
    """Validate ``data`` as quart-schema does (``TypeAdapter(model).validate_python``)."""
    try:
        return cast(T, _adapter(model).validate_python(data))
    except ValidationError as exc:
        raise ValidationFailed(validation_message(exc)) from None


def validate_response_model(model: type[T], body: Any) -> T:
    """A response body as an instance of its model (500 if the body does not fit)."""
    try:
        return cast(T, _adapter(model).validate_python(body))
    except ValidationError as exc:
        raise InternalError(f"Response does not match {model.__name__}: {exc}") from None


def dump_response(model: type[Any], body: Any) -> Any:
    """Check a response body against its model and return its JSON form (500 if it is wrong)."""
    return _adapter(model).dump_python(validate_response_model(model, body), mode="json")
