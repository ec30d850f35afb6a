"""坊市: buying from and selling to the shops at a location (prices in data/shops.json).

A shop sells at the item's value times its markup, less the owner's favour discount; every
shop that buys pays the value times the world's sell ratio, so there is always a spread.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from shared.data import World
from shared.data.world_models import Shop, ShopEntry
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.favour import favour_level, favour_of
from shared.game.finish import finish
from shared.game.outcome import Outcome
from shared.game.progress import realm_allows
from shared.game.state import PlayerState
from shared.game.steps import count_of, require_realm, require_stones


def shops_here(world: World, state: PlayerState) -> list[Shop]:
    """The shops at the player's location, in data order."""
    return [s for s in world.shops.values() if s.location == state.location]


def buy_price(world: World, state: PlayerState, shop: Shop, entry: ShopEntry) -> int:
    """One unit's price for this player: base price less the owner's favour discount."""
    base = entry.price if entry.price is not None else world.items[entry.item].value * shop.markup
    discount = favour_level(world, favour_of(state, shop.owner)).discount if shop.owner else 0.0
    return max(1, math.ceil(base * (1.0 - discount)))


def sell_price(world: World, item_id: str) -> int:
    """What a shop pays for one unit (0: it will not buy it)."""
    value = world.items[item_id].value
    return max(1, int(value * world.econ.sell_ratio)) if value > 0 else 0


def offers(world: World, state: PlayerState, shop: Shop) -> list[tuple[ShopEntry, int, bool]]:
    """Every entry with this player's price and whether favour and realm allow buying it."""
    out = []
    for e in shop.entries:
        ok = realm_allows(world, state, e.min_realm) and (
            not shop.owner or favour_of(state, shop.owner) >= e.min_favour)
        out.append((e, buy_price(world, state, shop, e), ok))
    return out


def _pick_shop(world: World, state: PlayerState, target: str | None) -> Shop:
    loc = world.locations[state.location]
    if target is not None:
        shop = world.shops.get(target)
        if shop is None:
            raise ActionRefused(f"没有名为“{target}”的店铺。", code="unknown_shop")
        if shop.location != state.location:
            raise ActionRefused(f"{shop.name}不在{loc.name}。", code="shop_not_here")
        return shop
    here = shops_here(world, state)
    if not here:
        raise ActionRefused(f"{loc.name}没有店铺。", code="no_shop")
    return here[0]


def _facts(shop: Shop, item: str, count: int, price: int) -> dict[str, object]:
    return {"shop": shop.name, "item": item, "count": count, "price": price,
            "total": price * count}


def buy(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Buy ``count`` × ``action.item`` from a shop here (``action.target``, or the first)."""
    if not action.item:
        raise ActionRefused("要买什么？请给出物品（item）。", code="missing_item")
    item = world.items.get(action.item)
    if item is None:
        raise ActionRefused(f"没有名为“{action.item}”的物品。", code="unknown_item")
    count = count_of(world, action.count)
    if action.target is None:
        # Without a named shop, the first shop here that stocks the item.
        stocking = [s for s in shops_here(world, state)
                    if any(e.item == item.id for e in s.entries)]
        shop = stocking[0] if stocking else _pick_shop(world, state, None)
    else:
        shop = _pick_shop(world, state, action.target)
    entry = next((e for e in shop.entries if e.item == item.id), None)
    if entry is None:
        raise ActionRefused(f"{shop.name}不卖{item.name}。", code="not_sold_here")
    require_realm(world, state, entry.min_realm, f"购买{item.name}")
    if shop.owner and favour_of(state, shop.owner) < entry.min_favour:
        owner = world.npcs[shop.owner].name
        raise ActionRefused(f"{owner}不肯把{item.name}卖给你（好感须达{entry.min_favour}）。",
                            code="favour_too_low")
    price = buy_price(world, state, shop, entry)
    require_stones(state, price * count)
    after = replace(state, spirit_stones=state.spirit_stones - price * count)
    after = after.with_item(item.id, count)
    summary = f"在{shop.name}以{price * count}灵石购得{item.name}×{count}。"
    return finish(
        world, action="buy", before=state, after=after, success=True, summary=summary,
        kind="buy", days=world.econ.days.buy, facts=_facts(shop, item.name, count, price),
        events=[{"type": "buy", "shop": shop.id, "item": item.id, "count": count,
                 "price": price}],
    )


def sell(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Sell ``count`` × ``action.item`` to a shop here that buys."""
    if not action.item:
        raise ActionRefused("要卖什么？请给出物品（item）。", code="missing_item")
    item = world.items.get(action.item)
    if item is None:
        raise ActionRefused(f"没有名为“{action.item}”的物品。", code="unknown_item")
    count = count_of(world, action.count)
    shop = _pick_shop(world, state, action.target)
    if not shop.buys:
        raise ActionRefused(f"{shop.name}只卖不收。", code="shop_does_not_buy")
    if state.count(item.id) < count:
        raise ActionRefused(f"你身上的{item.name}不足{count}件。", code="no_such_item")
    price = sell_price(world, item.id)
    if price <= 0:
        raise ActionRefused(f"{item.name}不值分文，无人收购。", code="worthless")
    after = replace(state.with_item(item.id, -count),
                    spirit_stones=state.spirit_stones + price * count)
    summary = f"将{item.name}×{count}卖给{shop.name}，得灵石{price * count}。"
    return finish(
        world, action="sell", before=state, after=after, success=True, summary=summary,
        kind="sell", days=world.econ.days.sell, facts=_facts(shop, item.name, count, price),
        events=[{"type": "sell", "shop": shop.id, "item": item.id, "count": count,
                 "price": price}],
    )
