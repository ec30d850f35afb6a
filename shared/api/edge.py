"""Checks every request passes before a view runs, written once for both apps.

Each app calls :func:`check_request` from a ``before_request`` hook and converts its query
string with :func:`query_args`, so an odd request (an overlong target, huge headers, an id
that cannot exist, a repeated query key) gets the same answer from Flask and from Quart, and
an id that cannot exist never reaches the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared.errors import HeadersTooLarge, NotFound, UnknownPlayer, UriTooLong, ValidationFailed

# A player id is what shared.usecases.identity makes: uuid4().hex.
PLAYER_ID = re.compile(r"[0-9a-f]{32}")
# Task ids are Celery's (uuid4 with dashes); anything else was never issued.
TASK_ID = re.compile(r"[0-9A-Za-z-]{1,64}")

TASK_NOT_FOUND = "找不到这个任务。"


def check_request(path: str, query_string: bytes | str, headers: Iterable[tuple[str, str]],
                  view_args: Mapping[str, Any] | None, *, max_target_chars: int,
                  max_header_bytes: int) -> None:
    """Raise the shared error for a request no view should see: a target over
    ``max_target_chars`` (414), headers over ``max_header_bytes`` (431), a path id that
    cannot exist (404)."""
    if len(path) + len(query_string) + 1 > max_target_chars:
        raise UriTooLong("请求的地址太长。")
    size = 0
    for name, value in headers:
        size += len(name) + len(value) + 4  # "name: value\r\n"
    if size > max_header_bytes:
        raise HeadersTooLarge("请求头太大。")
    if view_args:
        check_path_ids(view_args)


def check_path_ids(view_args: Mapping[str, Any]) -> None:
    """404 for a ``player_id`` or ``task_id`` of the wrong shape (NUL, overlong, other
    characters), before anything is looked up."""
    player_id = view_args.get("player_id")
    if player_id is not None and not PLAYER_ID.fullmatch(str(player_id)):
        raise UnknownPlayer()
    task_id = view_args.get("task_id")
    if task_id is not None and not TASK_ID.fullmatch(str(task_id)):
        raise NotFound(TASK_NOT_FOUND, code="task_not_found")


def query_args(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A query string as one value per key. A repeated key or a ``key[]`` form is a 400 naming
    the key (one answer for both apps: Flask would take the first value, quart-schema a
    list)."""
    out: dict[str, str] = {}
    for key, value in items:
        if key.endswith("[]"):
            raise ValidationFailed(f"{key[:-2] or key}: give one value, not a list")
        if key in out:
            raise ValidationFailed(f"{key}: give this query parameter once")
        out[key] = value
    return out
