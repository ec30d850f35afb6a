"""NPCs that remember (issue 10): a talk's narration sees the conversation, and the NPC's
reply is saved as its next exchange.

Two steps around every talk narration, whichever path tells it (the JSON route, the SSE
stream, the Celery worker):

- :func:`recall` before: the pair's summary and last ``NPC_MEMORY_EXCHANGES`` exchanges are
  loaded into a :class:`~shared.game.memory.TalkRequest` (the prompt book lays them out as
  prior turns; the offline prose reads "returning" and the last topic from them);
- :func:`remember` after, and only by the caller that stored the prose (so a replayed
  Idempotency-Key or a redelivered task never appends twice): the exchange is appended; the
  ones pushed out of the verbatim window are folded into the summary, and a summary that
  would pass ``NPC_SUMMARY_CHARS`` is refreshed by ``summarise`` (the budgeted narration: an
  LLM call charged to the player, the offline digest when there is no key or budget).

The summary is written with a compare-and-set on the one it was built from, so two
concurrent refreshes cannot drop each other's exchanges: the loser rebuilds from the winner's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.ai.errors import LLMError
from shared.config import Settings
from shared.game import NarrationRequest
from shared.game.memory import digest, fold, npc_of, summary_request, with_memory, within
from shared.logging_setup import get_logger
from shared.store import Conversation, Exchange
from shared.usecases.effects import MaybeAwaitable, Store, StoreEffect, UseCase

if TYPE_CHECKING:
    from shared.ai.narrator import Narration

# Compare-and-set attempts at storing a folded summary; only the first may call the LLM
# (a lost race is rare: later attempts fold offline rather than pay twice).
MAX_SUMMARY_ATTEMPTS = 4

Summarise = Callable[[NarrationRequest], UseCase["Narration"]]
"""How a summary refresh is told: the apps' budgeted narration of the request."""


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    """How much an NPC remembers verbatim, and the summary's bound in characters."""

    exchanges: int = 6
    summary_chars: int = 400

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryPolicy:
        """``NPC_MEMORY_EXCHANGES`` and ``NPC_SUMMARY_CHARS``."""
        return cls(max(0, settings.npc_memory_exchanges), max(1, settings.npc_summary_chars))


# -- store effects ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadConversation(StoreEffect[Conversation]):
    """The pair's summary and last exchanges (empty when they never talked)."""

    player_id: str
    npc_id: str

    def call(self, store: Store) -> MaybeAwaitable[Conversation]:
        """``store.get_conversation``."""
        return store.get_conversation(self.player_id, self.npc_id)


@dataclass(frozen=True, slots=True)
class AppendExchange(StoreEffect["list[Exchange]"]):
    """Append an exchange, keep ``keep`` verbatim; the ones pushed out (to fold)."""

    player_id: str
    npc_id: str
    exchange: Exchange
    keep: int

    def call(self, store: Store) -> MaybeAwaitable[list[Exchange]]:
        """``store.append_exchange``."""
        return store.append_exchange(self.player_id, self.npc_id, self.exchange, self.keep)


@dataclass(frozen=True, slots=True)
class SetSummary(StoreEffect[bool]):
    """Store the summary if the stored one is still ``previous``; True when it wrote."""

    player_id: str
    npc_id: str
    summary: str
    previous: str

    def call(self, store: Store) -> MaybeAwaitable[bool]:
        """``store.set_conversation_summary`` with ``previous`` (compare-and-set)."""
        return store.set_conversation_summary(self.player_id, self.npc_id, self.summary,
                                              previous=self.previous)


# -- the two steps ----------------------------------------------------------------------------


def recall(player_id: str, request: NarrationRequest,
           policy: MemoryPolicy) -> UseCase[NarrationRequest]:
    """``request`` with the NPC's memory of the player attached (other kinds unchanged)."""
    npc_id = npc_of(request)
    if npc_id is None:
        return request
    conversation = yield from LoadConversation(player_id, npc_id)
    return with_memory(request, conversation.summary, conversation.exchanges,
                       policy.exchanges)


def remember(player_id: str, seq: int, request: NarrationRequest, reply: str,
             policy: MemoryPolicy, summarise: Summarise) -> UseCase[None]:
    """Save the NPC's ``reply`` to the talk of entry ``seq`` as the pair's next exchange, and
    fold what it pushes out of the verbatim window into the summary.

    Call it once per action: where this caller stored the entry's prose.
    """
    npc_id = npc_of(request)
    if npc_id is None or not reply:
        return
    exchange: Exchange = {"player": request.player_text or "", "npc": reply, "turn": seq}
    pushed = yield from AppendExchange(player_id, npc_id, exchange, policy.exchanges)
    if pushed:
        npc_name = str(request.facts.get("npc", ""))
        yield from fold_summary(player_id, npc_id, npc_name, pushed, policy, summarise)


def fold_summary(player_id: str, npc_id: str, npc_name: str, pushed: list[Exchange],
                 policy: MemoryPolicy, summarise: Summarise) -> UseCase[str]:
    """Fold ``pushed`` into the pair's summary; the summary stored.

    Within the bound the lines are appended as they are; past it the summary is rewritten
    by ``summarise`` (held to the bound), offline as the digest that keeps the newest lines.
    """
    bound = policy.summary_chars
    for attempt in range(MAX_SUMMARY_ATTEMPTS):
        current = (yield from LoadConversation(player_id, npc_id)).summary
        folded = fold(current, pushed, npc_name)
        if len(folded) <= bound:
            new = folded
        elif attempt == 0:
            try:
                told = yield from summarise(summary_request(npc_name, current, pushed, bound))
            except LLMError:
                # Only a strict worker's narrator raises: the reply is already saved, so the
                # pushed exchanges must still land, offline.
                new = digest(folded, bound)
            else:
                new = within(told.text, bound) or digest(folded, bound)
        else:
            new = digest(folded, bound)
        if (yield from SetSummary(player_id, npc_id, new, current)):
            return new
    get_logger("talk_memory").warning(
        "conversation summary of %s/%s kept losing its compare-and-set; %d exchanges unfolded",
        player_id, npc_id, len(pushed))
    return current

