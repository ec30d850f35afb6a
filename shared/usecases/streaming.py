"""The streamed action: Server-Sent Events ``outcome`` → ``delta``* → ``done``.

Written once as a generator that yields effects and :class:`Emit` chunks; Flask runs it with
``stream_sync``, Quart with ``stream_async``. The outcome is committed before the stream
starts, so a client that disconnects mid-narration loses only prose, never the action.
"""

from __future__ import annotations

from shared.api.http import sse_event
from shared.game import NarrationRequest
from shared.limits import flows as budget
from shared.usecases import effects as fx
from shared.usecases import talk_memory as memory
from shared.usecases.actions import (
    Committed,
    memory_of,
    narrate_committed,
    save_streamed_narration,
)
from shared.usecases.context import GameContext
from shared.usecases.effects import UseCase
from shared.usecases.views import narration_view


def narration_events(ctx: GameContext, committed: Committed) -> UseCase[None]:
    """The event stream of one committed action."""
    if committed.narration is not None or ctx.deferred_narration:
        # Nothing to stream live: a replay with stored prose, or prose owed by the worker.
        reply = yield from narrate_committed(ctx, committed)
        yield fx.Emit(sse_event("outcome", {**reply.body, "narration": None}))
        narration = reply.body["narration"]
        if narration is not None:
            yield fx.Emit(sse_event("delta", {"text": narration["text"]}))
        yield fx.Emit(sse_event("done", {"narration": narration,
                                         "narration_task": reply.body["narration_task"]}))
        return
    yield fx.Emit(sse_event("outcome", committed.body(None)))
    request = NarrationRequest.from_dict(committed.narration_request)
    # A talk streams the NPC's words with its memory of the player in the prompt.
    request = yield from memory.recall(committed.player_id, request,
                                       memory.MemoryPolicy.from_settings(ctx.settings))
    grant = yield from budget.reserve_tokens(ctx, committed.player_id)
    stream = yield from fx.OpenNarrationStream(request, user_id=committed.player_id,
                                               offline_reason=grant.offline_reason)
    while (delta := (yield from fx.NextDelta(stream))) is not None:
        yield fx.Emit(sse_event("delta", {"text": delta}))
    told = stream.result
    yield from budget.settle_tokens(grant, budget.tokens_used(told))
    talk = memory_of(ctx, committed.player_id, committed.seq, request)
    if (yield from save_streamed_narration(committed, told.text, told.degraded, talk)) and talk:
        yield from talk.fold()
    yield fx.Emit(sse_event("done", {"narration": narration_view(told.text, told.degraded),
                                     "narration_task": None}))
