"""抉择: an explored event that waits for the player's choice, answered by ``choose`` (or
``flee``). Each option has its own weighted outcomes in ``data/events.json``."""

from __future__ import annotations

import random
from dataclasses import replace

from shared.data import World
from shared.data.models import Choice, Event
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.combat import RESULT_NAMES, fight_summary
from shared.game.exploration import EVENT_KIND_NAMES, apply_effects, choose_line
from shared.game.favour import choice_favour
from shared.game.finish import describe_gains, finish
from shared.game.outcome import Outcome
from shared.game.state import PlayerState


def pending_event(world: World, state: PlayerState) -> Event | None:
    """The event whose choice waits, or None (an id gone from the data counts as none)."""
    if state.pending_choice is None:
        return None
    return world.events.get(state.pending_choice)


def choice_prompt(world: World, state: PlayerState) -> str:
    """The 409 message: which choice waits and its options."""
    event = pending_event(world, state)
    if event is None:
        return "尚有抉择未决，请先以 choose 作答。"
    return f"「{event.name}」尚待抉择，须先作答。{choose_line(world, event)}"


def choose(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Answer the pending choice with option ``action.target``."""
    event = pending_event(world, state)
    if event is None:
        if state.pending_choice is not None:
            # The event left the data: drop the stale choice rather than lock the player out.
            raise ActionRefused("此抉择已不复存在。", code="stale_choice")
        raise ActionRefused("眼下并无需要抉择之事。", code="no_pending_choice")
    if not action.target:
        raise ActionRefused(f"请给出所选（target）。{choose_line(world, event)}",
                            code="missing_option")
    option = next((c for c in event.choices if c.id == action.target), None)
    if option is None:
        raise ActionRefused(f"并无“{action.target}”这一选项。{choose_line(world, event)}",
                            code="unknown_option")
    return resolve_choice(world, state, event, option, rng)


def flee(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Take the pending choice's flee option (its own weighted odds of getting away)."""
    event = pending_event(world, state)
    option = next((c for c in event.choices if c.kind == "flee"), None) if event else None
    if event is None or option is None:
        raise ActionRefused("眼下无从可逃，亦无须逃。", code="nothing_to_flee")
    return resolve_choice(world, state, event, option, rng)


def flee_odds(option: Choice) -> float:
    """Share of a flee option's outcome weight that ends without a fight."""
    total = sum(o.weight for o in option.outcomes)
    clean = sum(o.weight for o in option.outcomes if o.effects.fight is None)
    return round(clean / total, 4)


def resolve_choice(
    world: World, state: PlayerState, event: Event, option: Choice, rng: random.Random
) -> Outcome:
    """Pay the option's cost, roll one of its outcomes and apply it; the choice is made."""
    if state.spirit_stones < option.cost:
        raise ActionRefused(f"{option.label}需灵石{option.cost}（现{state.spirit_stones}）。",
                            code="not_enough_stones")
    paid = replace(state, pending_choice=None, spirit_stones=state.spirit_stones - option.cost)
    index = rng.choices(range(len(option.outcomes)),
                        weights=[o.weight for o in option.outcomes], k=1)[0]
    branch = option.outcomes[index]
    after, fr = apply_effects(world, paid, branch.effects, rng)
    after = choice_favour(world, after, event.id, option.id)  # gameworld: NPCs hear of it
    rewards = describe_gains(world, state, after)
    summary = f"「{event.name}」择{option.label}：{branch.text}所得：{rewards}。"
    events: list[dict[str, object]] = [
        {"type": "choice_made", "event": event.id, "option": option.id, "kind": option.kind,
         "outcome": index, "cost": option.cost}
    ]
    if option.kind == "flee":
        events[0]["flee_odds"] = flee_odds(option)
    days = world.rules.stakes.choose_days
    if fr is not None:
        summary += fight_summary(world, fr)
        events.append(fr.event())
        days += fr.days_lost
    return finish(
        world, action="choose", before=state, after=after,
        success=fr is None or fr.combat.result == "victory",
        summary=summary, kind="choice", days=days, events=events,
        facts={"event": event.name, "event_kind": EVENT_KIND_NAMES[event.kind],
               "event_text": branch.text, "rewards": rewards, "choice": option.label,
               "fight_result": RESULT_NAMES[fr.combat.result] if fr else "无"},
    )
