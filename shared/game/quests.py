"""NPC quests and the main questline: ``quest`` accepts a quest, then does its steps in order.

``state.quests`` maps a quest id to the number of steps done; a quest is finished when that
equals its number of steps. Main-line chapters open by realm and by the chapter before.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from shared.data import World
from shared.data.world_models import Quest
from shared.errors import ActionRefused
from shared.game.action import Action
from shared.game.combat import RESULT_NAMES, fight_summary
from shared.game.favour import add_favour, claim_favour_gifts, favour_of
from shared.game.finish import describe_gains, finish
from shared.game.frozen import FrozenDict
from shared.game.outcome import Outcome
from shared.game.progress import realm_allows
from shared.game.state import PlayerState
from shared.game.steps import apply_reward, perform_step, require_realm


def quest_done(state: PlayerState, quest: Quest) -> bool:
    """True when every step of ``quest`` is done."""
    return state.quests.get(quest.id, 0) >= len(quest.steps) and quest.id in state.quests


def quest_open(world: World, state: PlayerState, quest: Quest) -> bool:
    """True when ``quest`` may be accepted now (realm, favour, the quest before; not taken)."""
    if quest.id in state.quests:
        return False
    if not realm_allows(world, state, quest.min_realm):
        return False
    if favour_of(state, quest.giver) < quest.min_favour:
        return False
    return quest.requires is None or quest_done(state, world.quests[quest.requires])


def available_quests(world: World, state: PlayerState) -> list[Quest]:
    """Quests the player could accept from someone at their location now."""
    here = set(world.locations[state.location].npcs)
    return [q for q in world.quests.values() if q.giver in here and quest_open(world, state, q)]


def _set_progress(state: PlayerState, quest_id: str, steps: int) -> PlayerState:
    progress = dict(state.quests)
    progress[quest_id] = steps
    return replace(state, quests=FrozenDict(progress))


def _accept(world: World, state: PlayerState, quest: Quest) -> Outcome:
    giver = world.npcs[quest.giver]
    if quest.giver not in world.locations[state.location].npcs:
        raise ActionRefused(f"须当面向{giver.name}领取「{quest.name}」。", code="npc_not_here")
    require_realm(world, state, quest.min_realm, f"「{quest.name}」")
    if favour_of(state, quest.giver) < quest.min_favour:
        raise ActionRefused(f"{giver.name}还信不过你（好感须达{quest.min_favour}）。",
                            code="favour_too_low")
    if quest.requires is not None and not quest_done(state, world.quests[quest.requires]):
        before = world.quests[quest.requires].name
        raise ActionRefused(f"须先完成「{before}」。", code="quest_locked")
    after = _set_progress(state, quest.id, 0)
    summary = (f"自{giver.name}处领下「{quest.name}」：{quest.description}"
               f"下一步：{quest.steps[0].text}")
    return _outcome(world, state, after, quest, summary, "领取", step_text=quest.steps[0].text,
                    events=[{"type": "quest", "quest": quest.id, "stage": "accepted"}],
                    success=True)


def _outcome(world: World, state: PlayerState, after: PlayerState, quest: Quest, summary: str,
             result: str, *, step_text: str, events: list[dict[str, Any]], success: bool,
             rewards: str = "无", fight_result: str = "无", days: int = 0) -> Outcome:
    return finish(
        world, action="quest", before=state, after=after, success=success, summary=summary,
        kind="quest", days=world.econ.days.quest + days, events=events,
        facts={"quest": quest.name, "giver": world.npcs[quest.giver].name,
               "main": quest.main, "step": step_text, "result": result,
               "progress": f"{after.quests.get(quest.id, 0)}/{len(quest.steps)}",
               "rewards": rewards, "fight_result": fight_result},
    )


def quest(world: World, state: PlayerState, action: Action, rng: random.Random) -> Outcome:
    """Accept the quest ``action.target``, or do its next step (finishing it rewards)."""
    if not action.target:
        raise ActionRefused("哪一桩任务？请给出任务（target）。", code="missing_target")
    q = world.quests.get(action.target)
    if q is None:
        raise ActionRefused(f"没有“{action.target}”这桩任务。", code="unknown_quest")
    if q.id not in state.quests:
        return _accept(world, state, q)
    if quest_done(state, q):
        raise ActionRefused(f"「{q.name}」早已完成。", code="quest_done")
    index = state.quests[q.id]
    step = q.steps[index]
    res = perform_step(world, state, step, rng)
    events: list[dict[str, Any]] = []
    summary = f"「{q.name}」第{index + 1}步：{step.text}"
    if res.fight is not None:
        summary += fight_summary(world, res.fight)
        events.append(res.fight.event())
    fight_result = RESULT_NAMES[res.fight.combat.result] if res.fight else "无"
    if not res.done:
        events.append({"type": "quest", "quest": q.id, "stage": "step_failed", "step": index})
        return _outcome(world, state, res.state, q, summary + "此步未成。", "未成",
                        step_text=step.text, events=events, success=False,
                        fight_result=fight_result, days=res.days)
    after = _set_progress(res.state, q.id, index + 1)
    if index + 1 < len(q.steps):
        summary += f"此步已成。下一步：{q.steps[index + 1].text}"
        events.append({"type": "quest", "quest": q.id, "stage": "step_done", "step": index})
        return _outcome(world, state, after, q, summary, "进展", step_text=step.text,
                        events=events, success=True, fight_result=fight_result, days=res.days)
    before_reward = after
    after = apply_reward(world, after, q.reward)
    after = add_favour(world, after, q.giver, q.reward.favour)
    after, texts = claim_favour_gifts(world, after, world.npcs[q.giver])
    rewards = describe_gains(world, before_reward, after)
    if q.reward.favour:
        rewards += f"、{world.npcs[q.giver].name}好感+{q.reward.favour}"
    summary += f"「{q.name}」完成！所得：{rewards}。" + "".join(texts)
    events.append({"type": "quest", "quest": q.id, "stage": "completed", "main": q.main})
    return _outcome(world, state, after, q, summary, "完成", step_text=step.text, events=events,
                    success=True, rewards=rewards, fight_result=fight_result, days=res.days)
