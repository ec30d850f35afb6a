"""Text hygiene for anything a player types that may reach the LLM or a log (pure)."""

from __future__ import annotations

import re
import unicodedata

from shared.errors import ValidationFailed

# C0/C1 controls except tab and newline, plus bidi overrides that can disguise text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_control(text: str) -> str:
    """Remove control characters (keeping tab and newline) and normalise to NFC."""
    return unicodedata.normalize("NFC", _CONTROL.sub("", text))


def clean_player_text(text: str | None, limit: int, field: str = "text") -> str | None:
    """Free text bound for the LLM: controls stripped, trimmed; over ``limit`` is a 400."""
    if text is None:
        return None
    cleaned = strip_control(text).strip()
    if len(cleaned) > limit:
        raise ValidationFailed(f"{field}: at most {limit} characters (got {len(cleaned)})")
    return cleaned or None
