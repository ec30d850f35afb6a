"""The action use case: check, apply the rules, commit once, then narrate.

Split in two phases so the streaming route can send the decided outcome before the prose:
:func:`commit_action` ends with a :class:`Committed` (the state is saved), then
:func:`narrate_committed` asks for the prose (inline, or queued in Celery mode).
:func:`perform_action` is the two in a row. Retries of a request with the same
``Idempotency-Key`` are answered from the first result and change nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest, Conflict, IdempotencyKeyReused, RateLimited
from shared.game import Action, NarrationRequest, PlayerState, action_seed, apply_action
from shared.limits import flows as budget
from shared.store import LogEntry, NewLogEntry, VersionConflict
from shared.textclean import clean_player_text
from shared.usecases import effects as fx
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.players import check_token, require_token
from shared.usecases.replies import Reply
from shared.usecases.views import narration_view, player_view, public_outcome

# Attempts at applying an action when other requests keep moving the player's version.
MAX_COMMIT_ATTEMPTS = 5
RATE_WINDOW_SECONDS = 60  # ACTION_RATE_PER_MINUTE counts the actions in this window
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # fullmatch: no trailing newline


@dataclass(frozen=True, slots=True)
class Committed:
    """An action that is saved; what remains is the prose."""

    player_id: str
    seq: int
    outcome: dict[str, Any]  # public outcome
    state: dict[str, Any]
    version: int
    narration_request: dict[str, Any]
    narration: str | None = None  # present when replaying an entry that has prose
    degraded: bool | None = None
    replayed: bool = False

    def body(self, narration: Any, task: dict[str, str] | None = None) -> dict[str, Any]:
        """The action response body."""
        return {
            "seq": self.seq,
            "outcome": self.outcome,
            "player": player_view(self.player_id, self.state),
            "version": self.version,
            "narration": narration,
            "narration_task": task,
        }

    def headers(self) -> dict[str, str]:
        """``Idempotent-Replayed: true`` on a replay, so the body stays identical."""
        return {"Idempotent-Replayed": "true"} if self.replayed else {}


def check_idempotency_key(key: str | None) -> str | None:
    """Accept 1-128 printable ASCII characters, or no key."""
    if key is None or key == "":
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters.",
                         code="bad_idempotency_key")
    return key


def _stored_action(action: dict[str, Any]) -> dict[str, Any]:
    """The action as its log entry keeps it (absent fields dropped)."""
    return {k: v for k, v in action.items() if v is not None}


def _replay(player_id: str, entry: LogEntry, action: dict[str, Any]) -> Committed:
    """The first result of a key, if the key was used for this very action; a key reused for
    a different action is a 422, never the other action's result."""
    if entry.action != _stored_action(action):
        raise IdempotencyKeyReused(
            "这个 Idempotency-Key 已用于另一个行动，请为新的行动换一个。")
    return _from_entry(player_id, entry)


def _from_entry(player_id: str, entry: LogEntry) -> Committed:
    stored = entry.outcome
    return Committed(
        player_id=player_id,
        seq=entry.seq,
        outcome=public_outcome(stored),
        state=stored.get("state", {}),
        version=int(stored.get("version", 0)),
        narration_request=entry.narration_request,
        narration=entry.narration,
        degraded=entry.degraded,
        replayed=True,
    )


def commit_action(
    ctx: GameContext,
    player_id: str,
    token: str | None,
    action: dict[str, Any],
    idempotency_key: str | None = None,
) -> UseCase[Committed]:
    """Authorize, rate-limit, apply the rules and commit exactly once."""
    key = check_idempotency_key(idempotency_key)
    limit = ctx.settings.action_rate_per_minute
    require_token(token)
    if limit > 0:
        # One trip for the player and its recent actions: this is the hot path.
        found, recent = yield from fx.LoadPlayerWithRecent(player_id, RATE_WINDOW_SECONDS)
    else:
        found, recent = (yield from fx.LoadPlayer(player_id)), 0
    row = check_token(player_id, token, found)
    if key is not None:
        prior = yield from fx.FindIdempotent(player_id, key)
        if prior is not None:
            return _replay(player_id, prior, action)
    if limit > 0 and recent >= limit:
        raise RateLimited(f"每分钟最多 {limit} 次行动，请稍后再试。",
                          retry_after=RATE_WINDOW_SECONDS)
    act = Action(
        type=action["type"],
        target=action.get("target"),
        item=action.get("item"),
        text=clean_player_text(action.get("text"), ctx.settings.player_text_max),
    )
    for _ in range(MAX_COMMIT_ATTEMPTS):
        state = PlayerState.from_dict(row.state)
        outcome = apply_action(ctx.world, state, act, action_seed(player_id, state.turn))
        new_state = outcome.state.to_dict()
        seq = outcome.state.turn
        version = row.version + 1
        public = outcome.to_dict()
        entry = NewLogEntry(
            seq=seq,
            action=_stored_action(action),
            outcome={**public, "state": new_state, "version": version},
            narration_request=outcome.narration.to_dict(),
            idempotency_key=key,
        )
        try:
            result = yield from fx.CommitAction(player_id, row.version, new_state, entry)
        except VersionConflict:
            # Someone else moved the player: re-apply the action to the newer state.
            row = check_token(player_id, token, (yield from fx.LoadPlayer(player_id)))
            continue
        if result.replayed:
            return _replay(player_id, result.entry, action)
        return Committed(player_id, seq, public, new_state, result.version,
                         entry.narration_request)
    raise Conflict("The player kept changing while this action was applied; try again.")


def narrate_committed(ctx: GameContext, committed: Committed) -> UseCase[Reply]:
    """Attach prose to a committed action (or queue it), and build the response."""
    if committed.narration is not None:
        narration = narration_view(committed.narration, committed.degraded)
        return Reply(committed.body(narration), headers=committed.headers())
    request = NarrationRequest.from_dict(committed.narration_request)
    if ctx.deferred_narration:
        # The worker makes the call; its reservation stays charged (it is not settled).
        grant = yield from budget.reserve_tokens(ctx, committed.player_id)
        if grant.offline_reason is None:
            task_id = yield from fx.QueueNarration(
                committed.player_id, committed.seq, committed.narration_request
            )
            task = {"task_id": task_id, "status_url": f"/api/llm/tasks/{task_id}"}
            return Reply(committed.body(None, task), headers=committed.headers())
        told = yield from fx.Narrate(request, user_id=committed.player_id,
                                     offline_reason=grant.offline_reason)
    else:
        told = yield from budget.narrate(ctx, request, committed.player_id)
    if not committed.replayed:
        # A replay of an entry still waiting for prose narrates again but saves nothing.
        yield from fx.SaveNarration(committed.player_id, committed.seq, told.text, told.degraded)
    body = committed.body(narration_view(told.text, told.degraded))
    return Reply(body, headers={**committed.headers(), **degraded_headers(told)})


def degraded_headers(told: Any) -> dict[str, str]:
    """``Narration-Degraded-Reason`` on offline prose (e.g. ``player_budget``): the body stays
    what a replay of the same action answers."""
    reason = getattr(told, "reason", None)
    return {"Narration-Degraded-Reason": str(reason)} if told.degraded and reason else {}


def save_streamed_narration(
    committed: Committed, text: str, degraded: bool
) -> UseCase[None]:
    """After a streamed narration: store the full text on the log entry."""
    if not committed.replayed:
        yield from fx.SaveNarration(committed.player_id, committed.seq, text, degraded)


def perform_action(
    ctx: GameContext,
    player_id: str,
    token: str | None,
    action: dict[str, Any],
    idempotency_key: str | None = None,
) -> UseCase[Reply]:
    """One whole action: commit, then narrate."""
    committed = yield from commit_action(ctx, player_id, token, action, idempotency_key)
    return (yield from narrate_committed(ctx, committed))
