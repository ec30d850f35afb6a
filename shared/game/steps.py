"""What quests, sect missions and sect trials share: items to hand in, steps to do, rewards.

Pure helpers over (world, state, rng); the action handlers in quests.py and sects.py use them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from shared.data import World
from shared.data.world_models import Reward, Step
from shared.errors import ActionRefused
from shared.game.combat import FightResult, fight_monster
from shared.game.progress import realm_allows, with_qi
from shared.game.state import PlayerState


def item_list(world: World, items: Mapping[str, int]) -> str:
    """``百年灵草×2、赤蛇胆×1`` (``无`` when empty)."""
    parts = [f"{world.items[i].name}×{n}" if i in world.items else f"{i}×{n}"
             for i, n in sorted(items.items())]
    return "、".join(parts) or "无"


def require_items(world: World, state: PlayerState, items: Mapping[str, int], times: int = 1,
                  ) -> None:
    """Refuse (``missing_items``) unless the player carries ``items`` ``times`` over."""
    short = {i: n * times - state.count(i) for i, n in items.items() if state.count(i) < n * times}
    if short:
        need = item_list(world, {i: n * times for i, n in items.items()})
        raise ActionRefused(f"所需之物不足：需{need}，尚缺{item_list(world, short)}。",
                            code="missing_items")


def take_items(state: PlayerState, items: Mapping[str, int], times: int = 1) -> PlayerState:
    """A copy without ``items`` (``times`` over); call :func:`require_items` first."""
    for item_id, n in sorted(items.items()):
        state = state.with_item(item_id, -n * times)
    return state


def give_items(state: PlayerState, items: Mapping[str, int], times: int = 1) -> PlayerState:
    """A copy with ``items`` (``times`` over) added."""
    for item_id, n in sorted(items.items()):
        state = state.with_item(item_id, n * times)
    return state


def require_stones(state: PlayerState, cost: int) -> None:
    """Refuse (``not_enough_stones``) unless the player has ``cost`` spirit stones."""
    if state.spirit_stones < cost:
        raise ActionRefused(f"灵石不足：需{cost}，你只有{state.spirit_stones}。",
                            code="not_enough_stones")


def require_realm(world: World, state: PlayerState, min_realm: str | None, what: str) -> None:
    """Refuse (``realm_too_low``) unless the player's realm is at least ``min_realm``."""
    if not realm_allows(world, state, min_realm):
        assert min_realm is not None
        raise ActionRefused(f"{what}须{world.realm(min_realm).name}以上修为。",
                            code="realm_too_low")


def count_of(world: World, count: int | None) -> int:
    """The action's ``count`` (1 when absent), refused (``bad_count``) outside 1..max_count."""
    n = 1 if count is None else count
    top = world.econ.max_count
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= top:
        raise ActionRefused(f"数量须在1到{top}之间。", code="bad_count")
    return n


@dataclass(frozen=True)
class StepResult:
    """A step attempted: the state after it, whether it is done, and any fight."""

    state: PlayerState
    done: bool
    fight: FightResult | None
    days: int  # extra days the step itself took (labour, or lying wounded after a defeat)


def check_step(world: World, state: PlayerState, step: Step) -> None:
    """Refuse when the step cannot be attempted here and now (place, items, realm)."""
    if step.location is not None and state.location != step.location:
        place = world.locations[step.location].name
        raise ActionRefused(f"此事须在{place}办理：{step.text}", code="wrong_place")
    if step.kind == "deliver":
        require_items(world, state, step.items)
    if step.kind == "realm":
        require_realm(world, state, step.min_realm, "此步")


def perform_step(world: World, state: PlayerState, step: Step, rng: random.Random) -> StepResult:
    """Attempt ``step`` (after :func:`check_step`): hand in, fight, work or just arrive."""
    check_step(world, state, step)
    if step.kind == "deliver":
        return StepResult(take_items(state, step.items), True, None, 0)
    if step.kind == "hunt":
        assert step.monster is not None  # checked at load
        fr = fight_monster(world, state, world.monsters[step.monster], rng)
        # a defeat costs the days lying wounded, as in any fight
        return StepResult(fr.state, fr.combat.result == "victory", fr, fr.days_lost)
    if step.kind == "labour":
        return StepResult(state, True, None, step.days)
    return StepResult(state, True, None, 0)  # visit, realm: being there is enough


def apply_reward(world: World, state: PlayerState, reward: Reward) -> PlayerState:
    """Spirit stones, qi, items and 贡献 of a reward (favour is the caller's: it knows whose)."""
    after = replace(state, spirit_stones=state.spirit_stones + reward.spirit_stones,
                    contribution=state.contribution + reward.contribution)
    after = with_qi(world, after, reward.qi)
    return give_items(after, reward.items)
