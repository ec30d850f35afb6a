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
from shared.game.engine import apply_action
from shared.game.state import PlayerState

# A fixed seed: refusals never depend on chance, and the dry run's outcome is discarded.
_DRY_RUN_SEED = 0

ACTION_LABELS: Mapping[str, str] = {
    "cultivate": "修炼", "breakthrough": "突破", "explore": "探索", "travel": "赶路",
    "fight": "战斗", "use_item": "使用", "rest": "休息", "talk": "交谈",
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


# The parameters each action type may take, from the state; a type not listed takes none.
CANDIDATES: Mapping[str, Candidates] = {
    "breakthrough": lambda w, s: [*_PLAIN, *_inventory(w, s, ("pill",))],
    "travel": lambda w, s: [one("target", loc.id, loc.name)
                            for loc in w.locations.values() if loc.id != s.location],
    "fight": lambda w, s: [*_PLAIN, *(one("target", m, w.monsters[m].name)
                                      for m in _here(w, s).monsters)],
    "talk": lambda w, s: [one("target", n, w.npcs[n].name) for n in _here(w, s).npcs],
    "use_item": lambda w, s: _inventory(w, s),
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
            action = Action(kind, **cand.params)
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
