"""Combat rounds are deterministic; each result applies its own consequences."""

from __future__ import annotations

from dataclasses import replace

from shared.data import World
from shared.game import Action
from shared.game.combat import fight_monster, resolve_combat
from shared.game.progress import qi_cap
from shared.game.rng import make_rng
from tests.game.test_changes import outcome_of, player


def test_same_seed_same_rounds(world: World) -> None:
    state = player(world, location="heifeng_forest")
    wolf_king = world.monsters["heifeng_langwang"]
    a = resolve_combat(world.rules, state, wolf_king, make_rng(99))
    b = resolve_combat(world.rules, state, wolf_king, make_rng(99))
    assert a == b
    assert len({resolve_combat(world.rules, state, wolf_king, make_rng(s)) for s in range(20)}) > 1


def test_rounds_add_up(world: World) -> None:
    state = player(world)
    monster = world.monsters["shan_xiao"]
    for seed in range(30):
        c = resolve_combat(world.rules, state, monster, make_rng(seed))
        assert c.player_hp == max(0, state.hp - c.damage_taken)
        assert c.monster_hp == max(0, monster.hp - c.damage_dealt)
        assert 1 <= len(c.rounds) <= world.rules.combat_max_rounds
        assert all(d >= 1 for d, _ in c.rounds)


def test_overwhelming_strength_always_wins_and_loots(world: World) -> None:
    state = player(world, location="heifeng_forest", attack=10_000, defense=10_000)
    monster = world.monsters["heifeng_langwang"]
    for seed in range(20):
        fr = fight_monster(world, state, monster, make_rng(seed))
        assert fr.combat.result == "victory" and len(fr.combat.rounds) == 1
        assert fr.state.count("lang_pi") >= 2  # a certain drop (chance 1.0, 2-3)
        assert fr.qi_gain == min(monster.qi_reward, qi_cap(world, state) - state.qi)


def test_defeat_knocks_down_and_costs_stones(world: World) -> None:
    state = player(world, location="jiuxiao_leichi", spirit_stones=100)
    out = outcome_of(world, state, Action("fight", target="jie_ling"))
    assert out.narration.kind == "fight_defeat" and not out.success
    assert out.state.hp == 0
    lost = int(100 * world.rules.defeat_stone_loss)
    assert out.state.spirit_stones == 100 - lost
    assert out.narration.facts["stones_lost"] == lost


def test_badly_hurt_cultivators_sometimes_flee(world: World) -> None:
    state = player(world, location="heifeng_forest")
    monster = world.monsters["heifeng_langwang"]
    results = {resolve_combat(world.rules, state, monster, make_rng(s)).result for s in range(200)}
    assert "fled" in results


def test_a_stalemate_ends_after_the_round_limit(world: World) -> None:
    # Neither side can really hurt the other: 1 damage a blow, far more hp than rounds.
    state = player(world, hp=10_000, max_hp=10_000, attack=1, defense=10_000,
                   location="wanyao_valley")
    rules = world.rules.model_copy(update={"crit_chance": 0.0})
    c = resolve_combat(rules, state, world.monsters["tiebei_xiong"], make_rng(1))
    assert c.result == "draw" and len(c.rounds) == rules.combat_max_rounds
    out = outcome_of(replace(world, rules=rules), state, Action("fight", target="tiebei_xiong"))
    assert out.narration.kind == "fight_draw" and out.state.qi == state.qi
