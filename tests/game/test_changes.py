"""Outcome.changes tell the whole truth: replaying them on the old state gives the new state.

The helpers here (``player``, ``replay``, ``outcome_of``) are imported by the other game tests.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.data import World
from shared.errors import ActionRefused
from shared.game import Action, Outcome, PlayerState, apply_action, new_player
from shared.game.progress import qi_required

SEED = 20240601


def player(world: World, **changes: Any) -> PlayerState:
    """A fresh cultivator (fixed seed) with some fields replaced."""
    return replace(new_player(world, "测试者", SEED).state, **changes)


def replay(before: PlayerState, outcome: Outcome) -> dict[str, Any]:
    """Apply ``outcome.changes`` to ``before.to_dict()``, checking each ``before`` value."""
    data = before.to_dict()
    for ch in outcome.changes:
        if ch.field.startswith("inventory."):
            item = ch.field.split(".", 1)[1]
            assert data["inventory"].get(item, 0) == ch.before, ch
            if ch.after:
                data["inventory"][item] = ch.after
            else:
                data["inventory"].pop(item, None)
        else:
            assert data[ch.field] == ch.before, ch
            data[ch.field] = ch.after
    return data


def outcome_of(world: World, state: PlayerState, action: Action, seed: int = 1) -> Outcome:
    """Apply an action and check the invariants every outcome must keep."""
    snapshot = state.to_dict()
    out = apply_action(world, state, action, seed)
    assert state.to_dict() == snapshot, "the input state was mutated"
    assert replay(state, out) == out.state.to_dict(), "changes do not explain the new state"
    assert out.state.turn == state.turn + 1
    assert out.summary and "\n" not in out.summary
    assert out.to_dict()["narration"]["kind"] == out.narration.kind
    return out


def _every_action(world: World, state: PlayerState) -> list[Action]:
    here = world.locations[state.location]
    return [
        Action("cultivate"),
        Action("explore"),
        Action("travel", target=next(iter(world.neighbors(state.location)))),
        Action("talk", target=here.npcs[0] if here.npcs else None, text="你好"),
        Action("use_item", item="huichun_dan"),
        Action("rest"),
        Action("fight"),
        Action("breakthrough"),
    ]


@pytest.mark.parametrize("seed", range(12))
def test_changes_replay_for_every_action(world: World, seed: int) -> None:
    state = player(world, hp=50, qi=30, location="luoxia_mountains")
    done = 0
    for action in _every_action(world, state):
        try:
            outcome_of(world, state, action, seed)
        except ActionRefused:
            continue
        done += 1
    assert done >= 6


def test_replay_detects_a_wrong_change(world: World) -> None:
    state = player(world)
    out = apply_action(world, state, Action("cultivate"), 3)
    forged = replace(out, state=replace(out.state, qi=out.state.qi + 1))
    assert replay(state, forged) != forged.state.to_dict()


def test_creation_changes_list_every_field_from_nothing(world: World) -> None:
    out = new_player(world, "甲", 5)
    # Every public field; the fate secret never appears in an outcome.
    assert {c.field for c in out.changes} == set(out.state.public_dict())
    assert "fate_secret" not in {c.field for c in out.changes}
    assert all(c.before is None for c in out.changes)
    assert out.state.turn == 0 and out.state.qi == 0
    assert out.state.qi < qi_required(world, out.state)
