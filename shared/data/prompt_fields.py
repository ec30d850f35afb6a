"""The narration kinds and the placeholders their templates may use.

The rules (``shared.game``) put exactly these keys into ``NarrationRequest.facts``; the loader
refuses a template in ``prompts.json`` that names anything else, so a typo in a placeholder is
caught at start-up rather than printed to a player.
"""

from __future__ import annotations

from types import MappingProxyType

# Every outcome's facts carry these.
COMMON_FIELDS: frozenset[str] = frozenset(
    {"name", "realm", "location", "summary", "turn", "day", "age", "hp", "max_hp", "qi",
     "qi_required", "spirit_stones"}
)

# Available in every template besides the facts themselves.
TEMPLATE_EXTRAS: frozenset[str] = frozenset({"facts_json", "player_text"})

_FIGHT = frozenset(
    {"monster", "monster_realm", "rounds", "damage_dealt", "damage_taken", "loot", "qi_gain",
     "stones_lost"}
)

# gameworld kinds
_SECT = frozenset({"sect", "alignment", "rank", "contribution"})
_TRADE = frozenset({"shop", "item", "count", "price", "total"})

KIND_FIELDS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "create": frozenset({"root", "root_rarity", "root_elements", "root_description"}),
        "cultivate": frozenset({"qi_gain", "technique", "days"}),
        "breakthrough_success": frozenset(
            {"chance_percent", "old_realm", "new_realm", "major", "pill"}
        ),
        "breakthrough_failure": frozenset(
            {"chance_percent", "target_realm", "major", "pill", "qi_lost", "hp_lost"}
        ),
        "explore": frozenset(
            {"event", "event_kind", "event_text", "rewards", "fight_result"}
        ),
        "travel": frozenset(
            {"from_location", "to_location", "days", "location_description", "danger"}
        ),
        "fight_victory": _FIGHT,
        "fight_defeat": _FIGHT,
        "fight_fled": _FIGHT,
        "fight_draw": _FIGHT,
        "use_item": frozenset({"item", "item_kind", "effect"}),
        "rest": frozenset({"hp_gain", "days"}),
        "talk": frozenset({"npc", "npc_id", "npc_title", "npc_personality", "npc_line", "gift",
                           "first_meeting", "relations", "favour", "favour_level"}),
        # --- sects, economy, crafting, favour, quests (gameworld) ---
        "join_sect": _SECT | {"trial", "result", "fight_result"},
        "leave_sect": _SECT,
        "sect_mission": _SECT | {"mission", "mission_text", "result", "contribution_gain",
                                 "rewards", "fight_result"},
        "exchange": _SECT | {"hall", "item", "count", "cost"},
        "promote": _SECT | {"old_rank", "new_rank"},
        "buy": _TRADE,
        "sell": _TRADE,
        "craft": frozenset({"recipe", "craft_kind", "chance_percent", "batches", "successes",
                            "product", "inputs"}),
        "learn": frozenset({"item", "recipes"}),
        "give": frozenset({"npc", "item", "count", "favour_gain", "favour", "favour_level",
                           "gift"}),
        "quest": frozenset({"quest", "giver", "main", "step", "result", "progress", "rewards",
                            "fight_result"}),
        # --- end gameworld ---
        # --- gamecore (issue 9) ---
        "prepare": frozenset({"days", "cost", "preparation", "max_preparation", "outlook"}),
        "choice": frozenset({"event", "event_kind", "event_text", "rewards", "fight_result",
                             "choice"}),
        "ascend": frozenset({"old_realm", "age"}),
        # --- end gamecore ---
    }
)

# The raw ``/api/llm`` template: only the prompt itself.
RAW_KIND = "raw"
RAW_FIELDS: frozenset[str] = frozenset({"prompt", "prompt_head"})

NARRATION_KINDS: tuple[str, ...] = tuple(KIND_FIELDS)

# The refresh of an NPC's conversation summary (issue 10): not an action's narration, so not
# in NARRATION_KINDS; its offline text is the deterministic digest.
SUMMARY_KIND = "talk_summary"
SUMMARY_FIELDS: frozenset[str] = frozenset({"npc", "old_summary", "exchanges", "bound",
                                            "digest"})
# The talk template's extra texts (see PromptTemplate.persona/recall/earlier) and what each
# may name: the persona only the NPC's own entry, so it is byte-identical across calls.
PERSONA_FIELDS: frozenset[str] = frozenset({"npc", "npc_title", "npc_personality",
                                            "npc_description"})
RECALL_FIELDS: frozenset[str] = PERSONA_FIELDS | {"memory_summary"}
EARLIER_FIELDS: frozenset[str] = frozenset({"earlier_words", "turn"})


def allowed_fields(kind: str) -> frozenset[str]:
    """Placeholders a template of ``kind`` may use."""
    if kind == RAW_KIND:
        return RAW_FIELDS
    if kind == SUMMARY_KIND:
        return SUMMARY_FIELDS
    return COMMON_FIELDS | KIND_FIELDS[kind] | TEMPLATE_EXTRAS


# The values a prose fragment's or an NPC remark's ``when`` may compare with (the other
# conditions are true/false; ``favour`` takes the level names of economy.json). ``topic`` is
# what the player's last words were about (``shared.game.memory.TOPIC_WORDS``).
TOPICS: tuple[str, ...] = ("pill", "sword", "sect", "cultivation", "danger", "trade", "lore")
WHEN_VALUES: MappingProxyType[str, frozenset[str]] = MappingProxyType({
    "place": frozenset({"village", "town", "wild", "sect", "secret"}),
    "tier": frozenset({"low", "mid", "high"}),
    "topic": frozenset(TOPICS),
})
