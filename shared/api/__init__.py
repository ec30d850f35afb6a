"""What both apps share at the HTTP edge: request/response models, body parsing, views.

Models are pydantic so quart-schema validates with them in Quart and
:func:`validate` does the same in Flask, with the same error text.
"""

from shared.api.bodies import parse_json_body, validate, validation_message
from shared.api.models import (
    ActionIn,
    ActionOut,
    CreatePlayerIn,
    CreatePlayerOut,
    HealthOut,
    LLMPromptIn,
    LLMPromptQuery,
    LLMTextOut,
    LogOut,
    LogQuery,
    PlayerOut,
    TaskOut,
    TaskSubmittedOut,
    WorldCatalogOut,
    WorldIndexOut,
)

__all__ = [
    "ActionIn",
    "ActionOut",
    "CreatePlayerIn",
    "CreatePlayerOut",
    "HealthOut",
    "LLMPromptIn",
    "LLMPromptQuery",
    "LLMTextOut",
    "LogOut",
    "LogQuery",
    "PlayerOut",
    "TaskOut",
    "TaskSubmittedOut",
    "WorldCatalogOut",
    "WorldIndexOut",
    "parse_json_body",
    "validate",
    "validation_message",
]
