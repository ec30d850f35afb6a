"""Narration helpers: messages from prompts.json, deterministic offline prose, the PromptBook."""

from __future__ import annotations

import json
import string
from dataclasses import replace

import pytest

from shared.data import NARRATION_KINDS, World
from shared.data.prompt_fields import COMMON_FIELDS, KIND_FIELDS
from shared.errors import ActionRefused
from shared.game import (
    Action,
    NarrationRequest,
    PromptBook,
    apply_action,
    build_messages,
    new_player,
    offline_raw_text,
    offline_text,
    raw_prompt_messages,
)
from shared.game.narration import RAW_HEAD_CHARS
from shared.game.progress import qi_required
from shared.game.state import PlayerState
from tests.game.test_changes import player
from tests.game.world_samples import world_samples


def sample_requests(world: World) -> dict[str, NarrationRequest]:
    """At least one real request of every narration kind, produced by the rules."""
    found = {"create": new_player(world, "丙", 3).narration}
    # qi 200 leaves room to cultivate; 10**8 is enough for any (minor) breakthrough
    states = [player(world, location=loc, hp=40, qi=qi, inventory={"huichun_dan": 1},
                     realm=realm)
              for loc in ("luoxia_mountains", "qingyun_village", "heifeng_forest", "jiuxiao_leichi")
              for realm in ("lianqi", "dujie") for qi in (200, 10**8)]
    actions = [Action("cultivate"), Action("breakthrough"), Action("explore"), Action("fight"),
               Action("use_item", item="huichun_dan"), Action("rest"),
               Action("travel", target="qingyun_sect"), Action("talk", target="li_laohan")]
    for state in states:
        for action in actions:
            for seed in range(25):
                try:
                    out = apply_action(world, state, action, seed)
                except ActionRefused:
                    break
                found.setdefault(out.narration.kind, out.narration)
    for state, action in world_samples(world):  # gameworld kinds
        found.setdefault(action.type, apply_action(world, state, action, 1).narration)
    for state, action in gamecore_samples(world):
        out = apply_action(world, state, action, 1)
        found.setdefault(out.narration.kind, out.narration)
    return found


def gamecore_samples(world: World) -> list[tuple[PlayerState, Action]]:
    """States where prepare, choose and ascend are accepted."""
    peak = player(world, realm="dujie", stage=len(world.realm("dujie").stages) - 1)
    peak = replace(peak, qi=qi_required(world, peak))
    stage = len(world.realm("lianqi").stages) - 1
    return [
        (player(world, stage=stage, spirit_stones=1000), Action("prepare")),
        (player(world, pending_choice="bandit_toll", location="luoxia_mountains"),
         Action("choose", target="fight")),
        (peak, Action("ascend")),
    ]


@pytest.fixture(scope="module")
def requests(world: World) -> dict[str, NarrationRequest]:
    return sample_requests(world)


def test_rules_produce_every_kind_with_its_facts(requests: dict[str, NarrationRequest]) -> None:
    assert set(requests) >= set(NARRATION_KINDS) - {"fight_draw"}  # draws need odd stats
    for kind, req in requests.items():
        missing = (COMMON_FIELDS | KIND_FIELDS[kind]) - set(req.facts)
        assert not missing, (kind, missing)
        json.dumps(req.facts)  # JSON-safe


def test_messages_carry_the_facts_and_the_player_text(world: World) -> None:
    state = player(world)
    said = "老丈，山上可有仙人？"
    out = apply_action(world, state, Action("talk", target="li_laohan", text=said), 1)
    msgs = build_messages(world, out.narration)
    # A talk: the shared system prompt, the NPC's persona, then this talk (no memory yet).
    assert [m["role"] for m in msgs] == ["system", "system", "user"]
    assert msgs[0]["content"] == world.prompts["talk"].system
    assert "李老汉" in msgs[1]["content"] and said not in msgs[1]["content"]
    user = msgs[-1]["content"]
    assert said in user and "李老汉" in user
    assert json.dumps(dict(out.narration.facts), ensure_ascii=False, sort_keys=True) in user
    assert "{" not in user.replace(json.dumps(dict(out.narration.facts), ensure_ascii=False,
                                              sort_keys=True), "")


def test_offline_text_is_deterministic_and_filled(world: World,
                                                  requests: dict[str, NarrationRequest]) -> None:
    for kind, req in requests.items():
        text = offline_text(world, req)
        assert text == offline_text(world, NarrationRequest.from_dict(req.to_dict()))
        assert text and "{" not in text and "}" not in text, (kind, text)


def test_offline_variants_vary_with_the_facts(world: World) -> None:
    state = player(world)
    texts = {offline_text(world, apply_action(world, state, Action("cultivate"), s).narration)
             for s in range(30)}
    assert len(texts) >= 2  # same turn, other seeds: the later slots vary with the facts
    heads = set()
    for turn in range(6):  # consecutive turns: the opening rotates
        req = apply_action(world, replace(state, turn=turn), Action("cultivate"), 7).narration
        heads.add(offline_text(world, req)[:6])
    assert len(heads) >= 4


def test_every_template_renders_with_a_full_request(world: World) -> None:
    for kind in NARRATION_KINDS:
        facts = {f: f"<{f}>" for f in COMMON_FIELDS | KIND_FIELDS[kind]}
        req = NarrationRequest(kind=kind, facts=facts, player_text="<said>")
        user = build_messages(world, req)[1]["content"]
        assert "{" not in user.replace(json.dumps(facts, ensure_ascii=False, sort_keys=True), "")
        for variant in world.prompts[kind].offline:
            names = {n for _, n, _, _ in string.Formatter().parse(variant) if n}
            assert names <= set(facts) | {"player_text", "facts_json"}


def test_unknown_kind_and_missing_facts_degrade_gracefully(world: World) -> None:
    req = NarrationRequest(kind="kind_from_the_future", facts={"summary": "某事发生。"})
    assert offline_text(world, req) == "某事发生。"
    assert "某事发生。" in build_messages(world, req)[1]["content"]
    old = NarrationRequest(kind="cultivate", facts={})  # an old log entry without facts
    assert "{" not in offline_text(world, old)


def test_raw_prompt_messages_and_offline(world: World) -> None:
    prompt = "请讲一个关于剑修的故事，越长越好，最好有三个转折和一个圆满的结局"
    msgs = raw_prompt_messages(world, prompt)
    assert msgs[-1] == {"role": "user", "content": prompt}
    assert msgs[0]["role"] == "system" and msgs[0]["content"]
    text = offline_raw_text(world, prompt)
    assert text == offline_raw_text(world, prompt)
    assert prompt[:RAW_HEAD_CHARS] in text and prompt not in text


def test_prompt_book_delegates(world: World, requests: dict[str, NarrationRequest]) -> None:
    book = PromptBook(world)
    req = requests["cultivate"]
    assert book.messages(req) == build_messages(world, req)
    assert book.offline(req) == offline_text(world, req)
    assert book.raw_messages("问道") == raw_prompt_messages(world, "问道")
    assert book.offline_raw("问道") == offline_raw_text(world, "问道")
