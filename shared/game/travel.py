"""行路: moving along one route of the travel graph."""

from __future__ import annotations

import random
from dataclasses import replace

from shared.data import World
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.finish import finish
from shared.game.outcome import Outcome
from shared.game.progress import realm_allows
from shared.game.state import PlayerState


def travel(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Go to ``action.target``, which must be one route away; takes the route's days."""
    target = action.target
    if not target:
        raise ActionRefused("要去哪里？请给出目的地（target）。", code="missing_target")
    if target not in world.locations:
        raise ActionRefused(f"世间并无“{target}”此地。", code="unknown_location")
    here = world.locations[state.location]
    if target == state.location:
        raise ActionRefused(f"你已身在{here.name}。", code="already_here")
    routes = world.neighbors(state.location)
    dest = world.locations[target]
    if target not in routes:
        options = "、".join(world.locations[n].name for n in sorted(routes)) or "无"
        raise ActionRefused(f"{here.name}与{dest.name}之间并无直达之路（可往：{options}）。",
                            code="not_adjacent")
    if not realm_allows(world, state, dest.min_realm):
        need = world.realm(dest.min_realm).name if dest.min_realm else ""
        raise ActionRefused(f"{dest.name}凶险莫测，须{need}以上修为方可前往。",
                            code="realm_too_low")
    days = routes[target]
    after = replace(state, location=target)
    summary = f"自{here.name}行至{dest.name}，历时{days}日。"
    return finish(
        world, action="travel", before=state, after=after, success=True, summary=summary,
        kind="travel", days=days,
        facts={"from_location": here.name, "to_location": dest.name, "days": days,
               "location_description": dest.description, "danger": dest.danger},
        events=[{"type": "travel", "from": here.id, "to": dest.id, "days": days}],
    )
