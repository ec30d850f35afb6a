"""寿元 and the end of a cultivator's story: age from game days, the realm's lifespan, and the
refusals once the story is over."""

from __future__ import annotations

from dataclasses import replace

from shared.data import World
from shared.game.state import PlayerState

DAYS_PER_YEAR = 360  # the old calendar: twelve months of thirty days

END_CAUSES: dict[str, str] = {
    "old_age": "寿元耗尽，坐化",
    "tribulation": "渡天劫失败，身死道消",
    "slain": "败于强敌之手，陨落",
    "ascended": "渡劫圆满，白日飞升",
}


def age_years(world: World, state: PlayerState) -> int:
    """The cultivator's age in whole years."""
    return world.rules.start_age + state.day // DAYS_PER_YEAR


def lifespan_of(world: World, state: PlayerState) -> int:
    """The years the current realm grants (a breakthrough to a higher realm extends it)."""
    return world.realm(state.realm).lifespan


def days_left(world: World, state: PlayerState) -> int:
    """Game days before the cultivator reaches the realm's lifespan (0 when reached)."""
    limit = (lifespan_of(world, state) - world.rules.start_age) * DAYS_PER_YEAR
    return max(0, limit - state.day)


def end(state: PlayerState, cause: str) -> PlayerState:
    """A copy whose story is over for ``cause`` (one of :data:`END_CAUSES`)."""
    return replace(state, ended=True, end_cause=cause, pending_choice=None)


def end_line(world: World, state: PlayerState) -> str:
    """The closing line of an ended cultivator, e.g. ``享年121岁，寿元耗尽，坐化。``"""
    cause = END_CAUSES.get(state.end_cause or "", "道途已尽")
    return f"{state.name}享年{age_years(world, state)}岁，{cause}。"
