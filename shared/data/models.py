"""Pydantic models of every entry in ``data/`` (schema only; cross references are in checks.py).

Every model is strict (no ``"5"`` for ``5``), frozen and forbids unknown fields, so a typo in a
designer's JSON is a named problem instead of a silently ignored key. Files are validated in
JSON mode, where arrays become tuples and integers are accepted for floats.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Element = Literal["金", "木", "水", "火", "土", "雷", "冰", "风"]
# tool: a furnace carried for crafting; recipe: a 丹方/图谱 studied with ``learn``.
ItemKind = Literal["pill", "material", "artifact", "manual", "tool", "recipe"]
EventKind = Literal["encounter", "treasure", "ambush", "fortune", "hazard"]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, Field(min_length=1)]
Weight = Annotated[int, Field(gt=0)]
Chance = Annotated[float, Field(ge=0.0, le=1.0)]
Bonus = Annotated[float, Field(ge=-1.0, le=1.0)]
NonNeg = Annotated[int, Field(ge=0)]


class _Entry(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Stage(_Entry):
    """A sub-stage of a realm (e.g. 练气三层, 筑基中期) and the qi needed to leave it."""

    name: Text
    qi_required: Annotated[int, Field(gt=0)]


class StatGain(_Entry):
    """Permanent stat growth granted by a breakthrough."""

    max_hp: NonNeg = 0
    attack: NonNeg = 0
    defense: NonNeg = 0


class Gate(_Entry):
    """What a major breakthrough into a realm needs besides qi (瓶颈): one of ``items``
    carried (taken with the attempt), or at least ``preparation`` points of 闭关准备."""

    items: tuple[Id, ...] = ()
    preparation: Annotated[int, Field(ge=1)]


class Realm(_Entry):
    """A major realm (境界). ``rank`` must follow the file order, 1 first.

    ``cultivate_days`` is how long one 修炼 takes here (None: ``rules.days.cultivate``);
    ``prepare_cost`` the spirit stones of one ``prepare`` here; ``tribulation`` the base odds
    of surviving the 天劫 that meets a successful breakthrough into this realm (None: no 天劫).
    """

    id: Id
    name: Text
    rank: Annotated[int, Field(ge=1)]
    description: Text
    lifespan: Annotated[int, Field(gt=0)]
    qi_scale: Annotated[float, Field(gt=0)]
    breakthrough_chance: Chance  # entering this realm from the previous realm's last stage
    stage_chance: Chance  # moving between this realm's own stages
    entry_gains: StatGain
    stage_gains: StatGain
    stages: Annotated[tuple[Stage, ...], Field(min_length=1)]
    # --- gamecore (issue 9) ---
    cultivate_days: Annotated[int, Field(ge=1)] | None = None
    prepare_cost: NonNeg = 0
    gate: Gate | None = None
    tribulation: Chance | None = None
    # --- end gamecore ---


class Root(_Entry):
    """A spiritual root (灵根): how often it is rolled and what it does."""

    id: Id
    name: Text
    rarity: Text
    weight: Weight
    elements: Annotated[tuple[Element, ...], Field(min_length=1)]
    cultivation_speed: Annotated[float, Field(gt=0, le=10)]
    breakthrough_bonus: Bonus
    description: Text


class Exit(_Entry):
    """One route of the travel graph; walkable both ways, ``cost`` in days."""

    to: Id
    cost: Annotated[int, Field(gt=0)]


class Location(_Entry):
    """A place: its danger, qi density, residents and routes."""

    id: Id
    name: Text
    description: Text
    danger: Annotated[int, Field(ge=0, le=10)]
    qi_density: Annotated[float, Field(gt=0, le=10)]
    element: Element | None = None
    breakthrough_bonus: Bonus = 0.0
    min_realm: Id | None = None
    monsters: tuple[Id, ...] = ()
    npcs: tuple[Id, ...] = ()
    exits: tuple[Exit, ...] = ()


class Effects(_Entry):
    """What an event outcome does to the player; ``fight`` starts a combat afterwards."""

    qi: int = 0
    hp: int = 0
    max_hp: NonNeg = 0
    attack: NonNeg = 0
    defense: NonNeg = 0
    spirit_stones: int = 0
    items: dict[Id, int] = Field(default_factory=dict)
    technique: Id | None = None
    fight: Id | None = None
    injury: NonNeg = 0  # gamecore: lasting wounds dealt by the event


class EventOutcome(_Entry):
    """One weighted branch of an event."""

    weight: Weight
    text: Text
    effects: Effects = Field(default_factory=Effects)


class Conditions(_Entry):
    """When an event can happen. ``locations`` None means anywhere."""

    locations: Annotated[tuple[Id, ...], Field(min_length=1)] | None = None
    min_realm: Id | None = None
    max_realm: Id | None = None
    min_danger: Annotated[int, Field(ge=0, le=10)] = 0
    min_spirit_stones: NonNeg = 0  # e.g. an auction needs the money to bid
    requires_item: Id | None = None
    lacks_technique: Id | None = None


ChoiceKind = Literal["fight", "flee", "bargain", "help", "steal", "leave", "take", "seek"]


class Choice(_Entry):
    """One option of an event's choice (gamecore): its own weighted outcomes.

    ``cost`` spirit stones are paid when it is chosen (refused without them).
    """

    id: Id
    label: Text
    kind: ChoiceKind
    cost: NonNeg = 0
    outcomes: Annotated[tuple[EventOutcome, ...], Field(min_length=1)]


class Event(_Entry):
    """An exploration event (遭遇, 宝物, 伏击, 奇遇, 险境) with weighted outcomes.

    With ``choices`` (2-3), the rolled outcome only sets the scene; the player then answers
    with ``choose`` and the chosen option's outcomes decide.
    """

    id: Id
    name: Text
    kind: EventKind
    weight: Weight
    conditions: Conditions = Field(default_factory=Conditions)
    outcomes: Annotated[tuple[EventOutcome, ...], Field(min_length=1)]
    choices: Annotated[tuple[Choice, ...], Field(max_length=3)] = ()


class ItemEffects(_Entry):
    """What using an item does. ``for_realm`` pills help only the breakthrough into that realm."""

    hp: NonNeg = 0
    qi: NonNeg = 0
    max_hp: NonNeg = 0
    attack: NonNeg = 0
    defense: NonNeg = 0
    spirit_stones: NonNeg = 0
    breakthrough_bonus: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    for_realm: Id | None = None
    teaches: Id | None = None
    # sects, economy, crafting, favour, quests: a recipe item's recipes, a tool's bonuses
    recipes: tuple[Id, ...] = ()
    alchemy_bonus: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    forging_bonus: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


class Item(_Entry):
    """A pill, material, artifact (equipped on use) or technique manual."""

    id: Id
    name: Text
    kind: ItemKind
    grade: Text
    value: NonNeg
    description: Text
    effects: ItemEffects = Field(default_factory=ItemEffects)


class TechniqueEffects(_Entry):
    """Bonuses of a technique; the best ``cultivation_bonus`` among known ones applies."""

    cultivation_bonus: Annotated[float, Field(ge=0.0, le=5.0)] = 0.0
    breakthrough_bonus: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    max_hp: NonNeg = 0
    attack: NonNeg = 0
    defense: NonNeg = 0


class Technique(_Entry):
    """A cultivation method or combat art (功法)."""

    id: Id
    name: Text
    grade: Text
    element: Element | None = None
    min_realm: Id | None = None
    description: Text
    effects: TechniqueEffects


class Loot(_Entry):
    """A possible drop: rolled with ``chance``, count in [min, max]."""

    item: Id
    chance: Annotated[float, Field(gt=0.0, le=1.0)]
    min: Annotated[int, Field(ge=1)] = 1
    max: Annotated[int, Field(ge=1)] = 1


class Monster(_Entry):
    """A foe with fixed stats and loot."""

    id: Id
    name: Text
    realm: Id
    description: Text
    hp: Annotated[int, Field(gt=0)]
    attack: Annotated[int, Field(gt=0)]
    defense: NonNeg
    qi_reward: NonNeg
    spirit_stones: Annotated[tuple[NonNeg, NonNeg], Field()] = (0, 0)
    loot: tuple[Loot, ...] = ()


class Gift(_Entry):
    """What an NPC gives on the first conversation."""

    qi: NonNeg = 0
    spirit_stones: NonNeg = 0
    items: dict[Id, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)


class FavourGift(_Entry):
    """What an NPC gives, once, when the player's favour first reaches ``min_favour``."""

    min_favour: Annotated[int, Field(ge=1, le=100)]
    text: Text
    spirit_stones: NonNeg = 0
    items: dict[Id, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)


class ChoiceFavour(_Entry):
    """How answering an event's choice moves this NPC's favour (e.g. helping the fox pleases
    the alchemist, stealing angers her)."""

    event: Id
    option: Id
    favour: Annotated[int, Field(ge=-100, le=100)]


ConditionName = Literal["place", "tier", "hp_full", "hp_low", "hurt", "qi_ready", "major",
                        "has_loot", "has_gift", "has_pill", "first", "spoke", "gained",
                        "has_rewards", "perilous", "favour", "returning", "topic"]
PlaceKind = Literal["village", "town", "wild", "sect", "secret"]
ConditionValue = bool | str | Annotated[tuple[str, ...], Field(strict=False)]


class Fragment(_Entry):
    """One piece of offline prose for a slot, used only when ``when`` holds for the facts.

    In the JSON a fragment without conditions may be written as a bare string.
    """

    text: Text
    when: dict[ConditionName, ConditionValue] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bare_string(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data


class Npc(_Entry):
    """A character to talk to; ``lines`` (always fit) and ``remarks`` (conditional) feed the
    offline narrator."""

    id: Id
    name: Text
    title: Text
    realm: Id
    personality: Text
    description: Text
    lines: Annotated[tuple[Text, ...], Field(min_length=1)]
    # Lines said only when their ``when`` holds for the player (favour, hp, tier, returning,
    # the last topic); picked together with ``lines`` by ``shared.game.talk``.
    remarks: tuple[Fragment, ...] = ()
    gift: Gift | None = None
    # sects, economy, crafting, favour, quests
    likes: tuple[Id, ...] = ()  # items this NPC values twice as much as a gift
    favour_gifts: tuple[FavourGift, ...] = ()  # given once each when favour reaches min_favour
    choice_favour: tuple[ChoiceFavour, ...] = ()  # event choices that move this NPC's favour


class PromptTemplate(_Entry):
    """The LLM messages and offline prose for one narration kind.

    ``offline`` holds whole variants; ``parts``, when given, is preferred: slots of fragments
    composed by ``shared.game.prose`` according to the facts (``offline`` stays the fallback).
    """

    system: Text | None = None  # None: the book's shared system prompt
    user: Text
    offline: Annotated[tuple[Text, ...], Field(min_length=1)]
    parts: tuple[Annotated[tuple[Fragment, ...], Field(min_length=1)], ...] = ()
    # talk only (see shared.game.narration.talk_messages): the NPC's persona (a system message
    # byte-identical across calls to one NPC), the header of the remembered summary, and the
    # wrapper of the player's earlier words (JSON-quoted data).
    persona: Text | None = None
    recall: Text | None = None
    earlier: Text | None = None


class PromptFile(_Entry):
    """``prompts.json``: one shared system prompt and a template per kind."""

    system: Text
    kinds: dict[Annotated[str, Field(min_length=1)], PromptTemplate]
    place_kinds: dict[Id, PlaceKind] = Field(default_factory=dict)  # location id -> kind


class DaysPerAction(_Entry):
    """Game days each action takes (travel takes its route's cost)."""

    cultivate: NonNeg
    breakthrough: NonNeg
    explore: NonNeg
    fight: NonNeg
    use_item: NonNeg
    rest: NonNeg
    talk: NonNeg


class Stakes(_Entry):
    """Numbers of lifespan, preparation, 天劫, injuries, 心魔 and defeat (gamecore, issue 9)."""

    prepare_days: Annotated[int, Field(ge=1)]
    choose_days: Annotated[int, Field(ge=1)]
    ascend_days: NonNeg
    max_preparation: Annotated[int, Field(ge=1, le=20)]
    preparation_breakthrough_bonus: Annotated[float, Field(ge=0.0, le=0.5)]
    tribulation_per_preparation: Annotated[float, Field(ge=0.0, le=0.5)]
    tribulation_artifact_bonus: Annotated[float, Field(ge=0.0, le=0.5)]
    tribulation_place_factor: Annotated[float, Field(ge=0.0, le=5.0)]
    min_tribulation_survival: Chance
    max_tribulation_survival: Chance
    injury_cultivation_penalty: Annotated[float, Field(ge=0.0, le=0.5)]
    max_injury: Annotated[int, Field(ge=1, le=20)]
    heart_demon_penalty: Annotated[float, Field(ge=0.0, le=0.5)]
    max_heart_demon: Annotated[int, Field(ge=1, le=20)]
    failure_injury_chance: Chance
    failure_heart_demon_chance: Chance
    defeat_days: NonNeg
    defeat_qi_loss: Chance
    defeat_injury: NonNeg
    slain_chance_per_rank: Chance
    combat_flee_per_rank: Chance
    legacy_stone_share: Chance
    legacy_stone_cap: NonNeg
    legacy_item_max_value: NonNeg
    legacy_ascended_qi: NonNeg


class Rules(_Entry):
    """Every global balance number (``rules.json``)."""

    start_location: Id
    start_hp: Annotated[int, Field(gt=0)]
    start_attack: Annotated[int, Field(gt=0)]
    start_defense: NonNeg
    start_spirit_stones: NonNeg
    start_age: Annotated[int, Field(gt=0)]
    start_items: dict[Id, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    start_techniques: tuple[Id, ...] = ()
    name_max_length: Annotated[int, Field(ge=1, le=100)]
    cultivate_base_qi: Annotated[int, Field(gt=0)]
    cultivate_variance: Annotated[float, Field(ge=0.0, lt=1.0)]
    element_affinity_bonus: Annotated[float, Field(ge=0.0, le=5.0)]
    technique_affinity_bonus: Annotated[float, Field(ge=0.0, le=5.0)]
    qi_cap_ratio: Annotated[float, Field(ge=1.0, le=10.0)]
    min_breakthrough_chance: Chance
    max_breakthrough_chance: Chance
    failure_streak_bonus: Annotated[float, Field(ge=0.0, le=1.0)]
    failure_qi_loss: Chance
    failure_hp_loss: Chance
    major_failure_multiplier: Annotated[float, Field(ge=1.0, le=5.0)]
    rest_heal_ratio: Annotated[float, Field(gt=0.0, le=1.0)]
    rest_danger_penalty: Annotated[float, Field(ge=0.0, le=0.1)]
    combat_max_rounds: Annotated[int, Field(ge=1, le=100)]
    defense_factor: Annotated[float, Field(ge=0.0, le=1.0)]
    damage_variance: Annotated[float, Field(ge=0.0, lt=1.0)]
    crit_chance: Chance
    crit_multiplier: Annotated[float, Field(ge=1.0, le=5.0)]
    flee_threshold: Chance
    flee_chance: Chance
    defeat_stone_loss: Chance
    days: DaysPerAction
    stakes: Stakes  # gamecore

