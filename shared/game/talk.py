"""交谈: speaking with an NPC. The player's words go to the narrator, never to the rules.

The NPC's line is chosen by the player's situation: its plain ``lines`` always fit, its
``remarks`` only when their ``when`` holds (favour level, hp, realm tier, place, a returning
visitor), so an offline reply never contradicts the state ("你身上有伤" only to the hurt).
What was said before (the last topic) is the narrator's part: it sees the conversation.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from shared.data import World
from shared.data.models import Npc
from shared.game.action import Action
from shared.game.favour import (  # gameworld: favour in the facts
    favour_level_name,
    favour_of,
    npc_here,
)
from shared.game.finish import describe_gains, finish
from shared.game.outcome import Outcome
from shared.game.progress import with_qi
from shared.game.prose import fits, tier_of
from shared.game.quests import quest_done
from shared.game.state import PlayerState


def line_facts(world: World, state: PlayerState, npc_id: str) -> dict[str, Any]:
    """What an NPC's remark conditions read, for ``state`` as the NPC meets it."""
    return {
        "hp": state.hp,
        "max_hp": state.max_hp,
        "favour_level": favour_level_name(world, state, npc_id),
        "_tier": tier_of(world.realm_ranks.get(state.realm, 0)),
        "_place": world.place_kinds.get(state.location, "wild"),
        "_returning": npc_id in state.met_npcs,
    }


def fitting_lines(world: World, state: PlayerState, npc: Npc) -> list[str]:
    """The NPC's lines that fit ``state``: every plain line and the remarks whose ``when``
    holds, in file order."""
    facts = line_facts(world, state, npc.id)
    return [*npc.lines, *(r.text for r in npc.remarks if fits(r.when, facts))]


def relations(world: World, state: PlayerState, npc: Npc) -> str:
    """What ties the player to ``npc`` beyond favour, as the narrator is told it (``无``:
    nothing): the sect the NPC speaks for, the quests the NPC gave."""
    ties: list[str] = []
    for sect in world.sects.values():
        if sect.master == npc.id:
            ties.append(f"{npc.name}执掌{sect.name}，你是{sect.name}弟子" if state.sect == sect.id
                        else f"{npc.name}执掌{sect.name}")
    for quest in world.quests.values():
        if quest.giver == npc.id and quest.id in state.quests:
            done = quest_done(state, quest)
            ties.append(f"{npc.name}托付的“{quest.name}”" + ("已办成" if done else "尚未办完"))
    return "；".join(ties) or "无"


def talk(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Talk to ``action.target`` here; the first meeting may bring the NPC's gift."""
    npc = npc_here(world, state, action.target, "交谈")
    npc_id = npc.id
    text = (action.text or "").strip() or None
    line = rng.choice(fitting_lines(world, state, npc))
    first_meeting = npc_id not in state.met_npcs
    after = state
    gift = "无"
    if first_meeting:
        after = replace(after, met_npcs=(*state.met_npcs, npc_id))
        if npc.gift is not None:
            after = replace(after, spirit_stones=after.spirit_stones + npc.gift.spirit_stones)
            after = with_qi(world, after, npc.gift.qi)
            for item_id, count in sorted(npc.gift.items.items()):
                after = after.with_item(item_id, count)
            gift = describe_gains(world, state, after)
    summary = f"与{npc.title}{npc.name}交谈。"
    if gift != "无":
        summary += f"获赠：{gift}。"
    return finish(
        world, action="talk", before=state, after=after, success=True, summary=summary,
        kind="talk", days=world.rules.days.talk, player_text=text,
        facts={"npc": npc.name, "npc_id": npc.id, "npc_title": npc.title,
               "npc_personality": npc.personality, "npc_line": line, "gift": gift,
               "first_meeting": first_meeting, "relations": relations(world, after, npc),
               "favour": favour_of(after, npc_id),
               "favour_level": favour_level_name(world, after, npc_id)},
        events=[{"type": "talk", "npc": npc.id, "first_meeting": first_meeting}],
    )
