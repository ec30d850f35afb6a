"""Creating a cultivator: a name and a rolled spiritual root."""

from __future__ import annotations

import re

from shared.data import World
from shared.errors import ActionRefused
from shared.game.finish import common_facts
from shared.game.frozen import FrozenDict
from shared.game.outcome import Change, NarrationRequest, Outcome
from shared.game.progress import learn_technique, title_of
from shared.game.rng import make_rng, weighted_choice
from shared.game.state import PlayerState

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_player(world: World, name: str, seed: int) -> Outcome:
    """Roll a new cultivator; ``outcome.state`` is the player (turn 0).

    Raises ``ActionRefused(code="bad_name")`` for an empty or over-long name.
    """
    clean = _CONTROL.sub("", name or "").strip()
    limit = world.rules.name_max_length
    if not clean or len(clean) > limit:
        raise ActionRefused(f"道号须为1至{limit}个字。", code="bad_name")
    rng = make_rng(seed)
    root = weighted_choice(rng, list(world.roots.values()), lambda r: r.weight)
    rules = world.rules
    state = PlayerState(
        name=clean,
        root=root.id,
        realm=world.realms[0].id,
        location=rules.start_location,
        hp=rules.start_hp,
        max_hp=rules.start_hp,
        attack=rules.start_attack,
        defense=rules.start_defense,
        spirit_stones=rules.start_spirit_stones,
        inventory=FrozenDict(rules.start_items),
    )
    for tech_id in rules.start_techniques:
        state = learn_technique(world, state, tech_id)
    summary = f"{clean}踏上仙途：身具{root.name}（{root.rarity}），初入{title_of(world, state)}。"
    facts = {
        **common_facts(world, state, summary),
        "root": root.name,
        "root_rarity": root.rarity,
        "root_elements": "、".join(root.elements),
        "root_description": root.description,
    }
    # Everything is new: each field's change starts from nothing.
    changes = tuple(Change(k, None, v) for k, v in state.public_dict().items())
    return Outcome(
        action="create",
        success=True,
        state=state,
        changes=changes,
        events=({"type": "root_rolled", "root": root.id, "rarity": root.rarity},),
        summary=summary,
        narration=NarrationRequest(kind="create", facts=facts),
    )
