"""A scripted game at the rules level: create -> cultivate until a breakthrough succeeds ->
travel -> explore -> fight, checking that the numbers move exactly as each outcome says."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from shared.data import World
from shared.errors import ActionRefused, ChoicePending
from shared.game import Action, Outcome, PlayerState, action_seed, apply_action, new_player
from shared.game.progress import qi_required
from tests.game.test_changes import replay

PLAYER_ID = "playthrough-1"


def step(world: World, state: PlayerState, action: Action) -> Outcome:
    """One turn as the apps run it: seed from (player id, turn), then check the bookkeeping."""
    out = apply_action(world, state, action, action_seed(PLAYER_ID, state.turn))
    assert replay(state, out) == out.state.to_dict()
    assert out.state.turn == state.turn + 1
    return out


def test_scripted_playthrough(world: World) -> None:
    created = new_player(world, "叶凡", action_seed(PLAYER_ID, 0))
    state = created.state
    assert state.realm == "lianqi" and state.stage == 0 and state.qi == 0

    # 1. cultivate until the qi suffices, attempt, repeat until one breakthrough succeeds
    successes = failures = 0
    for _ in range(200):
        if state.qi < qi_required(world, state):
            out = step(world, state, Action("cultivate"))
            gain = out.narration.facts["qi_gain"]
            assert out.state.qi == state.qi + gain > state.qi
            assert f"修为+{gain}" in out.summary
        else:
            out = step(world, state, Action("breakthrough"))
            if out.success:
                successes += 1
                assert (out.state.realm, out.state.stage) == ("lianqi", 1)
                assert out.state.qi == state.qi - qi_required(world, state)
                assert out.state.max_hp > state.max_hp
            else:
                failures += 1
                assert out.state.qi == state.qi - out.narration.facts["qi_lost"]
        state = out.state
        if successes:
            break
    assert successes == 1
    assert state.turn >= 2

    # 2. travel to the mountains (one route away)
    cost = world.neighbors(state.location)["luoxia_mountains"]
    out = step(world, state, Action("travel", target="luoxia_mountains"))
    assert out.state.location == "luoxia_mountains"
    assert out.state.day == state.day + cost
    state = out.state

    # 3. explore: whatever happens, the summary's rewards are the changes
    out = step(world, state, Action("explore"))
    assert out.events[0]["type"] == "event"
    state = out.state
    if state.pending_choice is not None:
        # a choice event: answer it with the first affordable option
        options = world.events[state.pending_choice].choices
        option = next(c for c in options if c.cost <= state.spirit_stones)
        out = step(world, state, Action("choose", target=option.id))
        assert out.state.pending_choice is None and out.events[0]["option"] == option.id
        state = out.state
    if not state.alive:
        state = step(world, state, Action("rest")).state

    # 4. fight a local beast until a victory (resting when hurt)
    for _ in range(30):
        if state.hp < state.max_hp // 2:
            state = step(world, state, Action("rest")).state
            continue
        out = step(world, state, Action("fight", target="hui_lang"))
        facts = out.narration.facts
        assert out.state.hp == max(0, state.hp - facts["damage_taken"])
        if out.success:
            wolf = world.monsters["hui_lang"]
            assert out.state.qi - state.qi == facts["qi_gain"] <= wolf.qi_reward
            assert out.state.kills == state.kills + 1
            state = out.state
            break
        state = out.state
    else:
        raise AssertionError("never won a fight against a grey wolf")

    # a refusal changes nothing: there is no outcome, and the state is still the same
    before = state.to_dict()
    with pytest.raises(ActionRefused) as info:
        step(world, state, Action("travel", target="kunlun_ruins"))
    assert info.value.code == "not_adjacent"
    assert state.to_dict() == before


def test_scripted_choice_and_tribulation(world: World) -> None:
    """A choice event met and answered, then a prepared 金丹圆满 cultivator meets the 天劫 of
    元婴: preparation spends stones and days and raises the odds the outcome shows."""
    state = replace(new_player(world, "韩立", action_seed(PLAYER_ID, 0)).state,
                    location="luoxia_mountains", spirit_stones=30)
    only = replace(world, events=MappingProxyType({"bandit_toll": world.events["bandit_toll"]}))
    out = apply_action(only, state, Action("explore"), action_seed(PLAYER_ID, state.turn))
    assert replay(state, out) == out.state.to_dict()
    assert out.state.pending_choice == "bandit_toll"
    with pytest.raises(ChoicePending):
        step(only, out.state, Action("cultivate"))
    paid = step(only, out.state, Action("choose", target="bargain"))
    assert paid.state.spirit_stones <= 30 - 8 and paid.state.pending_choice is None

    stage = len(world.realm("jindan").stages) - 1
    state = replace(paid.state, realm="jindan", stage=stage, spirit_stones=10_000,
                    location="lingquan_valley", hp=2000, max_hp=2000)
    state = replace(state, qi=qi_required(world, state))
    with pytest.raises(ActionRefused) as info:
        step(world, state, Action("breakthrough"))
    assert info.value.code == "gate_not_met"
    odds = []
    while state.preparation < world.rules.stakes.max_preparation:
        out = step(world, state, Action("prepare"))
        odds.append(out.narration.facts["tribulation_percent"])
        state = out.state
    assert odds == sorted(odds) and odds[-1] > odds[0]
    out = step(world, state, Action("breakthrough"))
    event = out.events[0]
    if out.success:
        assert event["tribulation"]["survived"] and out.state.realm == "yuanying"
    elif "tribulation" in event:
        assert out.state.ended and out.state.end_cause == "tribulation"
        assert event["tribulation"]["roll"] >= event["tribulation"]["survival"]
    else:
        assert event["roll"] >= event["chance"] and out.state.realm == "jindan"
    assert out.state.preparation == 0
