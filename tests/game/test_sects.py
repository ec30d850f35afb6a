"""Sects: trial, missions for 贡献, the halls, promotion, leaving, and the stance hook."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.data import World
from shared.game import Action, PlayerState
from shared.game.sects import rank_name, sect_event_factor, stance
from tests.game.test_actions import refused
from tests.game.test_changes import outcome_of, player


def member(world: World, **changes: object) -> PlayerState:
    return replace(player(world, location="qingyun_sect", sect="qingyun"), **changes)


def test_world_has_three_sects_of_each_alignment(world: World) -> None:
    assert {s.alignment for s in world.sects.values()} == {"正", "邪", "中立"}
    for sect in world.sects.values():
        assert sect.location in world.locations and len(sect.ranks) >= 3


def test_trial_fight_decides_entry(world: World) -> None:
    strong = player(world, location="qingyun_sect", attack=60, defense=30)
    out = outcome_of(world, strong, Action("join_sect", target="qingyun"))
    assert out.success and out.state.sect == "qingyun" and out.state.sect_rank == 0
    assert rank_name(world, out.state) == "外门弟子"
    assert any(e["type"] == "combat" for e in out.events)
    weak = player(world, location="qingyun_sect", attack=1, defense=0, hp=5)
    out = outcome_of(world, weak, Action("join_sect", target="qingyun"), seed=3)
    assert not out.success and out.state.sect is None
    assert out.narration.facts["result"] == "未过"


def test_trial_offerings_are_taken_only_on_passing(world: World) -> None:
    s = player(world, location="lingquan_valley", inventory={"bainian_lingcao": 3})
    out = outcome_of(world, s, Action("join_sect", target="yaowang"))
    assert out.state.sect == "yaowang" and out.state.count("bainian_lingcao") == 0
    refused(world, player(world, location="lingquan_valley"),
            Action("join_sect", target="yaowang"), "missing_items")


def test_join_refusals(world: World) -> None:
    s = player(world, location="qingyun_sect")
    refused(world, s, Action("join_sect"), "missing_target")
    refused(world, s, Action("join_sect", target="shaolin"), "unknown_sect")
    refused(world, s, Action("join_sect", target="yaowang"), "not_at_sect")
    refused(world, member(world), Action("join_sect", target="qingyun"), "already_in_sect")
    left = replace(s, claimed=("left:qingyun",))
    refused(world, left, Action("join_sect", target="qingyun"), "sect_refuses")


def test_mission_earns_contribution(world: World) -> None:
    s = member(world, inventory={"bainian_lingcao": 2})
    out = outcome_of(world, s, Action("sect_mission", target="qy_herbs"))
    assert out.success and out.state.contribution == 12 and out.state.count("bainian_lingcao") == 0
    assert out.state.spirit_stones == s.spirit_stones + 5
    labour = outcome_of(world, s, Action("sect_mission", target="qy_labour"))
    assert labour.state.contribution == 4
    assert labour.state.day == s.day + world.econ.days.sect_mission + 10


def test_hunt_mission_needs_the_place_and_a_victory(world: World) -> None:
    s = member(world)
    refused(world, s, Action("sect_mission", target="qy_wolves"), "wrong_place")
    strong = replace(s, location="luoxia_mountains", attack=80, defense=40)
    out = outcome_of(world, strong, Action("sect_mission", target="qy_wolves"))
    assert out.success and out.state.contribution == 15
    weak = replace(s, location="luoxia_mountains", attack=1, defense=0, hp=3)
    out = outcome_of(world, weak, Action("sect_mission", target="qy_wolves"))
    assert not out.success and out.state.contribution == 0


def test_mission_refusals(world: World) -> None:
    refused(world, player(world), Action("sect_mission", target="qy_labour"), "not_in_sect")
    s = member(world)
    refused(world, s, Action("sect_mission"), "missing_target")
    refused(world, s, Action("sect_mission", target="xs_hunt"), "unknown_mission")
    refused(world, s, Action("sect_mission", target="qy_yaodan"), "rank_too_low")
    refused(world, s, Action("sect_mission", target="qy_herbs"), "missing_items")


def test_exchange_spends_contribution(world: World) -> None:
    s = member(world, contribution=100)
    out = outcome_of(world, s, Action("exchange", item="yujian_qingyuan"))
    assert out.state.count("yujian_qingyuan") == 1 and out.state.contribution == 40
    out = outcome_of(world, s, Action("exchange", item="juqi_dan", count=3))
    assert out.state.count("juqi_dan") == s.count("juqi_dan") + 3
    assert out.state.contribution == 100 - 18
    refused(world, s, Action("exchange", item="yujian_taiyi"), "rank_too_low")
    refused(world, s, Action("exchange", item="yujian_xuesha"), "not_exchangeable")
    refused(world, s, Action("exchange"), "missing_item")
    refused(world, s, Action("exchange", item="yujian_qingyuan", count=2),
            "not_enough_contribution")
    refused(world, s, Action("exchange", item="juqi_dan", count=0), "bad_count")
    refused(world, replace(s, location="qingyun_village"),
            Action("exchange", item="juqi_dan"), "not_at_sect")


def test_promotion_costs_contribution_and_needs_realm(world: World) -> None:
    s = member(world, contribution=700)
    out = outcome_of(world, s, Action("promote"))
    assert out.state.sect_rank == 1 and out.state.contribution == 620
    assert rank_name(world, out.state) == "内门弟子"
    refused(world, out.state, Action("promote"), "realm_too_low")  # 真传 needs 筑基
    refused(world, member(world, contribution=10), Action("promote"), "not_enough_contribution")
    refused(world, member(world, sect_rank=3, realm="dujie"), Action("promote"), "top_rank")


def test_leaving_loses_everything_and_angers_the_master(world: World) -> None:
    s = member(world, contribution=300, sect_rank=1)
    out = outcome_of(world, s, Action("leave_sect"))
    assert out.state.sect is None and out.state.contribution == 0 and out.state.sect_rank == 0
    assert out.state.favour["zhishi_zhou"] == -world.econ.leave_favour_loss
    assert "left:qingyun" in out.state.claimed
    refused(world, out.state, Action("leave_sect"), "not_in_sect")


def test_stance_shapes_events(world: World) -> None:
    assert stance(world, "qingyun", "xuesha") == "rival"
    assert stance(world, "qingyun", "yaowang") == "ally"
    assert stance(world, "xuesha", "yaowang") == "neutral"
    loner = player(world)
    assert sect_event_factor(world, loner, "demonic_ambush") == 1.0
    qy = member(world)
    # own member_events (1.5) times the rival 血煞宗's rival_events (2.0)
    assert sect_event_factor(world, qy, "demonic_ambush") == pytest.approx(3.0)
    assert sect_event_factor(world, qy, world.events["sect_task"]) == pytest.approx(2.0)
    xs = replace(qy, sect="xuesha")
    assert sect_event_factor(world, xs, "highway_robbery") == pytest.approx(0.5)  # own
    assert sect_event_factor(world, xs, "hidden_master") == pytest.approx(0.5)  # 青云 shuns
    assert sect_event_factor(world, xs, "wolf_pack") == 1.0


def test_explore_meets_rival_disciples_more_often(world: World) -> None:
    from shared.game import apply_action

    def ambushes(state: PlayerState) -> int:
        n = 0
        for seed in range(400):
            out = apply_action(world, state, Action("explore"), seed)
            n += any(e.get("id") == "demonic_ambush" for e in out.events)
        return n

    loner = player(world, realm="zhuji", location="heifeng_forest")
    assert ambushes(replace(loner, sect="qingyun")) > 1.5 * ambushes(loner)


def test_a_lost_trial_costs_the_days_of_a_defeat(world: World) -> None:
    weak = player(world, location="qingyun_sect", attack=1, defense=0, hp=5)
    out = outcome_of(world, weak, Action("join_sect", target="qingyun"), seed=3)
    lost = next(e for e in out.events if e["type"] == "combat")
    assert lost["result"] == "defeat"
    assert out.state.day == weak.day + world.econ.days.join_sect + lost["days_lost"]
    assert lost["days_lost"] > 0
