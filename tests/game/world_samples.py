"""One accepted action of each gameworld kind (sects, economy, crafting, favour, quests).

Shared by the narration tests (every kind must be produced by the rules) and the gameworld tests.
"""

from __future__ import annotations

from shared.data import World
from shared.game import Action, PlayerState
from tests.game.test_changes import player


def world_samples(world: World) -> list[tuple[PlayerState, Action]]:
    """(state, action) pairs the rules accept, covering every gameworld action type."""
    at_sect = player(world, location="qingyun_sect", sect="qingyun", contribution=100)
    return [
        (player(world, location="qingyun_sect"), Action("join_sect", target="qingyun")),
        (at_sect, Action("leave_sect")),
        (at_sect, Action("sect_mission", target="qy_labour")),
        (at_sect, Action("exchange", item="huichun_dan", count=2)),
        (at_sect, Action("promote")),
        (player(world, spirit_stones=100), Action("buy", item="huichun_dan", count=2)),
        (player(world), Action("sell", item="huichun_dan")),
        (player(world, inventory={"bainian_lingcao": 4, "qingtong_danlu": 1}, recipes=("r_juqi",)),
         Action("craft", target="r_juqi", count=2)),
        (player(world, inventory={"danjing_rumen": 1}), Action("learn", item="danjing_rumen")),
        (player(world), Action("give", target="li_laohan", item="huichun_dan")),
        (player(world), Action("quest", target="village_wolves")),
    ]
