"""Real stakes: 寿元, gates, 天劫, injuries, 心魔, costly defeats and the end of a story."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.data import World
from shared.errors import ActionRefused
from shared.game import Action, PlayerState, apply_action, breakthrough_chance, cultivation_rate
from shared.game.combat import combat_flee_chance, slain_chance
from shared.game.cultivation import tribulation_odds
from shared.game.lifespan import DAYS_PER_YEAR, age_years, days_left
from shared.game.progress import qi_required
from tests.game.test_changes import outcome_of, player


def last_stage(world: World, realm: str, **changes: Any) -> PlayerState:
    """At the last stage of ``realm`` with exactly the qi for the next major breakthrough."""
    stage = len(world.realm(realm).stages) - 1
    state = player(world, realm=realm, stage=stage, **changes)
    return replace(state, qi=qi_required(world, state))


def refused(world: World, state: PlayerState, action: Action) -> str:
    with pytest.raises(ActionRefused) as info:
        apply_action(world, state, action, 1)
    return info.value.code


def seed_where(world: World, state: PlayerState, action: Action, pred: Any) -> int:
    for seed in range(3000):
        if pred(apply_action(world, state, action, seed)):
            return seed
    raise AssertionError("no such seed")


# --- 寿元 ---------------------------------------------------------------------------------

def test_reaching_the_lifespan_ends_the_cultivator(world: World) -> None:
    lifespan = world.realm("lianqi").lifespan
    day = (lifespan - world.rules.start_age) * DAYS_PER_YEAR - 1
    state = player(world, day=day)
    assert days_left(world, state) == 1
    out = outcome_of(world, state, Action("cultivate"))
    assert out.state.ended and out.state.end_cause == "old_age"
    assert age_years(world, out.state) >= lifespan
    assert {"type": "ended", "cause": "old_age", "age": age_years(world, out.state)} in out.events
    assert "坐化" in out.summary
    assert out.narration.facts["end_cause"] == "old_age"
    for action in (Action("rest"), Action("cultivate"), Action("explore")):
        assert refused(world, out.state, action) == "ended"


def test_a_major_breakthrough_in_time_extends_the_lifespan(world: World) -> None:
    lianqi = world.realm("lianqi").lifespan
    day = (lianqi - world.rules.start_age) * DAYS_PER_YEAR - 2
    state = last_stage(world, "lianqi", day=day, preparation=5)
    action = Action("breakthrough")
    out = outcome_of(world, state, action, seed_where(world, state, action, lambda o: o.success))
    assert out.state.realm == "zhuji" and not out.state.ended
    assert days_left(world, out.state) > 0


# --- gates, preparation, 天劫 -----------------------------------------------------------------

def test_major_breakthrough_needs_its_gate(world: World) -> None:
    state = last_stage(world, "lianqi")
    assert refused(world, state, Action("breakthrough")) == "gate_not_met"
    with_pill = state.with_item("zhuji_dan", 1)
    out = outcome_of(world, with_pill, Action("breakthrough"))
    assert out.events[0]["pill"] == "zhuji_dan"
    gate = world.realm("zhuji").gate
    assert gate is not None
    prepared = replace(state, preparation=gate.preparation)
    out = outcome_of(world, prepared, Action("breakthrough"))
    assert out.state.preparation == 0  # spent on the attempt
    # A minor breakthrough has no gate and keeps the preparation.
    minor = replace(player(world, preparation=2), qi=qi_required(world, player(world)))
    assert outcome_of(world, minor, Action("breakthrough")).state.preparation == 2


def test_prepare_costs_stones_and_days_and_raises_the_odds(world: World) -> None:
    state = last_stage(world, "lianqi", spirit_stones=1000)
    cost = world.realm("lianqi").prepare_cost
    out = outcome_of(world, state, Action("prepare"))
    assert out.state.preparation == 1
    assert out.state.spirit_stones == 1000 - cost
    assert out.state.day == state.day + world.rules.stakes.prepare_days
    assert breakthrough_chance(world, out.state).total > breakthrough_chance(world, state).total
    assert "成功率" in out.summary
    assert refused(world, replace(state, spirit_stones=0), Action("prepare")) == \
        "not_enough_stones"
    full = replace(state, preparation=world.rules.stakes.max_preparation)
    assert refused(world, full, Action("prepare")) == "preparation_full"


def test_tribulation_odds_improve_with_preparation_artifact_and_place(world: World) -> None:
    state = last_stage(world, "jindan", location="qingyun_village")
    assert tribulation_odds(world, state, "zhuji") is None  # no 天劫 there
    bare = tribulation_odds(world, state, "yuanying")
    assert bare is not None and bare.survival == world.realm("yuanying").tribulation
    prepared = tribulation_odds(world, replace(state, preparation=3), "yuanying")
    armed = tribulation_odds(world, replace(state, equipped="qingfeng_jian"), "yuanying")
    placed = tribulation_odds(world, replace(state, location="lingquan_valley"), "yuanying")
    demon = tribulation_odds(world, replace(state, heart_demon=2), "yuanying")
    assert prepared and armed and placed and demon
    assert prepared.survival > bare.survival
    assert armed.survival > bare.survival
    assert placed.survival > bare.survival
    assert demon.survival < bare.survival


def test_tribulation_can_kill_and_shows_its_odds(world: World) -> None:
    state = last_stage(world, "jindan", preparation=4, hp=50)
    action = Action("breakthrough")

    def died(o: Any) -> bool:
        return bool(o.state.ended)

    out = outcome_of(world, state, action, seed_where(world, state, action, died))
    assert out.state.end_cause == "tribulation" and not out.success
    assert "tribulation" in out.events[0] and out.events[0]["tribulation"]["survived"] is False
    assert out.narration.facts["tribulation_percent"] > 0
    assert refused(world, out.state, Action("rest")) == "ended"

    def survived(o: Any) -> bool:
        return bool(o.success)

    ok = outcome_of(world, state, action, seed_where(world, state, action, survived))
    assert ok.state.realm == "yuanying" and ok.events[0]["tribulation"]["survived"] is True
    assert "天劫" in ok.summary


# --- failure, injury, 心魔, rest --------------------------------------------------------------

def test_failed_breakthrough_can_injure_and_bring_heart_demon(world: World) -> None:
    state = replace(player(world, root="wei_linggen"), qi=qi_required(world, player(world)))
    action = Action("breakthrough")
    hurt = seed_where(world, state, action, lambda o: not o.success and o.state.injury > 0)
    demon = seed_where(world, state, action, lambda o: not o.success and o.state.heart_demon)
    assert outcome_of(world, state, action, hurt).state.injury == 1
    out = outcome_of(world, state, action, demon)
    assert out.state.heart_demon == 1
    assert breakthrough_chance(world, out.state).parts["heart_demon"] < 0


def test_injury_slows_cultivation_until_rest_heals_it(world: World) -> None:
    state = player(world)
    hurt = replace(state, injury=2)
    assert cultivation_rate(world, hurt) < cultivation_rate(world, state)
    out = outcome_of(world, replace(hurt, heart_demon=1), Action("rest"))  # hp is full
    assert out.state.injury == 1 and out.state.heart_demon == 0
    assert refused(world, state, Action("rest")) == "hp_full"


# --- fights ---------------------------------------------------------------------------------

def test_defeat_costs_time_stones_qi_and_an_injury(world: World) -> None:
    state = player(world, location="heifeng_forest", hp=5, spirit_stones=100, qi=20)
    action = Action("fight", target="heifeng_langwang")
    seed = seed_where(world, state, action, lambda o: o.events[0]["result"] == "defeat")
    out = outcome_of(world, state, action, seed)
    st = world.rules.stakes
    assert out.state.hp == 0 and out.state.injury == st.defeat_injury
    assert out.state.spirit_stones < 100 and out.state.qi < 20
    assert out.state.day == state.day + world.rules.days.fight + st.defeat_days
    assert not out.state.ended  # a foe of one's own realm knocks out, it does not kill


def test_stronger_monsters_can_kill_and_are_harder_to_flee(world: World) -> None:
    state = player(world, location="wanyao_valley", realm="lianqi")
    bear, wolf = world.monsters["tiebei_xiong"], world.monsters["hui_lang"]
    assert slain_chance(world, state, bear) > 0 == slain_chance(world, state, wolf)
    assert combat_flee_chance(world, state, bear) < combat_flee_chance(world, state, wolf)
    action = Action("fight", target="tiebei_xiong")
    out = outcome_of(world, state, action, seed_where(world, state, action,
                                                      lambda o: o.state.ended))
    assert out.state.end_cause == "slain" and "命丧" in out.summary
    assert out.events[0]["slain_chance"] == slain_chance(world, state, bear) > 0
    assert out.events[0]["flee_chance"] == combat_flee_chance(world, state, bear)


# --- ascension ------------------------------------------------------------------------------

def test_ascend_only_at_the_peak_with_full_qi(world: World) -> None:
    assert refused(world, player(world), Action("ascend")) == "not_at_peak"
    peak = player(world, realm="dujie", stage=len(world.realm("dujie").stages) - 1)
    assert refused(world, peak, Action("ascend")) == "not_enough_qi"
    assert refused(world, replace(peak, qi=qi_required(world, peak)),
                   Action("breakthrough")) == "peak_realm"
    out = outcome_of(world, replace(peak, qi=qi_required(world, peak)), Action("ascend"))
    assert out.success and out.state.ended and out.state.end_cause == "ascended"
    assert "飞升" in out.summary
    assert refused(world, out.state, Action("cultivate")) == "ended"
