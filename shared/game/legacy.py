"""传承 and the hall of 飞升者: what an ended story leaves behind, decided by the rules.

Pure functions: the store keeps the records and the routes serve them; here is only what a
record holds and what a successor inherits from a predecessor's final state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shared.data import World
from shared.game.frozen import FrozenDict
from shared.game.lifespan import age_years
from shared.game.progress import title_of, with_qi
from shared.game.state import PlayerState

HallKind = Literal["ascended", "died"]


def hall_kind(state: PlayerState) -> HallKind:
    """The hall's kind of an ended run: ``ascended`` (the hall of 飞升者) or ``died``."""
    return "ascended" if state.end_cause == "ascended" else "died"


def hall_entry(world: World, player_id: str, state: PlayerState) -> tuple[str, HallKind,
                                                                         dict[str, Any]]:
    """``(name, kind, record)`` for the store's ``record_legacy(player_id, name, kind,
    record)``: what the use case stores when an action ends the story."""
    return state.name, hall_kind(state), hall_record(world, player_id, state)


def ended_now(before: PlayerState, after: PlayerState) -> bool:
    """True for the one action that ended the story (the moment to record it)."""
    return after.ended and not before.ended


def hall_record(world: World, player_id: str, state: PlayerState) -> dict[str, Any]:
    """The lasting record of an ended cultivator, with the legacy it leaves an heir
    (``legacy``, see :func:`legacy_of`). JSON-safe and free of anything private."""
    if not state.ended:
        raise ValueError("only an ended cultivator has a hall record")
    legacy = legacy_of(world, state)
    return {
        "player_id": player_id,
        "name": state.name,
        "root": world.roots[state.root].name if state.root in world.roots else state.root,
        "realm": title_of(world, state),
        "age": age_years(world, state),
        "turns": state.turn,
        "days": state.day,
        "kills": state.kills,
        "cause": state.end_cause,
        "ascended": state.end_cause == "ascended",
        "legacy_from": state.legacy_from,
        "legacy": legacy.to_dict() if legacy else None,
    }


@dataclass(frozen=True)
class Legacy:
    """What a successor inherits: a little of the predecessor's spirit stones, at most one
    modest item, and (after an ascension) a touch of qi."""

    predecessor: str
    spirit_stones: int = 0
    items: FrozenDict[str, int] = field(default_factory=FrozenDict)
    qi: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"predecessor": self.predecessor, "spirit_stones": self.spirit_stones,
                "items": dict(self.items), "qi": self.qi}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Legacy:
        """Inverse of :meth:`to_dict` (e.g. from a hall record's ``legacy``)."""
        return cls(
            predecessor=str(data["predecessor"]),
            spirit_stones=int(data.get("spirit_stones", 0)),
            items=FrozenDict({str(k): int(v) for k, v in dict(data.get("items") or {}).items()}),
            qi=int(data.get("qi", 0)),
        )


def legacy_from_record(record: Mapping[str, Any]) -> Legacy | None:
    """The legacy stored in a hall record (None when it left none)."""
    data = record.get("legacy")
    return Legacy.from_dict(data) if data else None


def legacy_of(world: World, final: PlayerState) -> Legacy | None:
    """The inheritance an ended cultivator leaves (None while the story goes on).

    Spirit stones: ``legacy_stone_share`` of what was carried, at most ``legacy_stone_cap``.
    One item: the worn artifact if its value is at most ``legacy_item_max_value``, else the
    most valuable carried item within that value (ties by id). Qi: ``legacy_ascended_qi``
    after an ascension.
    """
    if not final.ended:
        return None
    st = world.rules.stakes
    stones = min(st.legacy_stone_cap, int(final.spirit_stones * st.legacy_stone_share))
    cap = st.legacy_item_max_value

    def fits(item_id: str) -> bool:
        return item_id in world.items and world.items[item_id].value <= cap

    item: str | None = None
    if final.equipped is not None and fits(final.equipped):
        item = final.equipped
    else:
        carried = [i for i in final.inventory if fits(i)]
        if carried:
            item = max(carried, key=lambda i: (world.items[i].value, i))
    qi = st.legacy_ascended_qi if final.end_cause == "ascended" else 0
    items = FrozenDict({item: 1}) if item else FrozenDict[str, int]()
    return Legacy(final.name, stones, items, qi)


def inherit(world: World, state: PlayerState, legacy: Legacy) -> PlayerState:
    """A new cultivator with the predecessor's legacy added (meant for creation, turn 0)."""
    after = replace(state, spirit_stones=state.spirit_stones + legacy.spirit_stones,
                    legacy_from=legacy.predecessor)
    for item_id, count in sorted(legacy.items.items()):
        if item_id in world.items:
            after = after.with_item(item_id, count)
    return with_qi(world, after, legacy.qi)
