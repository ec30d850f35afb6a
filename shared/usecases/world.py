"""Read-only world data for the page (no effects: the world is in memory)."""

from __future__ import annotations

from shared.errors import NotFound
from shared.usecases.context import GameContext
from shared.usecases.replies import Reply


def world_index(ctx: GameContext) -> Reply:
    """Which catalogues exist and how big they are."""
    kinds = list(ctx.world.CATALOG_KINDS)
    counts = ctx.world.counts()
    return Reply({"kinds": kinds, "counts": {k: int(counts[k]) for k in kinds if k in counts}})


def world_catalog(ctx: GameContext, kind: str) -> Reply:
    """One catalogue (realms, roots, locations, items, techniques, monsters)."""
    if kind not in ctx.world.CATALOG_KINDS:
        raise NotFound(f"No world catalogue {kind!r}; try one of "
                       f"{', '.join(ctx.world.CATALOG_KINDS)}.", code="unknown_catalogue")
    return Reply({"kind": kind, "entries": ctx.world.catalog(kind)})
