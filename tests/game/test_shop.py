"""Shops: prices from data, favour discounts and gates, a spread between buying and selling."""

from __future__ import annotations

import math

from shared.data import World
from shared.game import Action
from shared.game.favour import add_favour
from shared.game.shop import buy_price, offers, sell_price, shops_here
from tests.game.test_actions import refused
from tests.game.test_changes import outcome_of, player


def test_buy_takes_stones_and_gives_items(world: World) -> None:
    s = player(world, spirit_stones=100)
    out = outcome_of(world, s, Action("buy", item="huichun_dan", count=3))
    price = math.ceil(world.items["huichun_dan"].value * world.shops["village_store"].markup)
    assert out.state.spirit_stones == 100 - 3 * price
    assert out.state.count("huichun_dan") == s.count("huichun_dan") + 3
    assert out.narration.facts["total"] == 3 * price


def test_every_price_has_a_spread(world: World) -> None:
    s = player(world)
    for shop in world.shops.values():
        for entry, price, _ in offers(world, add_favour(world, s, shop.owner or "", 100), shop):
            assert price > sell_price(world, entry.item), (shop.id, entry.item)


def test_sell_pays_the_sell_ratio(world: World) -> None:
    s = player(world, inventory={"lang_pi": 5})
    out = outcome_of(world, s, Action("sell", item="lang_pi", count=5))
    assert out.state.count("lang_pi") == 0
    assert out.state.spirit_stones == s.spirit_stones + 5 * sell_price(world, "lang_pi")
    refused(world, s, Action("sell", item="lang_pi", count=6), "no_such_item")
    refused(world, s, Action("sell", item="nothing"), "unknown_item")
    refused(world, s, Action("sell"), "missing_item")
    refused(world, player(world, location="luoxia_mountains", inventory={"lang_pi": 1}),
            Action("sell", item="lang_pi"), "no_shop")


def test_favour_gates_and_discounts(world: World) -> None:
    s = player(world, location="qingyang_market", spirit_stones=5000)
    refused(world, s, Action("buy", item="zhuji_dan"), "favour_too_low")
    friend = add_favour(world, s, "zhanggui_qian", 30)
    out = outcome_of(world, friend, Action("buy", item="zhuji_dan"))
    shop = world.shops["wanbao_lou"]
    entry = next(e for e in shop.entries if e.item == "zhuji_dan")
    assert buy_price(world, friend, shop, entry) < buy_price(world, s, shop, entry)
    assert out.state.spirit_stones == 5000 - buy_price(world, friend, shop, entry)


def test_buy_refusals(world: World) -> None:
    s = player(world)
    refused(world, s, Action("buy"), "missing_item")
    refused(world, s, Action("buy", item="nothing"), "unknown_item")
    refused(world, s, Action("buy", item="zidian_jian"), "not_sold_here")
    refused(world, s, Action("buy", item="huichun_dan", count=50), "bad_count")
    refused(world, player(world, spirit_stones=0), Action("buy", item="huichun_dan"),
            "not_enough_stones")
    refused(world, s, Action("buy", item="huichun_dan", target="wanbao_lou"), "shop_not_here")
    refused(world, s, Action("buy", item="huichun_dan", target="nowhere"), "unknown_shop")
    refused(world, player(world, location="luoxia_mountains"), Action("buy", item="huichun_dan"),
            "no_shop")
    rich = player(world, location="qingyang_market", spirit_stones=99999)
    refused(world, add_favour(world, rich, "zhanggui_qian", 60),
            Action("buy", item="jiangchen_dan"), "realm_too_low")


def test_shops_here(world: World) -> None:
    assert [s.id for s in shops_here(world, player(world))] == ["village_store"]


def test_a_shop_that_only_sells(world: World) -> None:
    from dataclasses import replace as dc_replace
    from types import MappingProxyType

    store = world.shops["village_store"].model_copy(update={"buys": False})
    only_sells = dc_replace(world, shops=MappingProxyType({**world.shops, store.id: store}))
    refused(only_sells, player(world), Action("sell", item="huichun_dan"), "shop_does_not_buy")
    assert outcome_of(only_sells, player(world, spirit_stones=50),
                      Action("buy", item="huichun_dan")).success
