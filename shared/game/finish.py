"""Turning a before/after pair into an Outcome: changes, common facts, turn and day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from shared.data import World
from shared.game.lifespan import DAYS_PER_YEAR, age_years, days_left, end, end_line
from shared.game.outcome import Change, NarrationRequest, Outcome
from shared.game.progress import qi_required, title_of
from shared.game.state import PlayerState, diff_fields

__all__ = ["DAYS_PER_YEAR", "common_facts", "describe_gains", "finish"]


def common_facts(world: World, state: PlayerState, summary: str) -> dict[str, Any]:
    """Facts every narration gets (see ``shared.data.prompt_fields.COMMON_FIELDS``)."""
    return {
        "name": state.name,
        "realm": title_of(world, state),
        "location": world.locations[state.location].name,
        "summary": summary,
        "turn": state.turn,
        "day": state.day,
        "age": age_years(world, state),
        "hp": state.hp,
        "max_hp": state.max_hp,
        "qi": state.qi,
        "qi_required": qi_required(world, state),
        "spirit_stones": state.spirit_stones,
    }


def finish(
    world: World,
    *,
    action: str,
    before: PlayerState,
    after: PlayerState,
    success: bool,
    summary: str,
    kind: str,
    facts: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]] = (),
    days: int = 0,
    player_text: str | None = None,
    count_turn: bool = True,
) -> Outcome:
    """The Outcome of an action that moved ``before`` to ``after``.

    Advances ``turn`` and ``fate_counter`` (unless ``count_turn`` is False, for creation) and
    ``day``; a cultivator whose age reaches the realm's lifespan dies of old age here (unless the
    action itself ended the story). Then derives the changes from the two states, so what the
    outcome reports is exactly what happened.
    """
    step = 1 if count_turn else 0
    after = replace(
        after,
        turn=before.turn + step,
        fate_counter=before.fate_counter + step,
        day=before.day + days,
    )
    event_list: list[dict[str, Any]] = [dict(e) for e in events]
    if not after.ended and days_left(world, after) <= 0:
        after = end(after, "old_age")
    if after.ended and not before.ended:
        summary = f"{summary}{end_line(world, after)}"
        event_list.append({"type": "ended", "cause": after.end_cause,
                       "age": age_years(world, after)})
    changes = tuple(Change(f, a, b) for f, a, b in diff_fields(before, after))
    all_facts = {**common_facts(world, after, summary), **facts}
    if after.ended:
        all_facts["end_cause"] = after.end_cause
    return Outcome(
        action=action,
        success=success,
        state=after,
        changes=changes,
        events=tuple(event_list),
        summary=summary,
        narration=NarrationRequest(kind=kind, facts=all_facts, player_text=player_text),
    )


def describe_gains(world: World, before: PlayerState, after: PlayerState) -> str:
    """A short Chinese list of what moved, e.g. ``修为+30、灵石+5、回春丹×1``; ``无`` if nothing."""
    parts: list[str] = []
    labels = (("qi", "修为"), ("hp", "气血"), ("max_hp", "气血上限"), ("attack", "攻击"),
              ("defense", "防御"), ("spirit_stones", "灵石"))
    for fld, label in labels:
        delta = getattr(after, fld) - getattr(before, fld)
        if delta:
            parts.append(f"{label}{delta:+d}")
    for item_id in sorted(set(before.inventory) | set(after.inventory)):
        delta = after.count(item_id) - before.count(item_id)
        if delta:
            name = world.items[item_id].name if item_id in world.items else item_id
            parts.append(f"{name}×{delta}" if delta > 0 else f"{name}-{-delta}")
    buff = after.breakthrough_buff - before.breakthrough_buff
    if buff > 0:
        parts.append(f"下次突破几率+{round(buff * 100)}%")
    for tech_id in after.techniques:
        if tech_id not in before.techniques:
            parts.append(f"习得《{world.techniques[tech_id].name}》")
    return "、".join(parts) or "无"
