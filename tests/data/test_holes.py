"""Every item, technique, recipe, material and monster has a way in and a use; the checker
names each kind of hole and start-up (``load_world``) refuses data that has one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.data import World
from tests.data.test_loader import data_copy, edit, entry, has, problems_of  # noqa: F401


def test_real_world_has_no_holes_and_the_old_ones_are_filled(world: World) -> None:
    # the list: items and high-tier techniques that had no way in now have one
    for item_id in ("jinsi_ruanjia", "xiaohuan_dan", "yujian_qingyuan", "yujian_taiyi",
                    "yujian_bingxin"):
        assert item_id in world.items
    assert {"taiyi_leifa", "bingxin_jue", "jiuzhuan_xuangong", "xuesha_mogong",
            "hunyuan_yiqi"} <= set(world.techniques)
    materials = [i for i in world.items.values() if i.kind == "material"]
    assert len(materials) >= 10


def test_item_without_a_way_in(data_copy: Path) -> None:  # noqa: F811
    def drop_source(d: list[dict[str, Any]]) -> None:
        entry(d, "main_5")["reward"]["items"] = {}
    edit(data_copy, "quests.json", drop_source)
    probs = problems_of(data_copy)
    assert has(probs, "items.json", "yujian_hunyuan", "-", "no way in")
    # the chain: the manual had the only way in to its technique
    assert has(probs, "techniques.json", "hunyuan_yiqi", "-", "no way in")


def test_material_without_a_use(data_copy: Path) -> None:  # noqa: F811
    def change(d: list[dict[str, Any]]) -> None:
        d.append({"id": "kong_shi", "name": "空石", "kind": "material", "grade": "凡品",
                  "value": 1, "description": "无用之石。"})
    edit(data_copy, "items.json", change)
    edit(data_copy, "shops.json", lambda d: d[0]["entries"].append({"item": "kong_shi"}))
    probs = problems_of(data_copy)
    assert has(probs, "items.json", "kong_shi", "kind", "no use")
    assert not has(probs, "items.json", "kong_shi", "-", "no way in")


def test_recipe_without_a_way_in_and_its_output(data_copy: Path) -> None:  # noqa: F811
    edit(data_copy, "items.json",
         lambda d: entry(d, "qipu_rumen")["effects"].update(recipes=["f_qingfeng", "f_zhongjian"]))
    probs = problems_of(data_copy)
    assert has(probs, "recipes.json", "f_jinsi", "-", "no way in")
    assert has(probs, "items.json", "jinsi_ruanjia", "-", "no way in") is False  # quest reward


def test_recipe_without_a_furnace_and_a_tool_without_a_use(data_copy: Path) -> None:  # noqa: F811
    def no_forge_tools(d: list[dict[str, Any]]) -> None:
        for tool in ("xuantie_qilu", "diyan_qilu"):
            entry(d, tool)["effects"] = {"alchemy_bonus": 0.01}
    edit(data_copy, "items.json", no_forge_tools)
    probs = problems_of(data_copy)
    assert has(probs, "recipes.json", "f_qingfeng", "kind", "no obtainable furnace")
    def only_forging(d: list[dict[str, Any]]) -> None:
        d[:] = [r for r in d if r["kind"] == "forging"]
    edit(data_copy, "recipes.json", only_forging)
    probs = problems_of(data_copy)
    assert has(probs, "items.json", "qingtong_danlu", "effects", "no use")


def test_monster_never_met(data_copy: Path) -> None:  # noqa: F811
    edit(data_copy, "monsters.json", lambda d: d.append(
        {**entry(d, "hui_lang"), "id": "lost_wolf", "name": "迷路的狼"}))
    assert has(problems_of(data_copy), "monsters.json", "lost_wolf", "-", "never met")


def test_loot_of_an_unmet_monster_is_no_way_in(data_copy: Path) -> None:  # noqa: F811
    def change(d: list[dict[str, Any]]) -> None:
        d.append({**entry(d, "hui_lang"), "id": "lost_wolf", "name": "迷路的狼",
                  "loot": [{"item": "tanhua", "chance": 1.0}]})
    edit(data_copy, "monsters.json", change)
    edit(data_copy, "items.json", lambda d: d.append(
        {"id": "tanhua", "name": "昙花", "kind": "pill", "grade": "下品", "value": 1,
         "description": "一现。", "effects": {"hp": 1}}))
    assert has(problems_of(data_copy), "items.json", "tanhua", "-", "no way in")


def test_world_references_are_checked(data_copy: Path) -> None:  # noqa: F811
    def sects(d: list[dict[str, Any]]) -> None:
        s = entry(d, "qingyun")
        s["location"] = "atlantis"
        s["rivals"].append("qingyun")
        s["missions"][0]["step"] = {"kind": "hunt", "text": "x", "location": "qingyun_village",
                                    "monster": "hui_lang"}
        s["exchange"][0]["min_rank"] = 9
    edit(data_copy, "sects.json", sects)
    edit(data_copy, "shops.json", lambda d: d[0].update(owner="danshi_lin"))
    edit(data_copy, "recipes.json", lambda d: entry(d, "r_juqi").update(output="ghost"))
    edit(data_copy, "quests.json", lambda d: entry(d, "main_2").update(requires="main_9"))
    edit(data_copy, "quests.json", lambda d: entry(d, "village_wolves")["steps"][1].pop("items"))
    edit(data_copy, "economy.json", lambda d: d["favour"]["levels"].reverse())
    probs = problems_of(data_copy)
    assert has(probs, "sects.json", "qingyun", "location", "unknown location")
    assert has(probs, "sects.json", "qingyun", "rivals[1]", "itself")
    assert has(probs, "sects.json", "qingyun", "missions[0].step.monster", "does not live")
    assert has(probs, "sects.json", "qingyun", "exchange[0].min_rank", "no such rank")
    assert has(probs, "shops.json", "village_store", "owner", "does not live")
    assert has(probs, "recipes.json", "r_juqi", "output", "unknown item")
    assert has(probs, "quests.json", "main_2", "requires", "unknown quest")
    assert has(probs, "quests.json", "village_wolves", "steps[1]", "deliver step needs")
    assert has(probs, "economy.json", "economy", "favour.levels", "rise strictly")


def test_new_files_are_required(data_copy: Path) -> None:  # noqa: F811
    (data_copy / "sects.json").unlink()
    (data_copy / "economy.json").unlink()
    probs = problems_of(data_copy)
    assert has(probs, "sects.json", "-", "-", "missing")
    assert has(probs, "economy.json", "-", "-", "missing")


def test_choice_favour_names_a_real_option(data_copy: Path) -> None:  # noqa: F811
    def change(d: list[dict[str, Any]]) -> None:
        entry(d, "danshi_lin")["choice_favour"] = [
            {"event": "wounded_fox", "option": "dance", "favour": 3},
            {"event": "no_event", "option": "help", "favour": 3}]
    edit(data_copy, "npcs.json", change)
    probs = problems_of(data_copy)
    assert has(probs, "npcs.json", "danshi_lin", "choice_favour[0].option", "no choice option")
    assert has(probs, "npcs.json", "danshi_lin", "choice_favour[1].event", "unknown event")
