"""An NPC's memory of a player, as the narrator sees it: the running summary, the last few
exchanges, and the deterministic folding of older exchanges into the summary.

Pure: the store keeps the conversation (``shared.store``: ``get_conversation``,
``append_exchange``, ``set_conversation_summary``); the use case
(``shared.usecases.talk_memory``) loads it into a :class:`TalkRequest` before the narration and
saves the reply after it. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.game.outcome import NarrationRequest

TALK_KIND = "talk"
SUMMARY_KIND = "talk_summary"
ELLIPSIS = "……"
CLIP_PLAYER = 30  # characters of the player's words a summary line keeps
CLIP_NPC = 40  # characters of the NPC's reply a summary line keeps

# What a player's words were about, by the first keyword found (checked in this order).
# ``topic`` conditions in npcs.json and prompts.json name these keys.
TOPIC_WORDS: Mapping[str, tuple[str, ...]] = {
    "pill": ("丹", "药"),
    "sword": ("剑",),
    "sect": ("宗门", "门派", "拜师", "师父"),
    "cultivation": ("修炼", "修行", "突破", "境界", "功法", "灵气"),
    "danger": ("妖", "兽", "狼", "危险", "劫修", "当心"),
    "trade": ("灵石", "买", "卖", "价"),
    "lore": ("从前", "当年", "传说", "故事", "往事"),
}
# The data checker knows the same keys (prompt_fields.TOPICS; a test keeps them equal).


def topic_of(text: str | None) -> str:
    """The topic of ``text`` (a key of :data:`TOPIC_WORDS`), or ``""`` for none."""
    if not text:
        return ""
    for topic, words in TOPIC_WORDS.items():
        if any(w in text for w in words):
            return topic
    return ""


@dataclass(frozen=True)
class TalkMemory:
    """What an NPC remembers of a player: the summary of older exchanges and the last few
    verbatim (oldest first, each ``{"player", "npc", "turn"}``)."""

    summary: str = ""
    exchanges: tuple[Mapping[str, Any], ...] = ()

    @property
    def remembers(self) -> bool:
        """True when the two have talked before."""
        return bool(self.summary or self.exchanges)

    @property
    def last_topic(self) -> str:
        """The topic of the player's most recent words that had one (``""``: none)."""
        for ex in reversed(self.exchanges):
            topic = topic_of(str(ex.get("player", "")))
            if topic:
                return topic
        return ""


@dataclass(frozen=True)
class TalkRequest(NarrationRequest):
    """A talk's narration request with the NPC's memory attached.

    ``to_dict`` is the plain request's: the memory is loaded fresh at narration time, never
    stored with the log entry nor sent to the worker.
    """

    memory: TalkMemory = field(default_factory=TalkMemory)


def npc_of(request: NarrationRequest) -> str | None:
    """The NPC id a talk request is about (None for other kinds or an old entry)."""
    if request.kind != TALK_KIND:
        return None
    npc_id = request.facts.get("npc_id")
    return npc_id if isinstance(npc_id, str) and npc_id else None


def with_memory(request: NarrationRequest, summary: str,
                exchanges: Sequence[Mapping[str, Any]], keep: int) -> TalkRequest:
    """``request`` with the summary and the last ``keep`` exchanges attached."""
    recent = tuple(exchanges[-keep:]) if keep > 0 else ()
    return TalkRequest(kind=request.kind, facts=request.facts,
                       player_text=request.player_text,
                       memory=TalkMemory(summary=summary, exchanges=recent))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def summary_line(exchange: Mapping[str, Any], npc_name: str) -> str:
    """One exchange as a line of the summary (both sides clipped)."""
    turn = exchange.get("turn", 0)
    said = _clip(str(exchange.get("player", "")), CLIP_PLAYER)
    reply = _clip(str(exchange.get("npc", "")), CLIP_NPC)
    head = f"第{turn}回，你说「{said}」" if said else f"第{turn}回，你上前攀谈"
    return f"{head}；{npc_name}：{reply}"


def fold(summary: str, pushed: Sequence[Mapping[str, Any]], npc_name: str) -> str:
    """The summary with the exchanges pushed out of the verbatim window appended."""
    lines = [summary] if summary else []
    lines += [summary_line(ex, npc_name) for ex in pushed]
    return "\n".join(lines)


def digest(text: str, bound: int) -> str:
    """``text`` cut to at most ``bound`` characters, keeping the newest lines whole.

    The offline summary: older lines give way first, marked by a leading ellipsis; a single
    line longer than the bound keeps its start.
    """
    if len(text) <= bound:
        return text
    if bound <= len(ELLIPSIS):
        return text[:bound]
    kept: list[str] = []
    room = bound - len(ELLIPSIS) - 1  # the marker and its newline
    for line in reversed(text.split("\n")):
        if not line:
            continue
        cost = len(line) + (1 if kept else 0)
        if cost > room:
            break
        kept.append(line)
        room -= cost
    if not kept:
        newest = text.split("\n")[-1]
        return newest[: bound - 1] + "…"
    return ELLIPSIS + "\n" + "\n".join(reversed(kept))


def within(text: str, bound: int) -> str:
    """An LLM's summary held to ``bound`` characters (whitespace-trimmed, cut if longer)."""
    text = text.strip()
    return text if len(text) <= bound else text[: bound - 1] + "…"


def summary_request(npc_name: str, summary: str, pushed: Sequence[Mapping[str, Any]],
                    bound: int) -> NarrationRequest:
    """The request that refreshes a summary grown past ``bound`` (LLM, or the digest offline).

    ``old_summary`` and ``exchanges`` hold the player's words: the prompt book quotes them.
    """
    earlier = [{"turn": ex.get("turn"), "player": ex.get("player", ""),
                "npc": ex.get("npc", "")} for ex in pushed]
    return NarrationRequest(
        kind=SUMMARY_KIND,
        facts={"npc": npc_name, "old_summary": summary, "bound": bound,
               "exchanges": json.dumps(earlier, ensure_ascii=False),
               "digest": digest(fold(summary, pushed, npc_name), bound)},
    )
