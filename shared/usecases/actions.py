"""The action use case: check, apply the rules, commit once, then narrate.

Split in two phases so the streaming route can send the decided outcome before the prose:
:func:`commit_action` ends with a :class:`Committed` (the state is saved), then
:func:`narrate_committed` asks for the prose (inline, or queued in Celery mode).
:func:`perform_action` is the two in a row. Retries of a request with the same
``Idempotency-Key`` are answered from the first result and change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from shared.ai.narrator import Narration
from shared.errors import BadRequest, Conflict, IdempotencyKeyReused, RateLimited
from shared.game import Action, NarrationRequest, PlayerState, apply_action, next_seed
from shared.limits import flows as budget
from shared.store import (
    REPLAY,
    Commit,
    Decision,
    LogEntry,
    LogEntryNotFound,
    NewLogEntry,
    PlayerRow,
    VersionConflict,
)
from shared.textclean import clean_player_text
from shared.usecases import effects as fx
from shared.usecases import talk_memory as memory
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.hall import ended_run, record_if_ended
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


class _Rules:
    """``decide`` for one action: auth, idempotency, rate limit and the rules, all pure.

    The store calls it with the player's row locked, so what it checks cannot change before
    its verdict is written. It keeps the last outcome it decided for :func:`commit_action`.
    """

    def __init__(self, ctx: GameContext, player_id: str, token: str | None,
                 action: dict[str, Any], key: str | None) -> None:
        self.ctx = ctx
        self.player_id = player_id
        self.token = token
        self.action = action
        self.key = key
        self.committed: Committed | None = None

    def __call__(self, found: PlayerRow | None, recent: int, prior: LogEntry | None) -> Decision:
        self.committed = None
        row = check_token(self.player_id, self.token, found)
        if prior is not None:
            _replay(self.player_id, prior, self.action)  # 422 for a key reused elsewhere
            return REPLAY
        limit = self.ctx.settings.action_rate_per_minute
        if limit > 0 and recent >= limit:
            raise RateLimited(f"每分钟最多 {limit} 次行动，请稍后再试。",
                              retry_after=RATE_WINDOW_SECONDS)
        act = Action(
            type=self.action["type"],
            target=self.action.get("target"),
            item=self.action.get("item"),
            text=clean_player_text(self.action.get("text"), self.ctx.settings.player_text_max),
            count=self.action.get("count"),  # buy/sell/exchange/craft/give
        )
        state = PlayerState.from_dict(row.state)
        # The hidden fate: the player's server secret and fate counter seed the roll.
        outcome = apply_action(self.ctx.world, state, act, next_seed(self.player_id, state))
        new_state = outcome.state.to_dict()
        version = row.version + 1
        public = outcome.to_dict()
        entry = NewLogEntry(
            seq=outcome.state.turn,
            action=_stored_action(self.action),
            outcome={**public, "state": new_state, "version": version},
            narration_request=outcome.narration.to_dict(),
            idempotency_key=self.key,
        )
        self.committed = Committed(self.player_id, entry.seq, public, new_state, version,
                                   entry.narration_request)
        # The action that ends the story enters the hall in its own commit.
        return Commit(new_state, entry, hall=ended_run(self.ctx, self.player_id, outcome.state))


def commit_action(
    ctx: GameContext,
    player_id: str,
    token: str | None,
    action: dict[str, Any],
    idempotency_key: str | None = None,
) -> UseCase[Committed]:
    """Authorize, rate-limit, apply the rules and commit exactly once.

    One :class:`~shared.usecases.effects.TransactPlayer`: every check runs inside the
    player's serialised transaction, so concurrent actions queue instead of racing, and the
    rate limit holds under any concurrency. A version conflict can still come from a writer
    outside that transaction (an older instance during a canary); the action is then decided
    again on the newer state.
    """
    key = check_idempotency_key(idempotency_key)
    require_token(token)
    limit = ctx.settings.action_rate_per_minute
    rules = _Rules(ctx, player_id, token, action, key)
    for _ in range(MAX_COMMIT_ATTEMPTS):
        try:
            result = yield from fx.TransactPlayer(
                player_id, rules, recent_seconds=RATE_WINDOW_SECONDS if limit > 0 else 0,
                idempotency_key=key,
            )
        except VersionConflict:
            continue
        if result.replayed or rules.committed is None:
            committed = _replay(player_id, result.entry, action)
            # Committed without its hall record (before actions carried it): entered now, once.
            yield from record_if_ended(ctx, player_id, committed.state)
        else:
            committed = replace(rules.committed, version=result.version)
        return committed
    raise Conflict("这位修士的状态正被同时改动，行动未能生效，请再试一次。")


Saved = Callable[[Narration], UseCase[None]]
"""A step run once the prose of an entry was stored by this very call (NPC memory)."""


def tell_entry(
    player_id: str, seq: int, narrate: UseCase[Narration], *, fill_only: bool = False,
    saved: Saved | None = None, talk: memory.MemoryWrite | None = None,
) -> UseCase[Narration]:
    """Narrate log entry ``seq`` with the ``narrate`` step and store its prose; the narration
    that is stored.

    ``narrate`` is the apps' budgeted narration (``shared.limits.flows.narrate``) or the
    worker's plain ``fx.Narrate`` (its call was reserved when it was queued). ``fill_only``
    stores the prose only where the entry has none (a replay, a redelivered task): prose a
    player may already have read is never overwritten, and when someone else filled it
    first, theirs is what this answers too. ``talk`` (a talk's entry) stores the NPC's reply
    as the pair's next exchange in the prose's own commit, then folds the conversation.
    ``saved`` runs only when this call stored the prose, so what it does happens once per
    entry.
    """
    told = yield from narrate
    if (yield from store_prose(player_id, seq, told.text, told.degraded, fill_only, talk)):
        if talk is not None:
            yield from talk.fold()
        if saved is not None:
            yield from saved(told)
        return told
    entry = yield from _entry(player_id, seq)
    if entry is None or entry.narration is None:
        return told
    return Narration(entry.narration, bool(entry.degraded))


def store_prose(player_id: str, seq: int, text: str, degraded: bool, only_if_missing: bool,
                talk: memory.MemoryWrite | None = None) -> UseCase[bool]:
    """Store entry ``seq``'s prose (only where it has none with ``only_if_missing``), with
    the NPC's reply as the pair's next exchange for a ``talk`` that replied; True when this
    call stored it."""
    if talk is not None and text:
        return (yield from talk.save(text, degraded, only_if_missing=only_if_missing))
    if only_if_missing:
        return (yield from fx.FillNarration(player_id, seq, text, degraded))
    yield from fx.SaveNarration(player_id, seq, text, degraded)
    return True


def _entry(player_id: str, seq: int) -> UseCase[LogEntry | None]:
    entries = yield from fx.ListLog(player_id, 1, seq + 1)
    return next((e for e in entries if e.seq == seq), None)


def memory_of(ctx: GameContext, player_id: str, seq: int,
                request: NarrationRequest) -> memory.MemoryWrite | None:
    """How entry ``seq``'s prose is stored when it is a talk (None otherwise): with the NPC's
    reply as the pair's next exchange; a summary refresh is a budgeted narration charged to
    the player."""

    def summarise(req: NarrationRequest) -> UseCase[Narration]:
        told: Narration = yield from budget.narrate(ctx, req, player_id)
        return told

    return memory.memory_write(player_id, seq, request,
                               memory.MemoryPolicy.from_settings(ctx.settings), summarise)


def narrate_entry(
    player_id: str, seq: int, request: dict[str, Any], user_id: str | None = None,
    *, ctx: GameContext | None = None,
) -> UseCase[tuple[Narration, bool]]:
    """The Celery worker's narration of entry ``seq``: ``(narration, replayed)``.

    Idempotent: an entry that already has prose (a redelivered task, a second submit for the
    same turn) answers that prose without narrating. ``LogEntryNotFound`` when there is no
    such entry. With ``ctx`` (the worker's world and settings) a talk remembers: the NPC's
    memory goes into the prompt and the reply is saved as the next exchange.
    """
    entry = yield from _entry(player_id, seq)
    if entry is None:
        raise LogEntryNotFound(player_id, seq)
    if entry.narration is not None:
        return Narration(entry.narration, bool(entry.degraded)), True
    req = NarrationRequest.from_dict(request)
    talk: memory.MemoryWrite | None = None
    if ctx is not None:
        req = yield from memory.recall(player_id, req, memory.MemoryPolicy.from_settings(
            ctx.settings))
        talk = memory_of(ctx, player_id, seq, req)
    narrate = iter(fx.Narrate(req, user_id))
    return (yield from tell_entry(player_id, seq, narrate, fill_only=True, talk=talk)), False


def narrate_committed(ctx: GameContext, committed: Committed) -> UseCase[Reply]:
    """Attach prose to a committed action (or queue it), and build the response.

    A replay of an entry still without prose (its narration was cut by a crash) narrates
    again and stores what it told, if nobody stored prose meanwhile.
    """
    if committed.narration is not None:
        narration = narration_view(committed.narration, committed.degraded)
        return Reply(committed.body(narration), headers=committed.headers())
    request = NarrationRequest.from_dict(committed.narration_request)
    narrate: UseCase[Narration]
    policy = memory.MemoryPolicy.from_settings(ctx.settings)
    if ctx.deferred_narration:
        # The worker makes the call; its reservation stays charged (it is not settled).
        grant = yield from budget.reserve_tokens(ctx, committed.player_id)
        if grant.offline_reason is None:
            task_id = yield from fx.QueueNarration(
                committed.player_id, committed.seq, committed.narration_request
            )
            task = {"task_id": task_id, "status_url": f"/api/llm/tasks/{task_id}"}
            return Reply(committed.body(None, task), headers=committed.headers())
        request = yield from memory.recall(committed.player_id, request, policy)
        narrate = iter(fx.Narrate(request, committed.player_id, grant.offline_reason))
    else:
        request = yield from memory.recall(committed.player_id, request, policy)
        narrate = budget.narrate(ctx, request, committed.player_id)
    told = yield from tell_entry(committed.player_id, committed.seq, narrate,
                                 fill_only=committed.replayed,
                                 talk=memory_of(ctx, committed.player_id, committed.seq,
                                                request))
    body = committed.body(narration_view(told.text, told.degraded))
    return Reply(body, headers={**committed.headers(), **degraded_headers(told)})


def degraded_headers(told: Narration) -> dict[str, str]:
    """``Narration-Degraded-Reason`` on offline prose (e.g. ``player_budget``): the body stays
    what a replay of the same action answers."""
    reason = told.reason
    return {"Narration-Degraded-Reason": reason} if told.degraded and reason else {}


def save_streamed_narration(
    committed: Committed, text: str, degraded: bool, talk: memory.MemoryWrite | None = None
) -> UseCase[bool]:
    """After a streamed narration: store the full text on the log entry (only where it has
    none, on a replay), with the NPC's reply as its next exchange for a ``talk``; True when
    this call stored it."""
    return (yield from store_prose(committed.player_id, committed.seq, text, degraded,
                                   committed.replayed, talk))


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
