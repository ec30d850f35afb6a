"""抉择: an explored event waits for ``choose``; each option has its own weighted outcomes."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from shared.data import World
from shared.errors import ActionRefused, ChoicePending
from shared.game import Action, PlayerState, apply_action
from tests.game.test_changes import outcome_of, player


def only_event(world: World, event_id: str) -> World:
    """The world with a single event, so explore surely meets it."""
    return replace(world, events=MappingProxyType({event_id: world.events[event_id]}))


def pending(world: World, event_id: str, **changes: object) -> tuple[World, PlayerState]:
    w = only_event(world, event_id)
    state = player(world, **changes)
    out = outcome_of(w, state, Action("explore"))
    assert out.state.pending_choice == event_id
    choice = next(e for e in out.events if e["type"] == "choice")
    assert [o["id"] for o in choice["options"]] == [c.id for c in world.events[event_id].choices]
    # The player reads the options' names; the ids for ``choose`` are in the choice event.
    assert "可选：" in out.summary and "choose" not in out.summary
    assert all(c.label in out.summary for c in world.events[event_id].choices)
    return w, out.state


def test_explore_can_yield_a_choice_that_blocks_other_actions(world: World) -> None:
    w, state = pending(world, "bandit_toll", location="luoxia_mountains")
    with pytest.raises(ChoicePending) as info:
        apply_action(w, state, Action("cultivate"), 1)
    err = info.value
    assert err.status == 409 and err.code == "choice_pending"
    assert "劫修设卡" in err.message and "bargain" in err.message


def test_choose_resolves_with_the_options_own_outcomes(world: World) -> None:
    w, state = pending(world, "bandit_toll", location="luoxia_mountains", spirit_stones=50)
    cost = next(c.cost for c in world.events["bandit_toll"].choices if c.id == "bargain")
    out = outcome_of(w, state, Action("choose", target="bargain"))
    assert out.state.pending_choice is None
    assert out.state.spirit_stones <= 50 - cost + 0  # paid (no event here adds stones)
    assert out.events[0]["option"] == "bargain"
    assert out.state.day == state.day + world.rules.stakes.choose_days
    fought = outcome_of(w, state, Action("choose", target="fight"))
    assert any(e["type"] == "combat" and e["monster"] == "jie_xiu" for e in fought.events)
    # after the choice, everything is allowed again
    outcome_of(w, out.state, Action("cultivate"))


def test_choose_refusals(world: World) -> None:
    w, state = pending(world, "bandit_toll", location="luoxia_mountains", spirit_stones=0)
    for action, code in ((Action("choose"), "missing_option"),
                         (Action("choose", target="dance"), "unknown_option"),
                         (Action("choose", target="bargain"), "not_enough_stones")):
        with pytest.raises(ActionRefused) as info:
            apply_action(w, state, action, 1)
        assert info.value.code == code
    with pytest.raises(ActionRefused) as info:
        apply_action(world, player(world), Action("choose", target="x"), 1)
    assert info.value.code == "no_pending_choice"
    with pytest.raises(ActionRefused) as info:
        apply_action(world, player(world), Action("flee"), 1)
    assert info.value.code == "nothing_to_flee"


def test_flee_takes_the_flee_option_with_its_own_odds(world: World) -> None:
    w, state = pending(world, "bandit_toll", location="luoxia_mountains")
    results = [apply_action(w, state, Action("flee"), s) for s in range(300)]
    assert all(r.events[0]["kind"] == "flee" for r in results)
    caught = sum(any(e["type"] == "combat" for e in r.events) for r in results)
    flee = next(c for c in world.events["bandit_toll"].choices if c.kind == "flee")
    expected = sum(o.weight for o in flee.outcomes if o.effects.fight) / sum(
        o.weight for o in flee.outcomes)
    assert abs(caught / 300 - expected) < 0.1
    assert results[0].events[0]["flee_odds"] == pytest.approx(1 - expected)


def test_every_choice_event_has_two_or_three_options(world: World) -> None:
    with_choices = [e for e in world.events.values() if e.choices]
    assert len(with_choices) >= 8
    assert all(2 <= len(e.choices) <= 3 for e in with_choices)
    assert all(any(c.cost == 0 for c in e.choices) for e in with_choices)  # nobody locked in


def test_a_choice_whose_event_left_the_data_blocks_nothing(world: World) -> None:
    state = player(world, pending_choice="an_event_removed_since")
    outcome_of(world, state, Action("cultivate"))
    with pytest.raises(ActionRefused) as info:
        apply_action(world, state, Action("choose", target="leave"), 1)
    assert info.value.code == "stale_choice"
