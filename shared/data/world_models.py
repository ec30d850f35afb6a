"""Pydantic models of the gameworld files: sects, shops, recipes, quests and economy.json.

Strict, frozen and closed like every model in :mod:`shared.data.models` (whose shared types
they use); cross references are checked in :mod:`shared.data.world_checks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.data.models import Id, NonNeg, Text, _Entry

Count = Annotated[int, Field(gt=0)]
StepKind = Literal["deliver", "hunt", "visit", "labour", "realm"]
CraftKind = Literal["alchemy", "forging"]
Alignment = Literal["正", "邪", "中立"]


class Step(_Entry):
    """One thing to do for a quest or a sect mission, done by a ``quest``/``sect_mission`` action.

    deliver: hand in ``items`` at ``location``; hunt: beat ``monster`` at ``location``; visit:
    stand at ``location``; labour: work ``days`` at ``location``; realm: reach ``min_realm``.
    """

    kind: StepKind
    text: Text
    location: Id | None = None
    items: dict[Id, Count] = Field(default_factory=dict)
    monster: Id | None = None
    min_realm: Id | None = None
    days: NonNeg = 0


class Reward(_Entry):
    """What finishing a quest or a mission gives."""

    spirit_stones: NonNeg = 0
    qi: NonNeg = 0
    items: dict[Id, Count] = Field(default_factory=dict)
    favour: NonNeg = 0  # with the quest's giver
    contribution: NonNeg = 0  # 贡献 in the player's sect (missions)


class SectRank(_Entry):
    """A rank (外门弟子, 内门弟子, ...); reaching it costs ``cost`` 贡献 at ``min_realm``."""

    name: Text
    cost: NonNeg = 0
    min_realm: Id | None = None


class Trial(_Entry):
    """The entry trial (入门试炼): realm, offerings and an optional fight to win."""

    text: Text
    min_realm: Id | None = None
    items: dict[Id, Count] = Field(default_factory=dict)
    spirit_stones: NonNeg = 0
    fight: Id | None = None


class Mission(_Entry):
    """A repeatable sect mission (宗门任务) earning 贡献."""

    id: Id
    name: Text
    min_rank: NonNeg = 0
    step: Step
    reward: Reward


class ExchangeEntry(_Entry):
    """Something the sect's 藏经阁/丹房/器房 gives for 贡献."""

    item: Id
    hall: Literal["藏经阁", "丹房", "器房"]
    cost: Count
    min_rank: NonNeg = 0


class Sect(_Entry):
    """A sect: alignment, home, trial, ranks, missions, exchange and stance toward the others.

    ``member_events`` scale exploration event weights for members; ``rival_events`` for members
    of the sects listed in ``rivals`` (e.g. a rival's disciples hunt you).
    """

    id: Id
    name: Text
    alignment: Alignment
    location: Id
    description: Text
    master: Id | None = None  # the NPC who speaks for the sect
    trial: Trial
    ranks: Annotated[tuple[SectRank, ...], Field(min_length=2)]
    missions: Annotated[tuple[Mission, ...], Field(min_length=1)]
    exchange: Annotated[tuple[ExchangeEntry, ...], Field(min_length=1)]
    rivals: tuple[Id, ...] = ()
    allies: tuple[Id, ...] = ()
    member_events: dict[Id, Annotated[float, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=dict)
    rival_events: dict[Id, Annotated[float, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=dict)


class ShopEntry(_Entry):
    """An item for sale; ``price`` None means the item's value times the shop's markup."""

    item: Id
    price: Count | None = None
    min_favour: Annotated[int, Field(ge=-100, le=100)] = 0
    min_realm: Id | None = None


class Shop(_Entry):
    """A shop at a location; ``owner``'s favour unlocks entries and lowers prices."""

    id: Id
    name: Text
    location: Id
    owner: Id | None = None
    description: Text
    markup: Annotated[float, Field(ge=1.0, le=10.0)]
    buys: bool = True  # buys anything with a value, at the world's sell ratio
    entries: Annotated[tuple[ShopEntry, ...], Field(min_length=1)]


class Recipe(_Entry):
    """A 炼丹 or 炼器 recipe: inputs, fee and a base chance to make ``count`` of ``output``."""

    id: Id
    name: Text
    kind: CraftKind
    output: Id
    count: Count = 1
    inputs: Annotated[dict[Id, Count], Field(min_length=1)]
    spirit_stones: NonNeg = 0
    base_chance: Annotated[float, Field(gt=0.0, le=1.0)]
    min_realm: Id | None = None
    days: NonNeg = 3


class Quest(_Entry):
    """An NPC's quest (or a main-line chapter): accepted from ``giver``, steps in order."""

    id: Id
    name: Text
    giver: Id
    main: bool = False
    description: Text
    min_realm: Id | None = None
    min_favour: Annotated[int, Field(ge=-100, le=100)] = 0
    requires: Id | None = None  # a quest that must be finished first
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]
    reward: Reward


class FavourLevel(_Entry):
    """A named band of favour and the shop discount it brings."""

    min: Annotated[int, Field(ge=-100, le=100)]
    name: Text
    discount: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class FavourRules(_Entry):
    """Favour bounds, how gifts move it, and the named levels (lowest first)."""

    min: Annotated[int, Field(ge=-100, le=0)]
    max: Annotated[int, Field(ge=1, le=100)]
    value_per_point: Annotated[int, Field(gt=0)]  # gift value worth one point of favour
    liked_multiplier: Annotated[float, Field(ge=1.0, le=10.0)]
    max_per_gift: Annotated[int, Field(gt=0)]
    levels: Annotated[tuple[FavourLevel, ...], Field(min_length=1)]


class CraftBonus(_Entry):
    """Chance bonuses per craft kind."""

    alchemy: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    forging: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


class CraftingRules(_Entry):
    """How skill, furnace, place and technique move a craft's chance."""

    min_chance: Annotated[float, Field(ge=0.0, le=1.0)]
    max_chance: Annotated[float, Field(ge=0.0, le=1.0)]
    skill_per_exp: Annotated[float, Field(ge=0.0, le=0.1)]
    skill_cap: Annotated[float, Field(ge=0.0, le=1.0)]
    exp_success: NonNeg
    exp_failure: NonNeg
    failure_keeps: Annotated[float, Field(ge=0.0, le=1.0)]  # share of inputs kept on failure
    start_recipes: tuple[Id, ...] = ()
    places: dict[Id, CraftBonus] = Field(default_factory=dict)
    techniques: dict[Id, CraftBonus] = Field(default_factory=dict)


class EconomyDays(_Entry):
    """Game days the gameworld actions take (crafts take their recipe's days, labour its own)."""

    join_sect: NonNeg
    leave_sect: NonNeg
    sect_mission: NonNeg
    exchange: NonNeg
    promote: NonNeg
    buy: NonNeg
    sell: NonNeg
    learn: NonNeg
    give: NonNeg
    quest: NonNeg


class EconomyRules(_Entry):
    """``economy.json``: trade, favour and crafting numbers."""

    days: EconomyDays
    leave_favour_loss: NonNeg  # favour lost with the sect's master when leaving
    sell_ratio: Annotated[float, Field(gt=0.0, le=1.0)]  # what shops pay, times the value
    max_count: Annotated[int, Field(ge=1, le=999)]  # most units one action moves or makes
    favour: FavourRules
    crafting: CraftingRules
