"""Quests: accept from the giver, steps in order, rewards and favour; the main questline."""

from __future__ import annotations

from dataclasses import replace

from shared.data import World
from shared.game import Action, PlayerState
from shared.game.favour import favour_of
from shared.game.quests import available_quests, quest_done
from tests.game.test_actions import refused
from tests.game.test_changes import outcome_of, player


def test_enough_quests_and_a_main_line_by_realm(world: World) -> None:
    npc_quests = [q for q in world.quests.values() if not q.main]
    main = [q for q in world.quests.values() if q.main]
    assert len(npc_quests) >= 5 and all(len(q.steps) >= 2 for q in npc_quests)
    assert len(main) >= 5
    ranks = [world.realm_index(q.min_realm) for q in main]
    assert ranks == sorted(ranks) and ranks[-1] > ranks[0]
    assert len({q.giver for q in main}) >= 4  # across the world's places


def test_village_wolves_from_start_to_reward(world: World) -> None:
    s = player(world, attack=80, defense=40)
    assert "village_wolves" in {q.id for q in available_quests(world, s)}
    out = outcome_of(world, s, Action("quest", target="village_wolves"))
    assert out.state.quests["village_wolves"] == 0
    s = out.state
    refused(world, s, Action("quest", target="village_wolves"), "wrong_place")
    s = replace(s, location="luoxia_mountains")
    out = outcome_of(world, s, Action("quest", target="village_wolves"))
    assert out.success and out.state.quests["village_wolves"] == 1
    s = replace(out.state, location="qingyun_village")
    refused(world, s, Action("quest", target="village_wolves"), "missing_items")
    s = s.with_item("lang_pi", 3)
    out = outcome_of(world, s, Action("quest", target="village_wolves"))
    assert quest_done(out.state, world.quests["village_wolves"])
    assert out.state.spirit_stones == s.spirit_stones + 30
    assert favour_of(out.state, "li_laohan") == 15
    assert out.narration.facts["result"] == "完成"
    refused(world, out.state, Action("quest", target="village_wolves"), "quest_done")


def test_a_lost_fight_does_not_advance(world: World) -> None:
    s = player(world, location="luoxia_mountains", attack=1, defense=0, hp=3,
               quests={"village_wolves": 0})
    out = outcome_of(world, s, Action("quest", target="village_wolves"))
    assert not out.success and out.state.quests["village_wolves"] == 0


def test_main_line_is_locked_by_realm_and_order(world: World) -> None:
    s = player(world, location="qingyun_sect")
    refused(world, s, Action("quest", target="main_2"), "realm_too_low")
    zhuji = replace(s, realm="zhuji")
    refused(world, zhuji, Action("quest", target="main_2"), "quest_locked")
    done = replace(zhuji, quests={"main_1": len(world.quests["main_1"].steps)})
    out = outcome_of(world, done, Action("quest", target="main_2"))
    assert out.state.quests["main_2"] == 0


def test_realm_step_waits_for_the_realm(world: World) -> None:
    s: PlayerState = player(world, location="tianjian_peak", quests={"sword_heart": 1})
    refused(world, s, Action("quest", target="sword_heart"), "realm_too_low")
    out = outcome_of(world, replace(s, realm="jindan"), Action("quest", target="sword_heart"))
    assert out.state.quests["sword_heart"] == 2


def test_quest_refusals(world: World) -> None:
    s = player(world)
    refused(world, s, Action("quest"), "missing_target")
    refused(world, s, Action("quest", target="nope"), "unknown_quest")
    refused(world, s, Action("quest", target="hundred_herbs"), "npc_not_here")


def test_a_lost_hunt_costs_the_days_of_a_defeat(world: World) -> None:
    s = player(world, location="luoxia_mountains", attack=1, defense=0, hp=3,
               quests={"village_wolves": 0})
    out = outcome_of(world, s, Action("quest", target="village_wolves"))
    lost = next(e for e in out.events if e["type"] == "combat")
    assert lost["result"] == "defeat" and lost["days_lost"] > 0
    assert out.state.day == s.day + world.econ.days.quest + lost["days_lost"]


def test_some_quests_need_the_givers_trust(world: World) -> None:
    from shared.game.favour import add_favour

    s = player(world, location="youming_realm", realm="yuanying")
    refused(world, s, Action("quest", target="ghost_king_pact"), "favour_too_low")
    trusted = add_favour(world, s, "yin_jiuniang", 10)
    assert outcome_of(world, trusted, Action("quest", target="ghost_king_pact")).success
