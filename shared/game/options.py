"""What the player can do now: every action with its candidate targets, allowed or not and why.

The page draws its controls from this, so an impossible action is disabled with the rules' own
reason ("气血已满，无须调息") instead of the page guessing, and a new action type appears on
the page as soon as it has an entry in :data:`CANDIDATES`. Pure: each candidate is checked by
running the rules on it (the outcome is thrown away), so the answer can never disagree with
what the action would do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.data import World
from shared.errors import AppError
from shared.game.action import ACTION_TYPES, Action
from shared.game.choices import pending_event
from shared.game.crafting import known_recipes
from shared.game.engine import apply_action
from shared.game.quests import available_quests, quest_done
from shared.game.sects import sect_of
from shared.game.shop import offers, sell_price, shops_here
from shared.game.state import PlayerState

# A fixed seed: refusals never depend on chance, and the dry run's outcome is discarded.
_DRY_RUN_SEED = 0

ACTION_LABELS: Mapping[str, str] = {
    "cultivate": "修炼", "breakthrough": "突破", "explore": "探索", "travel": "赶路",
    "fight": "战斗", "use_item": "使用", "rest": "休息", "talk": "交谈",
    "choose": "抉择", "flee": "遁走", "prepare": "闭关准备", "ascend": "飞升",
    "join_sect": "拜入宗门", "leave_sect": "脱离宗门", "sect_mission": "宗门任务",
    "exchange": "贡献兑换", "promote": "晋升", "buy": "购买", "sell": "出售",
    "craft": "炼制", "learn": "研习", "give": "赠礼", "quest": "任务",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to fill an action's parameters (``target``/``item``/...; none: the plain form),
    and the name the page shows for it."""

    params: Mapping[str, str]
    name: str


Candidates = Callable[[World, PlayerState], Iterable[Candidate]]

_PLAIN = (Candidate({}, ""),)


def one(field: str, value: str, name: str) -> Candidate:
    """A candidate setting one parameter."""
    return Candidate({field: value}, name)


def _inventory(world: World, state: PlayerState, kinds: tuple[str, ...] = ()) -> list[Candidate]:
    out = []
    for item_id in sorted(state.inventory):
        item = world.items.get(item_id)
        if item is not None and state.count(item_id) > 0 and (not kinds or item.kind in kinds):
            out.append(one("item", item_id, item.name))
    return out


def _here(world: World, state: PlayerState) -> Any:
    return world.locations[state.location]


def _name(world: World, kind: str, key: str) -> str:
    table: Mapping[str, Any] = getattr(world, kind)
    entry = table.get(key)
    return str(getattr(entry, "name", key)) if entry is not None else key


def _or_plain(cands: list[Candidate]) -> list[Candidate]:
    """The candidates, or the plain form when there are none, so the page still shows the
    rules' reason (``不在宗门``, ``此地无店``...)."""
    return cands or list(_PLAIN)


def _choose(world: World, state: PlayerState) -> list[Candidate]:
    event = pending_event(world, state)
    if event is None:
        return list(_PLAIN)
    return [one("target", c.id, f"{c.label}（灵石{c.cost}）" if c.cost else c.label)
            for c in event.choices]


def _join(world: World, state: PlayerState) -> list[Candidate]:
    # Every sect: away from its home the rules say where to go.
    return [one("target", s.id, s.name) for s in world.sects.values()]


def _missions(world: World, state: PlayerState) -> list[Candidate]:
    sect = sect_of(world, state)
    if sect is None:
        return list(_PLAIN)
    return _or_plain([one("target", m.id, m.name) for m in sect.missions])


def _exchange(world: World, state: PlayerState) -> list[Candidate]:
    sect = sect_of(world, state)
    if sect is None:
        return list(_PLAIN)
    return _or_plain([one("item", e.item, f"{_name(world, 'items', e.item)}（贡献{e.cost}）")
                      for e in sect.exchange])


def _buy(world: World, state: PlayerState) -> list[Candidate]:
    out = [Candidate({"target": shop.id, "item": e.item},
                     f"{shop.name}·{_name(world, 'items', e.item)}（{price}灵石）")
           for shop in shops_here(world, state) for e, price, _ in offers(world, state, shop)]
    return _or_plain(out)


def _sell(world: World, state: PlayerState) -> list[Candidate]:
    # To the first shop here that buys (none: the plain form, refused with the reason);
    # only items with a price are offered.
    buyer = next((s for s in shops_here(world, state) if s.buys), None)
    if buyer is None:
        return list(_PLAIN)
    return _or_plain([Candidate({"target": buyer.id, "item": i},
                                f"{_name(world, 'items', i)}（{sell_price(world, i)}灵石）")
                      for i in sorted(state.inventory)
                      if i in world.items and state.count(i) > 0 and sell_price(world, i) > 0])


def _craft(world: World, state: PlayerState) -> list[Candidate]:
    return _or_plain([one("target", r.id, r.name) for r in known_recipes(world, state)])


def _learn(world: World, state: PlayerState) -> list[Candidate]:
    return _or_plain(_inventory(world, state, ("recipe",)))


def _give(world: World, state: PlayerState) -> list[Candidate]:
    npcs = _here(world, state).npcs
    carried = [i for i in sorted(state.inventory) if i in world.items and state.count(i) > 0]
    return [Candidate({"target": n, "item": i},
                      f"{world.npcs[n].name}·{world.items[i].name}")
            for n in npcs for i in carried]


def _quests(world: World, state: PlayerState) -> list[Candidate]:
    ids = [q.id for q in available_quests(world, state)]
    ids += [q for q in sorted(state.quests)
            if q in world.quests and not quest_done(state, world.quests[q]) and q not in ids]
    return _or_plain([one("target", q, world.quests[q].name) for q in ids])


# The parameters each action type may take, from the state; a type not listed takes none.
CANDIDATES: Mapping[str, Candidates] = {
    "breakthrough": lambda w, s: [*_PLAIN, *_inventory(w, s, ("pill",))],
    "travel": lambda w, s: [one("target", loc.id, loc.name)
                            for loc in w.locations.values() if loc.id != s.location],
    "fight": lambda w, s: [*_PLAIN, *(one("target", m, w.monsters[m].name)
                                      for m in _here(w, s).monsters)],
    "talk": lambda w, s: [one("target", n, w.npcs[n].name) for n in _here(w, s).npcs],
    "use_item": lambda w, s: _inventory(w, s),
    # --- issue 9: gamecore and gameworld actions ---
    "choose": _choose,
    "join_sect": _join,
    "sect_mission": _missions,
    "exchange": _exchange,
    "buy": _buy,
    "sell": _sell,
    "craft": _craft,
    "learn": _learn,
    "give": _give,
    "quest": _quests,
}


def _no_parameters(world: World, state: PlayerState) -> Iterable[Candidate]:
    return _PLAIN


def action_options(world: World, state: PlayerState) -> list[dict[str, Any]]:
    """Every action type with its candidates: ``{"type", "label", "choices": [{"params",
    "name", "ok", "reason", "code"}]}``; ``ok`` False carries the rules' reason."""
    out: list[dict[str, Any]] = []
    for kind in ACTION_TYPES:
        choices = []
        for cand in CANDIDATES.get(kind, _no_parameters)(world, state):
            action = Action(kind, target=cand.params.get("target"),
                            item=cand.params.get("item"))
            try:
                apply_action(world, state, action, _DRY_RUN_SEED)
            except AppError as refused:
                choices.append({"params": dict(cand.params), "name": cand.name, "ok": False,
                                "reason": refused.message, "code": refused.code})
            else:
                choices.append({"params": dict(cand.params), "name": cand.name, "ok": True,
                                "reason": None, "code": None})
        out.append({"type": kind, "label": ACTION_LABELS.get(kind, kind), "choices": choices})
    return out
