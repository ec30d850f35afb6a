"""The value every use case returns: a JSON body, a status and extra headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    """What an app turns into an HTTP response, unchanged, in Flask and in Quart."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
