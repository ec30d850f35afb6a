"""NPCs that remember (issue 10): a talk's narration sees the conversation, and the NPC's
reply is saved as its next exchange.

Two steps around every talk narration, whichever path tells it (the JSON route, the SSE
stream, the Celery worker):

- :func:`recall` before: the pair's summary and last ``NPC_MEMORY_EXCHANGES`` exchanges are
  loaded into a :class:`~shared.game.memory.TalkRequest` (the prompt book lays them out as
  prior turns; the offline prose reads "returning" and the last topic from them);
- :class:`MemoryWrite` after: the NPC's reply is stored as the pair's next exchange in the
  same transaction as the entry's prose (:meth:`MemoryWrite.save`), so only the caller that
  stored the prose appends (a replayed Idempotency-Key or a redelivered task never appends
  twice) and a crash cannot keep one without the other. Then the exchanges past the
  verbatim window are folded into the summary (:meth:`MemoryWrite.fold`); a summary that
  would pass ``NPC_SUMMARY_CHARS`` is refreshed by ``summarise`` (the budgeted narration: an
  LLM call charged to the player, the offline digest when there is no key or budget).

The folded summary is written with a compare-and-set on the one it was built from, in the
transaction that drops the exchanges it holds: two concurrent refreshes cannot drop each
other's exchanges (the loser rebuilds from the winner's), and a fold cut short leaves its
exchanges stored verbatim for the next talk to fold.
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
from shared.store import Conversation, Exchange, StoreError
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
class SaveTalkNarration(StoreEffect[bool]):
    """Store a talk entry's prose and the NPC's reply as the pair's newest exchange, in one
    transaction; True when this call stored them (``only_if_missing``: where it had none)."""

    player_id: str
    seq: int
    text: str
    degraded: bool
    npc_id: str
    exchange: Exchange
    only_if_missing: bool

    def call(self, store: Store) -> MaybeAwaitable[bool]:
        """``store.set_talk_narration``."""
        return store.set_talk_narration(self.player_id, self.seq, self.text, self.degraded,
                                        self.npc_id, self.exchange, self.only_if_missing)


@dataclass(frozen=True, slots=True)
class FoldConversation(StoreEffect[bool]):
    """Store the folded summary and drop the exchanges of ``turns`` it holds, if the stored
    summary is still ``previous``; True when it wrote."""

    player_id: str
    npc_id: str
    summary: str
    previous: str
    turns: tuple[int, ...]

    def call(self, store: Store) -> MaybeAwaitable[bool]:
        """``store.fold_conversation``."""
        return store.fold_conversation(self.player_id, self.npc_id, self.summary,
                                       self.previous, self.turns)


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


@dataclass(frozen=True, slots=True)
class MemoryWrite:
    """How a talk's narration is stored: with the NPC's reply as the pair's next exchange,
    then the exchanges past the verbatim window folded into the summary."""

    player_id: str
    seq: int
    request: NarrationRequest
    npc_id: str
    policy: MemoryPolicy
    summarise: Summarise

    def save(self, text: str, degraded: bool, only_if_missing: bool) -> UseCase[bool]:
        """Store the prose (the NPC's reply, not empty) and the exchange together; True when
        this call stored them."""
        exchange: Exchange = {"player": self.request.player_text or "", "npc": text,
                              "turn": self.seq}
        return (yield from SaveTalkNarration(self.player_id, self.seq, text, degraded,
                                             self.npc_id, exchange, only_if_missing))

    def fold(self) -> UseCase[str | None]:
        """Fold what is past the verbatim window into the summary: the summary stored, or
        None when the database failed the fold. The talk is stored by then, and what was not
        folded stays verbatim for the next talk's fold, so the player's answer does not fail
        over it."""
        npc_name = str(self.request.facts.get("npc", ""))
        try:
            return (yield from fold_overflow(self.player_id, self.npc_id, npc_name,
                                             self.policy, self.summarise))
        except StoreError:
            get_logger("talk_memory").warning(
                "conversation of %s/%s not folded (database error); its exchanges stay "
                "verbatim until the next talk", self.player_id, self.npc_id, exc_info=True)
            return None


def memory_write(player_id: str, seq: int, request: NarrationRequest, policy: MemoryPolicy,
                 summarise: Summarise) -> MemoryWrite | None:
    """The :class:`MemoryWrite` of entry ``seq`` when its narration is a talk, else None."""
    npc_id = npc_of(request)
    if npc_id is None:
        return None
    return MemoryWrite(player_id, seq, request, npc_id, policy, summarise)


def fold_overflow(player_id: str, npc_id: str, npc_name: str, policy: MemoryPolicy,
                  summarise: Summarise) -> UseCase[str]:
    """Fold the pair's stored exchanges past the verbatim window into its summary, dropping
    them in the same commit; the summary stored. Nothing to fold: the summary as it is.

    What is folded is read from the store, not handed over, so exchanges a fold cut short
    left behind are folded by the next one.
    """
    summary = ""
    for attempt in range(MAX_SUMMARY_ATTEMPTS):
        talk = yield from LoadConversation(player_id, npc_id)
        summary = talk.summary
        pushed = talk.exchanges[:max(0, len(talk.exchanges) - policy.exchanges)]
        if not pushed:
            return summary
        new = yield from _folded(summary, pushed, npc_name, policy, summarise, attempt)
        turns = tuple(int(e["turn"]) for e in pushed)
        if (yield from FoldConversation(player_id, npc_id, new, summary, turns)):
            return new
    get_logger("talk_memory").warning(
        "conversation summary of %s/%s kept losing its compare-and-set; its exchanges stay "
        "verbatim until the next talk", player_id, npc_id)
    return summary


def _folded(current: str, pushed: list[Exchange], npc_name: str, policy: MemoryPolicy,
            summarise: Summarise, attempt: int) -> UseCase[str]:
    """``current`` with ``pushed`` folded in, held to the bound: appended while it fits, else
    rewritten by ``summarise`` on the first attempt only, offline after that."""
    bound = policy.summary_chars
    folded = fold(current, pushed, npc_name)
    if len(folded) <= bound:
        return folded
    if attempt > 0:
        return digest(folded, bound)
    try:
        told = yield from summarise(summary_request(npc_name, current, pushed, bound))
    except LLMError:
        # Only a strict worker's narrator raises: the reply is already saved, so the pushed
        # exchanges must still land, offline.
        return digest(folded, bound)
    return within(told.text, bound) or digest(folded, bound)
