"""Prompts and offline prose for outcomes that are already decided (templates in prompts.json).

Pure and deterministic: the same request always gives the same messages and the same offline
text, so a replayed or degraded narration reads the same in both apps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from shared.data import RAW_KIND, World
from shared.data.models import PromptTemplate
from shared.data.prompt_fields import TEMPLATE_EXTRAS
from shared.game.memory import TalkMemory, TalkRequest
from shared.game.outcome import NarrationRequest
from shared.game.prose import compose, placeholders, telling, tier_of

Messages = list[dict[str, str]]
RAW_HEAD_CHARS = 24  # how much of a raw prompt the offline text may quote


class _Vars(dict[str, Any]):
    """Template variables; a placeholder without a value renders empty (e.g. an old request)."""

    def __missing__(self, key: str) -> str:
        return ""


def _render(template: str, values: Mapping[str, Any]) -> str:
    try:
        return template.format_map(_Vars(values))
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        # A format spec that does not fit a stored value: better plain than broken.
        return template


def _value(v: Any) -> Any:
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return v


def _facts_json(req: NarrationRequest) -> str:
    return json.dumps(dict(req.facts), ensure_ascii=False, sort_keys=True)


def _variables(req: NarrationRequest) -> dict[str, Any]:
    values = {k: _value(v) for k, v in req.facts.items()}
    values["facts_json"] = _facts_json(req)
    values["player_text"] = req.player_text or ""
    return values


# Facts a player typed (or chose): in LLM messages they are always JSON strings, quoted and
# escaped, so no name or talk text can add a line that reads like an instruction or a fact.
# ``old_summary`` and ``exchanges`` (talk_summary) hold a player's earlier words.
PLAYER_FIELDS: frozenset[str] = frozenset({"name", "player_text", "old_summary", "exchanges"})


def _quoted(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in PLAYER_FIELDS:
        if key in out:
            out[key] = json.dumps(str(out[key]), ensure_ascii=False)
    return out


def _realm_index(world: World, facts: Mapping[str, Any]) -> int:
    rank = facts.get("realm_rank")
    if isinstance(rank, int) and not isinstance(rank, bool):
        return rank
    title = str(facts.get("realm", ""))
    best = 0
    for index, realm in enumerate(world.realms):
        if title.startswith(realm.name):
            best = index
    return best


def _place_kind(world: World, facts: Mapping[str, Any]) -> str:
    place = facts.get("location_id")
    if not isinstance(place, str):
        name = facts.get("location")
        place = next((loc.id for loc in world.locations.values() if loc.name == name), "")
    return world.place_kinds.get(place, "wild")


def _condition_facts(world: World, req: NarrationRequest) -> dict[str, Any]:
    """The facts plus what the prose conditions derive from them and the world."""
    facts = dict(req.facts)
    facts["_place"] = _place_kind(world, facts)
    facts["_tier"] = tier_of(_realm_index(world, facts))
    facts["_player_text"] = req.player_text or ""
    memory = _memory(req)
    first = facts.get("first_meeting")
    facts["_returning"] = memory.remembers or (isinstance(first, bool) and not first)
    facts["_topic"] = memory.last_topic
    return facts


def _memory(req: NarrationRequest) -> TalkMemory:
    return req.memory if isinstance(req, TalkRequest) else TalkMemory()


def _template(world: World, kind: str) -> PromptTemplate:
    """The template of ``kind``; an unknown kind (e.g. from an older log) gets a plain one."""
    found = world.prompts.get(kind)
    if found is not None:
        return found
    any_system = next(iter(world.prompts.values())).system
    return PromptTemplate(system=any_system, user="{summary}\n事实：{facts_json}",
                          offline=("{summary}",))


def _pick(variants: tuple[str, ...], *keys: str) -> str:
    """A variant chosen by a hash of the request, so the choice is stable across processes."""
    digest = hashlib.sha256("\x1f".join(keys).encode()).digest()
    return variants[int.from_bytes(digest[:8], "big") % len(variants)]


def _persona_values(world: World, facts: Mapping[str, Any]) -> dict[str, Any] | None:
    npc = world.npcs.get(str(facts.get("npc_id", "")))
    if npc is None:
        return None
    # From the world only (never from the player's state), so the message is byte-identical
    # across every talk with this NPC.
    return {"npc": npc.name, "npc_title": npc.title, "npc_personality": npc.personality,
            "npc_description": npc.description}


def talk_messages(world: World, request: NarrationRequest) -> Messages:
    """A talk's messages, stable part first (DeepSeek's prompt cache is a prefix cache):

    1. ``system``: the book's system prompt (the same for every narration);
    2. ``system``: the NPC's persona (the same for every talk with that NPC);
    3. ``system``: the remembered summary of older exchanges, JSON-quoted (when there is one);
    4. the last exchanges verbatim as prior turns: ``user`` (the player's words, JSON-quoted,
       inside the ``earlier`` wrapper) then ``assistant`` (what the NPC answered);
    5. ``user``: this talk's decided facts (favour level, gift, first meeting...) and the
       player's words, JSON-quoted.
    """
    t = _template(world, request.kind)
    values = _quoted(_variables(request))
    messages: Messages = [{"role": "system", "content": t.system or ""}]
    persona = _persona_values(world, request.facts)
    if t.persona and persona is not None:
        messages.append({"role": "system", "content": _render(t.persona, persona)})
    memory = _memory(request)
    if memory.summary and t.recall:
        recalled = {**(persona or {}), "memory_summary": json.dumps(memory.summary,
                                                                    ensure_ascii=False)}
        messages.append({"role": "system", "content": _render(t.recall, recalled)})
    for ex in memory.exchanges:
        words = json.dumps(str(ex.get("player", "")), ensure_ascii=False)
        said = _render(t.earlier, {"earlier_words": words, "turn": ex.get("turn", "")}) \
            if t.earlier else words
        messages.append({"role": "user", "content": said})
        messages.append({"role": "assistant", "content": str(ex.get("npc", ""))})
    messages.append({"role": "user", "content": _render(t.user, values)})
    return messages


def build_messages(world: World, request: NarrationRequest) -> Messages:
    """The system and user messages asking the LLM to narrate ``request``."""
    t = _template(world, request.kind)
    if t.persona is not None:
        return talk_messages(world, request)
    values = _quoted(_variables(request))
    # The system message comes first and is byte-identical across calls (no facts in it), so
    # DeepSeek's prompt cache can serve it; everything that changes is in the user message.
    return [
        {"role": "system", "content": t.system or ""},
        {"role": "user", "content": _render(t.user, values)},
    ]


def offline_text(world: World, request: NarrationRequest) -> str:
    """The offline narrator's prose for ``request`` (no LLM), deterministic."""
    t = _template(world, request.kind)
    values = _variables(request)
    if t.parts:
        composed = compose(request.kind, t.parts, _condition_facts(world, request),
                           values, _render)
        if composed:
            return composed
    usable = tuple(v for v in t.offline
                   if all(telling(k, request.facts.get(k)) for k in placeholders(v)
                          if k not in TEMPLATE_EXTRAS)) or ("{summary}",)
    variant = _pick(usable, request.kind, _facts_json(request), request.player_text or "")
    return _render(variant, values)


def _raw_values(prompt: str) -> dict[str, str]:
    head = prompt.strip().replace("\n", " ")
    if len(head) > RAW_HEAD_CHARS:
        head = head[:RAW_HEAD_CHARS] + "…"
    return {"prompt": prompt, "prompt_head": head}


def raw_prompt_messages(world: World, prompt: str) -> Messages:
    """Messages for the raw ``/api/llm`` route."""
    t = world.prompts[RAW_KIND]
    values = _raw_values(prompt)
    return [
        {"role": "system", "content": _render(t.system or "", values)},
        {"role": "user", "content": _render(t.user, values)},
    ]


def offline_raw_text(world: World, prompt: str) -> str:
    """The offline answer to a raw prompt, deterministic."""
    t = world.prompts[RAW_KIND]
    return _render(_pick(t.offline, RAW_KIND, prompt), _raw_values(prompt))


class PromptBook:
    """The narrator's view of the prompts: the four functions above bound to one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def messages(self, req: NarrationRequest) -> Messages:
        """LLM messages for an outcome."""
        return build_messages(self.world, req)

    def offline(self, req: NarrationRequest) -> str:
        """Offline prose for an outcome."""
        return offline_text(self.world, req)

    def raw_messages(self, prompt: str) -> Messages:
        """LLM messages for a raw prompt."""
        return raw_prompt_messages(self.world, prompt)

    def offline_raw(self, prompt: str) -> str:
        """Offline answer to a raw prompt."""
        return offline_raw_text(self.world, prompt)
