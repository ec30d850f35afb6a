"""A scripted life through the gameworld from creation: trade, favour, a quest, a sect (trial,
missions, the halls, promotion), a recipe book and a craft, with the bookkeeping checked at
every turn. Seeds come from a fixed secret, so the script is the same on every run."""

from __future__ import annotations

from dataclasses import replace

from shared.data import World
from shared.game import Action, Outcome, PlayerState, apply_action, new_player
from shared.game.favour import favour_of
from shared.game.quests import quest_done
from tests.game.test_changes import replay

SEED_BASE = 90210


class Life:
    """A cultivator played turn by turn; refusals fail the test (the script knows the rules)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.state: PlayerState = new_player(world, "石昊", SEED_BASE).state

    def do(self, action: Action) -> Outcome:
        before = self.state
        out = apply_action(self.world, before, action, SEED_BASE + before.turn)
        assert replay(before, out) == out.state.to_dict(), action
        self.state = out.state
        if self.state.pending_choice is not None:  # a choice event met on the way: a free one
            event = self.world.events[self.state.pending_choice]
            free = next(c for c in event.choices if c.cost == 0)
            self.do(Action("choose", target=free.id))
        return out

    def heal(self) -> None:
        while self.state.hp < self.state.max_hp * 0.8:
            self.do(Action("rest"))

    def walk(self, to: str) -> None:
        route = {"qingyun_sect": ["qingyun_sect"], "qingyun_village": ["qingyun_village"],
                 "luoxia_mountains": ["luoxia_mountains"]}
        for hop in route[to]:
            self.do(Action("travel", target=hop))

    def hunt_for(self, item_id: str, count: int) -> None:
        """Fight here until ``count`` of ``item_id`` are carried (resting when hurt)."""
        for _ in range(200):
            if self.state.count(item_id) >= count:
                return
            self.heal()
            self.do(Action("fight", target="hui_lang"))
        raise AssertionError(f"no {item_id} after 200 fights")


def test_a_life_in_the_gameworld(world: World) -> None:
    life = Life(world)
    s0 = life.state
    # the start's spare pills buy goodwill with the village elder
    out = life.do(Action("give", target="li_laohan", item="huichun_dan"))
    assert favour_of(out.state, "li_laohan") >= 1
    # a quest: accept, hunt in the mountains, bring back pelts
    life.do(Action("quest", target="village_wolves"))
    life.walk("luoxia_mountains")
    for _ in range(20):
        life.heal()
        if life.do(Action("quest", target="village_wolves")).success:
            break
    assert life.state.quests["village_wolves"] == 1
    life.hunt_for("lang_pi", 3)
    life.walk("qingyun_village")
    done = life.do(Action("quest", target="village_wolves"))
    assert quest_done(done.state, world.quests["village_wolves"])
    assert favour_of(done.state, "li_laohan") >= 15
    # sell what the hunt left over, buy a pill
    stones = life.state.spirit_stones
    if life.state.count("lang_pi"):
        life.do(Action("sell", item="lang_pi", count=life.state.count("lang_pi")))
    life.do(Action("buy", item="huichun_dan"))
    assert life.state.spirit_stones != stones
    # the sect: trial, missions, the hall, promotion
    life.walk("qingyun_sect")
    for _ in range(5):
        life.heal()
        if life.do(Action("join_sect", target="qingyun")).success:
            break
    assert life.state.sect == "qingyun"
    while life.state.contribution < 80 + 20:
        life.do(Action("sect_mission", target="qy_labour"))
    life.do(Action("promote"))
    assert life.state.sect_rank == 1
    out = life.do(Action("exchange", item="huichun_dan", count=5))
    assert out.state.contribution == life.state.contribution
    assert life.state.count("huichun_dan") >= 5
    # a recipe book and a furnace (a rich patron's gift), then a craft in the sect
    life.state = replace(life.state, inventory={**life.state.inventory, "danjing_rumen": 1,
                                               "qingtong_danlu": 1, "bainian_lingcao": 4})
    life.do(Action("learn", item="danjing_rumen"))
    crafted = life.do(Action("craft", target="r_juqi", count=2))
    assert crafted.narration.facts["batches"] == 2
    assert life.state.alchemy_exp > 0 and life.state.count("bainian_lingcao") == 0
    assert life.state.turn > s0.turn + 20 and life.state.day > s0.day
