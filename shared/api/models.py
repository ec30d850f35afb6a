"""Request and response models of the public API (pydantic 2).

Request models forbid unknown fields so a typo is a clear 400 naming the field, not a silent
no-op. Response models describe what both apps send; quart-schema checks them in Quart and
publishes them in ``/openapi.json``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.game.action import ACTION_TYPES
from shared.textclean import strip_control

# The action types are the rules' own list: a new action in shared/game is accepted (and listed
# in the OpenAPI enum) without an edit here. A type checker sees plain ``str``.
if TYPE_CHECKING:
    ACTION_TYPE = str
else:
    ACTION_TYPE = Literal[ACTION_TYPES]
TASK_STATE = Literal["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"]


# Characters that draw nothing: controls, spaces of every width, zero-width spaces and
# joiners, bidi marks, word joiners, the BOM, Hangul fillers, interlinear marks, tag
# characters. One class for the check and for the schema (``pattern``), so a generated
# "valid" name is one the API accepts.
INVISIBLE_CHARS = (
    "\x00-\x20\x7f-\xa0\xad\u034f\u061c\u115f\u1160\u1680\u180e\u2000-\u200f"
    "\u2028-\u202f\u205f-\u206f\u3000\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000e0000-\U000e007f"
)
VISIBLE_PATTERN = f"[^{INVISIBLE_CHARS}]"
_VISIBLE = re.compile(VISIBLE_PATTERN)


def has_visible(text: str) -> bool:
    """True when ``text`` has at least one character that draws something."""
    return _VISIBLE.search(text) is not None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HeirOfIn(_In):
    """The predecessor a new cultivator inherits from, proven by that player's token."""

    player_id: str = Field(min_length=1, max_length=64, description="the ended run's player id")
    token: str = Field(min_length=1, max_length=128, description="that player's token")


class CreatePlayerIn(_In):
    """``POST /api/players``: a new cultivator's name (1-24 characters after trimming), and
    optionally the ended run it inherits from (once per run)."""

    heir_of: HeirOfIn | None = Field(
        default=None, description="inherit the legacy of an ended run (its id and token)")

    name: str = Field(min_length=1, max_length=24, description="道号, 1-24 characters, at "
                      "least one visible", json_schema_extra={"pattern": VISIBLE_PATTERN})

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        cleaned = strip_control(value).strip()
        if not has_visible(cleaned):
            raise ValueError("name must contain visible characters")
        return cleaned


class ActionIn(_In):
    """``POST /api/players/{id}/actions``: one action; ``target``/``item``/``text`` as it needs."""

    type: ACTION_TYPE
    target: str | None = Field(
        default=None, max_length=64, description="location/monster/NPC id, or choice option id"
    )
    item: str | None = Field(default=None, max_length=64, description="item id for use_item")
    text: str | None = Field(
        default=None, max_length=2000, description="what the player says (talk); limited, cleaned"
    )
    count: int | None = Field(
        default=None, ge=1, le=999, strict=True,
        description="how many (buy, sell, exchange, craft, give); 1 when absent",
    )

    @field_validator("count", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # JSON Schema's "integer" includes 3.0; strict still refuses "3" and true.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class LogQuery(BaseModel):
    """``GET /api/players/{id}/log`` query: page size and the ``seq`` to page back from."""

    limit: int | None = Field(default=None, ge=1, le=100)
    # Bounded so the store never sees an integer its column cannot hold (a 500 otherwise).
    before: int | None = Field(default=None, ge=0, le=2**31 - 1)


class LLMPromptIn(_In):
    """``POST /api/llm`` and ``POST /api/llm/tasks``: a raw prompt for the narrator."""

    prompt: str = Field(min_length=1, max_length=2000, description="at least one visible "
                        "character", json_schema_extra={"pattern": VISIBLE_PATTERN})


class LLMPromptQuery(BaseModel):
    """``GET /api/llm?prompt=...``."""

    prompt: str = Field(min_length=1, max_length=2000, description="at least one visible "
                        "character", json_schema_extra={"pattern": VISIBLE_PATTERN})


class ErrorBody(BaseModel):
    """The error envelope's inner object."""

    code: str
    message: str


class ErrorOut(BaseModel):
    """``{"error": {"code", "message"}}``: every 4xx/5xx from both apps."""

    error: ErrorBody


class HealthOut(BaseModel):
    """``GET /healthz``."""

    status: str
    app: Literal["flask", "quart"]
    version: str
    llm_mode: Literal["online", "offline"]
    llm_backend: str


class ReadyOut(BaseModel):
    """``GET /readyz`` when ready."""

    status: Literal["ready"]
    app: Literal["flask", "quart"]


class NarrationOut(BaseModel):
    """Narration attached to an outcome."""

    text: str
    degraded: bool


class TaskRef(BaseModel):
    """Where to poll a narration or prompt handed to the Celery worker."""

    task_id: str
    status_url: str


class PlayerOut(BaseModel):
    """A player's own view: id, public state and optimistic-concurrency version."""

    player: dict[str, Any]
    version: int


class CreatePlayerOut(PlayerOut):
    """``POST /api/players``: the player and its secret token (shown once), and the opening
    测灵根 story (or its Celery task)."""

    token: str
    narration: NarrationOut | None = None
    narration_task: TaskRef | None = None


class ActionOut(BaseModel):
    """``POST /api/players/{id}/actions``: the decided outcome, the new state, the prose."""

    seq: int
    outcome: dict[str, Any]
    player: dict[str, Any]
    version: int
    narration: NarrationOut | None
    narration_task: TaskRef | None = None


class OptionChoiceOut(BaseModel):
    """One way to do an action now: its parameter, and whether the rules allow it (and why not)."""

    params: dict[str, str]
    name: str
    ok: bool
    reason: str | None
    code: str | None


class ActionOptionOut(BaseModel):
    """One action type with its Chinese label and every candidate."""

    type: str
    label: str
    choices: list[OptionChoiceOut]


class OptionsOut(BaseModel):
    """``GET /api/players/{id}/options``: what the player can do now, for the page's controls."""

    version: int
    options: list[ActionOptionOut]


class LogEntryOut(BaseModel):
    """One line of a player's history."""

    seq: int
    action: dict[str, Any]
    summary: str
    outcome: dict[str, Any]
    narration: str | None
    degraded: bool | None
    created_at: str


class LogOut(BaseModel):
    """``GET /api/players/{id}/log``: newest first; pass ``next_before`` as ``before``."""

    entries: list[LogEntryOut]
    next_before: int | None


HALL_KIND = Literal["ascended", "died"]


class HallQuery(BaseModel):
    """``GET /api/hall?limit=&kind=``: the hall of 飞升者 (``ascended``) by default."""

    limit: int | None = Field(default=None, ge=1, le=100)
    kind: HALL_KIND | None = Field(default=None, description="ascended (default) or died")


class HallEntryOut(BaseModel):
    """One ended run as the public hall shows it (nothing secret)."""

    name: str
    kind: HALL_KIND
    realm: str
    root: str
    cause: str | None
    cause_text: str
    age: int
    day: int
    turns: int
    kills: int
    legacy_from: str | None
    recorded_at: str


class HallOut(BaseModel):
    """``GET /api/hall``: the newest records of one kind."""

    kind: HALL_KIND
    entries: list[HallEntryOut]


class LLMTextOut(BaseModel):
    """``/api/llm``: the text and where it came from."""

    text: str
    model: str | None
    usage: dict[str, Any] | None
    degraded: bool
    reason: str | None = Field(
        default=None, description="why the text is offline: player_budget, "
        "global_minute_budget, global_daily_budget, or the upstream failure")


class TaskSubmittedOut(TaskRef):
    """``POST /api/llm/tasks`` (202)."""


class TaskOut(BaseModel):
    """``GET /api/llm/tasks/{id}``."""

    task_id: str
    state: TASK_STATE
    result: dict[str, Any] | None = None
    error: str | None = None


class WorldIndexOut(BaseModel):
    """``GET /api/world``: which catalogues exist and their sizes."""

    kinds: list[str]
    counts: dict[str, int]


class WorldCatalogOut(BaseModel):
    """``GET /api/world/{kind}``."""

    kind: str
    entries: list[dict[str, Any]]
