"""宗门: joining by trial, missions for 贡献, the sect's halls, promotion, and rivalries.

``sect_event_factor`` is the hook for exploration: how much more (or less) likely an event is
for this player because of their sect and its stance toward the others.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from shared.data import World
from shared.data.models import Event
from shared.data.world_models import Sect
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.combat import RESULT_NAMES, fight_monster, fight_summary
from shared.game.favour import add_favour
from shared.game.finish import describe_gains, finish
from shared.game.outcome import Outcome
from shared.game.state import PlayerState
from shared.game.steps import (
    apply_reward,
    check_step,
    count_of,
    item_list,
    perform_step,
    require_items,
    require_realm,
    require_stones,
    take_items,
)


def sect_of(world: World, state: PlayerState) -> Sect | None:
    """The player's sect (None when unaffiliated or the sect no longer exists)."""
    return world.sects.get(state.sect) if state.sect else None


def rank_name(world: World, state: PlayerState) -> str:
    """The player's rank title in their sect, or 散修."""
    sect = sect_of(world, state)
    if sect is None:
        return "散修"
    return sect.ranks[min(state.sect_rank, len(sect.ranks) - 1)].name


def stance(world: World, sect_id: str, other_id: str) -> str:
    """``rival``, ``ally`` or ``neutral``: how ``sect_id`` regards ``other_id``."""
    sect = world.sects.get(sect_id)
    if sect is None:
        return "neutral"
    if other_id in sect.rivals:
        return "rival"
    return "ally" if other_id in sect.allies else "neutral"


def sect_event_factor(world: World, state: PlayerState, event: Event | str) -> float:
    """The weight multiplier of an exploration event for this player (1.0: no effect).

    A member's own sect scales its ``member_events``; every sect that regards the player's sect
    as a rival scales its ``rival_events`` (its disciples come hunting).
    """
    own = sect_of(world, state)
    if own is None:
        return 1.0
    event_id = event if isinstance(event, str) else event.id
    factor = own.member_events.get(event_id, 1.0)
    for other in world.sects.values():
        if other.id != own.id and own.id in other.rivals:
            factor *= other.rival_events.get(event_id, 1.0)
    return factor


def _require_sect(world: World, state: PlayerState, *, at_home: bool) -> Sect:
    sect = sect_of(world, state)
    if sect is None:
        raise ActionRefused("你尚未拜入任何宗门。", code="not_in_sect")
    if at_home and state.location != sect.location:
        home = world.locations[sect.location].name
        raise ActionRefused(f"须回到{sect.name}（{home}）方可办理。", code="not_at_sect")
    return sect


def _sect_facts(world: World, state: PlayerState, sect: Sect) -> dict[str, Any]:
    return {"sect": sect.name, "alignment": sect.alignment, "rank": rank_name(world, state),
            "contribution": state.contribution}


def join_sect(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Take the entry trial of the sect ``action.target`` at its home; join on passing."""
    if not action.target:
        raise ActionRefused("要拜入哪个宗门？请给出宗门（target）。", code="missing_target")
    sect = world.sects.get(action.target)
    if sect is None:
        raise ActionRefused(f"世间并无“{action.target}”这一宗门。", code="unknown_sect")
    if state.sect is not None:
        raise ActionRefused(f"你已是{rank_name(world, state)}，须先退出原宗门。",
                            code="already_in_sect")
    if f"left:{sect.id}" in state.claimed:
        raise ActionRefused(f"{sect.name}不收叛出师门之人。", code="sect_refuses")
    if state.location != sect.location:
        home = world.locations[sect.location].name
        raise ActionRefused(f"{sect.name}的山门在{home}。", code="not_at_sect")
    trial = sect.trial
    require_realm(world, state, trial.min_realm, f"入{sect.name}")
    require_items(world, state, trial.items)
    require_stones(state, trial.spirit_stones)
    after, summary, events = state, f"参加{sect.name}入门试炼：{trial.text}", []
    fight_result = "无"
    passed = True
    days = world.econ.days.join_sect
    if trial.fight is not None:
        fr = fight_monster(world, state, world.monsters[trial.fight], rng)
        after, passed = fr.state, fr.combat.result == "victory"
        days += fr.days_lost
        summary += fight_summary(world, fr)
        fight_result = RESULT_NAMES[fr.combat.result]
        events.append(fr.event())
    if passed:
        after = take_items(after, trial.items)
        after = replace(after, spirit_stones=after.spirit_stones - trial.spirit_stones,
                        sect=sect.id, sect_rank=0, contribution=0)
        summary += f"通过试炼，成为{sect.name}{sect.ranks[0].name}。"
    else:
        summary += "试炼未过。"
    events.append({"type": "join_sect", "sect": sect.id, "passed": passed})
    return finish(
        world, action="join_sect", before=state, after=after, success=passed, summary=summary,
        kind="join_sect", days=days, events=events,
        facts={**_sect_facts(world, after, sect), "trial": trial.text,
               "result": "通过" if passed else "未过", "fight_result": fight_result},
    )


def leave_sect(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Leave the sect: rank and 贡献 are lost, the master is displeased, no way back."""
    sect = _require_sect(world, state, at_home=False)
    after = replace(state, sect=None, sect_rank=0, contribution=0,
                    claimed=(*state.claimed, f"left:{sect.id}"))
    if sect.master is not None:
        after = add_favour(world, after, sect.master, -world.econ.leave_favour_loss)
    summary = f"叛出{sect.name}，{rank_name(world, state)}身份与{state.contribution}点贡献尽失。"
    return finish(
        world, action="leave_sect", before=state, after=after, success=True, summary=summary,
        kind="leave_sect", days=world.econ.days.leave_sect,
        facts={**_sect_facts(world, state, sect)},
        events=[{"type": "leave_sect", "sect": sect.id}],
    )


def sect_mission(world: World, state: PlayerState, action: Action, rng: random.Random,
                 ) -> Outcome:
    """Do the mission ``action.target`` of the player's sect; success earns its reward."""
    sect = _require_sect(world, state, at_home=False)
    if not action.target:
        raise ActionRefused("要做哪项宗门任务？请给出任务（target）。", code="missing_target")
    mission = next((m for m in sect.missions if m.id == action.target), None)
    if mission is None:
        raise ActionRefused(f"{sect.name}没有“{action.target}”这项任务。",
                            code="unknown_mission")
    if state.sect_rank < mission.min_rank:
        need = sect.ranks[mission.min_rank].name
        raise ActionRefused(f"「{mission.name}」须{need}以上方可领取。", code="rank_too_low")
    check_step(world, state, mission.step)
    res = perform_step(world, state, mission.step, rng)
    after = apply_reward(world, res.state, mission.reward) if res.done else res.state
    summary = f"宗门任务「{mission.name}」：{mission.step.text}"
    events: list[dict[str, Any]] = []
    if res.fight is not None:
        summary += fight_summary(world, res.fight)
        events.append(res.fight.event())
    rewards = describe_gains(world, res.state, after) if res.done else "无"
    if res.done:
        summary += f"任务完成，贡献+{mission.reward.contribution}。"
    else:
        summary += "任务未竟。"
    events.append({"type": "sect_mission", "sect": sect.id, "mission": mission.id,
                   "done": res.done})
    return finish(
        world, action="sect_mission", before=state, after=after, success=res.done,
        summary=summary, kind="sect_mission", days=world.econ.days.sect_mission + res.days,
        events=events,
        facts={**_sect_facts(world, after, sect), "mission": mission.name,
               "mission_text": mission.step.text, "result": "完成" if res.done else "未竟",
               "contribution_gain": mission.reward.contribution if res.done else 0,
               "rewards": rewards,
               "fight_result": RESULT_NAMES[res.fight.combat.result] if res.fight else "无"},
    )


def exchange(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Spend 贡献 on ``count`` × ``action.item`` at the sect's 藏经阁/丹房/器房."""
    sect = _require_sect(world, state, at_home=True)
    if not action.item:
        raise ActionRefused("要兑换什么？请给出物品（item）。", code="missing_item")
    entry = next((e for e in sect.exchange if e.item == action.item), None)
    if entry is None:
        raise ActionRefused(f"{sect.name}不以贡献兑换“{action.item}”。", code="not_exchangeable")
    if state.sect_rank < entry.min_rank:
        need = sect.ranks[entry.min_rank].name
        raise ActionRefused(f"{entry.hall}此物须{need}以上方可兑换。", code="rank_too_low")
    count = count_of(world, action.count)
    cost = entry.cost * count
    if state.contribution < cost:
        raise ActionRefused(f"贡献不足：需{cost}，你只有{state.contribution}。",
                            code="not_enough_contribution")
    after = replace(state, contribution=state.contribution - cost).with_item(entry.item, count)
    name = world.items[entry.item].name
    summary = f"在{sect.name}{entry.hall}以{cost}点贡献兑得{name}×{count}。"
    return finish(
        world, action="exchange", before=state, after=after, success=True, summary=summary,
        kind="exchange", days=world.econ.days.exchange,
        facts={**_sect_facts(world, after, sect), "hall": entry.hall, "item": name,
               "count": count, "cost": cost},
        events=[{"type": "exchange", "sect": sect.id, "item": entry.item, "count": count,
                 "cost": cost}],
    )


def promote(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Rise one rank in the sect: spends the rank's 贡献 and needs its realm."""
    sect = _require_sect(world, state, at_home=True)
    if state.sect_rank + 1 >= len(sect.ranks):
        raise ActionRefused(f"你已是{sect.name}{rank_name(world, state)}，再无可升。",
                            code="top_rank")
    nxt = sect.ranks[state.sect_rank + 1]
    require_realm(world, state, nxt.min_realm, f"晋升{nxt.name}")
    if state.contribution < nxt.cost:
        raise ActionRefused(f"晋升{nxt.name}须{nxt.cost}点贡献，你只有{state.contribution}。",
                            code="not_enough_contribution")
    after = replace(state, sect_rank=state.sect_rank + 1,
                    contribution=state.contribution - nxt.cost)
    summary = f"晋升{sect.name}{nxt.name}（耗贡献{nxt.cost}）。"
    return finish(
        world, action="promote", before=state, after=after, success=True, summary=summary,
        kind="promote", days=world.econ.days.promote,
        facts={**_sect_facts(world, after, sect), "old_rank": rank_name(world, state),
               "new_rank": nxt.name},
        events=[{"type": "promote", "sect": sect.id, "rank": after.sect_rank}],
    )


def sect_catalog_line(world: World, sect: Sect) -> str:
    """A one-line description for views: name, alignment, home and trial offerings."""
    home = world.locations[sect.location].name
    return f"{sect.name}（{sect.alignment}，{home}）：入门须{item_list(world, sect.trial.items)}"
