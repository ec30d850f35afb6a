"""The world loads whole or not at all; every kind of bad data is named by file, entry and field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.config import REPO_ROOT
from shared.data import DataError, DataProblem, World, find_problems, load_world
from shared.data.__main__ import main as check_main

DATA = REPO_ROOT / "data"


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of data/ to break."""
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def edit(data_dir: Path, name: str, change: Callable[[Any], object]) -> None:
    """Load ``name``, let ``change`` modify it in place (its return value is ignored), save."""
    path = data_dir / name
    doc = json.loads(path.read_text("utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")


def entry(doc: list[dict[str, Any]], entry_id: str) -> dict[str, Any]:
    return next(e for e in doc if e["id"] == entry_id)


def problems_of(data_dir: Path) -> list[DataProblem]:
    with pytest.raises(DataError) as info:
        load_world(data_dir)
    assert info.value.problems == find_problems(data_dir)
    for p in info.value.problems:
        assert str(p) in str(info.value)
    return info.value.problems


def has(problems: list[DataProblem], file: str, entry_: str, field: str, text: str = "") -> bool:
    return any(p.file == file and p.entry == entry_ and p.field == field and text in p.message
               for p in problems)


# --- the real world ---------------------------------------------------------------------------

def test_real_world_loads_with_enough_content(world: World) -> None:
    c = world.counts()
    assert c["realms"] >= 9 and c["locations"] >= 12 and c["events"] >= 30
    assert [r.name for r in world.realms][:3] == ["练气", "筑基", "金丹"]
    assert world.realms[-1].name == "渡劫"
    assert all(len(r.stages) >= 4 for r in world.realms)
    assert c["roots"] >= 5 and c["items"] >= 10 and c["techniques"] >= 5
    assert c["monsters"] >= 10 and c["npcs"] >= 5
    assert find_problems(DATA) == []


def test_world_is_read_only(world: World) -> None:
    with pytest.raises(TypeError):
        world.items["x"] = world.items["huichun_dan"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        world.rules = None  # type: ignore[misc]


@pytest.mark.parametrize("kind", World.CATALOG_KINDS)
def test_catalog_is_json_safe(world: World, kind: str) -> None:
    entries = world.catalog(kind)
    assert entries and json.loads(json.dumps(entries, ensure_ascii=False)) == entries
    entries[0]["name"] = "changed"
    assert world.catalog(kind)[0]["name"] != "changed"  # a fresh copy each call


def test_location_catalog_shows_routes_both_ways(world: World) -> None:
    by_id = {e["id"]: e for e in world.catalog("locations")}
    sect_routes = {r["to"]: r["cost"] for r in by_id["qingyun_sect"]["routes"]}
    assert sect_routes["qingyun_village"] == 1  # declared only on the village's side
    assert "exits" not in by_id["qingyun_sect"]


def test_catalog_rejects_other_kinds(world: World) -> None:
    with pytest.raises(KeyError):
        world.catalog("events")


# --- bad data ---------------------------------------------------------------------------------

def test_broken_json(data_copy: Path) -> None:
    (data_copy / "realms.json").write_text('[{"id": "lianqi",', "utf-8")
    probs = problems_of(data_copy)
    assert has(probs, "realms.json", "-", "-", "broken JSON")


def test_missing_field(data_copy: Path) -> None:
    edit(data_copy, "locations.json", lambda d: entry(d, "qingyun_sect").pop("qi_density"))
    assert has(problems_of(data_copy), "locations.json", "qingyun_sect", "qi_density",
               "Field required")


def test_wrong_type_is_not_coerced(data_copy: Path) -> None:
    edit(data_copy, "realms.json", lambda d: entry(d, "zhuji").update(lifespan="250"))
    edit(data_copy, "items.json", lambda d: entry(d, "huichun_dan")["effects"].update(hp=60.5))
    probs = problems_of(data_copy)
    assert has(probs, "realms.json", "zhuji", "lifespan")
    assert has(probs, "items.json", "huichun_dan", "effects.hp")


def test_nested_field_path(data_copy: Path) -> None:
    edit(data_copy, "realms.json",
         lambda d: entry(d, "jindan")["stages"][2].update(qi_required=-5))
    assert has(problems_of(data_copy), "realms.json", "jindan", "stages[2].qi_required")


def test_unknown_field_is_a_typo(data_copy: Path) -> None:
    edit(data_copy, "locations.json",
         lambda d: entry(d, "qingyun_village").update(qi_densty=2.0))
    assert has(problems_of(data_copy), "locations.json", "qingyun_village", "qi_densty",
               "Extra inputs")


def test_unknown_references(data_copy: Path) -> None:
    edit(data_copy, "locations.json",
         lambda d: entry(d, "luoxia_mountains")["monsters"].append("dragon"))
    edit(data_copy, "events.json",
         lambda d: entry(d, "wolf_pack")["outcomes"][1]["effects"]["items"].update(ghost_item=1))
    edit(data_copy, "monsters.json",
         lambda d: entry(d, "hui_lang").update(realm="xianren"))
    edit(data_copy, "items.json",
         lambda d: entry(d, "yujian_jingang")["effects"].update(teaches="no_such_art"))
    edit(data_copy, "rules.json", lambda d: d.update(start_location="nowhere"))
    probs = problems_of(data_copy)
    assert has(probs, "locations.json", "luoxia_mountains", "monsters[2]", "unknown monster")
    assert has(probs, "events.json", "wolf_pack", "outcomes[1].effects.items.ghost_item",
               "unknown item")
    assert has(probs, "monsters.json", "hui_lang", "realm", "unknown realm")
    assert has(probs, "items.json", "yujian_jingang", "effects.teaches", "unknown technique")
    assert has(probs, "rules.json", "rules", "start_location", "unknown location")


def test_unreachable_location(data_copy: Path) -> None:
    edit(data_copy, "locations.json",
         lambda d: entry(d, "lingquan_valley").update(exits=[]))
    probs = problems_of(data_copy)
    assert has(probs, "locations.json", "chiyan_volcano", "exits", "unreachable")
    assert not has(probs, "locations.json", "lingquan_valley", "exits", "unreachable")


def test_route_problems(data_copy: Path) -> None:
    def change(d: list[dict[str, Any]]) -> None:
        entry(d, "qingyun_sect")["exits"].append({"to": "qingyun_sect", "cost": 1})
        entry(d, "qingyun_sect")["exits"].append({"to": "qingyun_village", "cost": 9})
    edit(data_copy, "locations.json", change)
    probs = problems_of(data_copy)
    assert has(probs, "locations.json", "qingyun_sect", "exits[2].to", "own start")
    assert has(probs, "locations.json", "qingyun_sect", "exits[3].cost", "different costs")


def test_duplicate_ids(data_copy: Path) -> None:
    edit(data_copy, "items.json", lambda d: d.append(dict(entry(d, "huichun_dan"))))
    assert has(problems_of(data_copy), "items.json", "huichun_dan", "id", "duplicate id")


def test_duplicate_json_keys(data_copy: Path) -> None:
    path = data_copy / "rules.json"
    path.write_text(path.read_text("utf-8").replace('"start_hp": 100,',
                                                    '"start_hp": 100, "start_hp": 1,'), "utf-8")
    assert has(problems_of(data_copy), "rules.json", "-", "start_hp", "duplicate key")


@pytest.mark.parametrize(
    ("file", "entry_id", "path", "field"),
    [("roots.json", "wei_linggen", ("weight",), "weight"),
     ("events.json", "wolf_pack", ("weight",), "weight"),
     ("events.json", "wolf_pack", ("outcomes", 0, "weight"), "outcomes[0].weight")],
)
@pytest.mark.parametrize("bad", [0, -3])
def test_weights_must_be_positive(data_copy: Path, file: str, entry_id: str,
                                  path: tuple[Any, ...], field: str, bad: int) -> None:
    def change(d: list[dict[str, Any]]) -> None:
        target: Any = entry(d, entry_id)
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
    edit(data_copy, file, change)
    assert has(problems_of(data_copy), file, entry_id, field, "greater than 0")


def test_realms_out_of_order(data_copy: Path) -> None:
    def swap(d: list[dict[str, Any]]) -> None:
        d[1], d[2] = d[2], d[1]
    edit(data_copy, "realms.json", swap)
    probs = problems_of(data_copy)
    assert has(probs, "realms.json", "jindan", "rank", "out of order")
    assert has(probs, "realms.json", "zhuji", "stages[0].qi_required", "out of order")


def test_impossible_event(data_copy: Path) -> None:
    def change(d: list[dict[str, Any]]) -> None:
        c = entry(d, "spirit_spring")["conditions"]
        c["max_realm"] = "lianqi"
        c["min_realm"] = "zhuji"
        entry(d, "wolf_pack")["conditions"]["min_danger"] = 9
        entry(d, "wolf_pack")["outcomes"][0]["effects"]["items"] = {"gu_tu": -1}
    edit(data_copy, "events.json", change)
    probs = problems_of(data_copy)
    assert has(probs, "events.json", "spirit_spring", "conditions.max_realm", "below min_realm")
    assert has(probs, "events.json", "wolf_pack", "conditions", "can never happen")
    assert has(probs, "events.json", "wolf_pack", "outcomes[0].effects.items.gu_tu",
               "requires_item")


def test_item_kind_rules(data_copy: Path) -> None:
    def change(d: list[dict[str, Any]]) -> None:
        entry(d, "lang_pi")["effects"] = {"hp": 5}
        entry(d, "juqi_dan")["effects"] = {}
        entry(d, "qingfeng_jian")["effects"] = {"qi": 5}
        entry(d, "yujian_jingang")["effects"] = {}
    edit(data_copy, "items.json", change)
    probs = problems_of(data_copy)
    for item_id in ("lang_pi", "juqi_dan", "qingfeng_jian"):
        assert has(probs, "items.json", item_id, "effects")
    assert has(probs, "items.json", "yujian_jingang", "effects.teaches", "must teach")


def test_npc_must_be_placed(data_copy: Path) -> None:
    edit(data_copy, "locations.json", lambda d: entry(d, "qingyun_village").update(npcs=[]))
    assert has(problems_of(data_copy), "npcs.json", "li_laohan", "id", "not placed")


def test_prompt_problems(data_copy: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["kinds"]["rest"]["offline"][0] = "你休息了{hp_gian}点。"
        d["kinds"]["travel"]["user"] = "去{to_location.__class__}"
        del d["kinds"]["talk"]
        d["kinds"]["dance"] = {"user": "x", "offline": ["y"]}
        d["kinds"]["raw"]["user"] = "no prompt here"
        d["kinds"]["cultivate"]["offline"] = []
    edit(data_copy, "prompts.json", change)
    probs = problems_of(data_copy)
    assert has(probs, "prompts.json", "rest", "offline[0]", "{hp_gian}")
    assert has(probs, "prompts.json", "travel", "user", "unknown placeholder")
    assert has(probs, "prompts.json", "talk", "-", "missing template")
    assert has(probs, "prompts.json", "dance", "-", "unknown narration kind")
    assert has(probs, "prompts.json", "raw", "user", "{prompt}")
    assert has(probs, "prompts.json", "cultivate", "offline")


def test_missing_and_unexpected_files(data_copy: Path) -> None:
    (data_copy / "npcs.json").unlink()
    (data_copy / "monster.json").write_text("[]", "utf-8")
    probs = problems_of(data_copy)
    assert has(probs, "npcs.json", "-", "-", "missing")
    assert has(probs, "monster.json", "-", "-", "unexpected file")


def test_wrong_top_level_shape(data_copy: Path) -> None:
    (data_copy / "items.json").write_text('{"huichun_dan": {}}', "utf-8")
    (data_copy / "rules.json").write_text("[]", "utf-8")
    probs = problems_of(data_copy)
    assert has(probs, "items.json", "-", "-", "JSON array")
    assert has(probs, "rules.json", "-", "-", "JSON object")


def test_not_utf8_and_missing_dir(data_copy: Path, tmp_path: Path) -> None:
    (data_copy / "roots.json").write_bytes(b"\xff\xfe\x00garbage")
    assert has(problems_of(data_copy), "roots.json", "-", "-", "UTF-8")
    with pytest.raises(DataError, match="not found"):
        load_world(tmp_path / "nope")


def test_all_problems_at_once_and_nothing_half_loaded(data_copy: Path) -> None:
    edit(data_copy, "roots.json", lambda d: entry(d, "wei_linggen").update(weight=0))
    edit(data_copy, "items.json", lambda d: d.append(dict(entry(d, "huichun_dan"))))
    edit(data_copy, "locations.json",
         lambda d: entry(d, "luoxia_mountains")["monsters"].append("dragon"))
    (data_copy / "techniques.json").write_text("[", "utf-8")
    probs = problems_of(data_copy)
    files = {p.file for p in probs}
    assert {"roots.json", "items.json", "locations.json", "techniques.json"} <= files
    # a broken file does not cascade: references to its ids are not also reported
    assert not any("unknown technique" in p.message for p in probs)


def test_an_invalid_entry_does_not_cascade(data_copy: Path) -> None:
    edit(data_copy, "monsters.json", lambda d: entry(d, "hui_lang").update(hp="many"))
    probs = problems_of(data_copy)
    assert probs == [p for p in probs if p.entry == "hui_lang"]


# --- the check command ------------------------------------------------------------------------

def test_check_command_lists_every_problem_and_exits_1(
    data_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(data_copy, "roots.json", lambda d: entry(d, "wei_linggen").update(weight=0))
    edit(data_copy, "locations.json", lambda d: entry(d, "qingyun_sect").pop("qi_density"))
    edit(data_copy, "items.json", lambda d: d.append(dict(entry(d, "huichun_dan"))))
    assert check_main(["check", str(data_copy)]) == 1
    out, err = capsys.readouterr()
    assert "roots.json: wei_linggen: weight:" in out
    assert "locations.json: qingyun_sect: qi_density:" in out
    assert "items.json: huichun_dan: id: duplicate id" in out
    assert "3 problems" in err


def test_check_command_prints_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_main(["check", str(DATA)]) == 0
    out = capsys.readouterr().out
    for kind in ("realms", "roots", "locations", "events", "items", "techniques", "monsters",
                 "npcs"):
        assert f"{kind}:" in out


def test_check_command_as_a_module(data_copy: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "shared.data", "check"], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "events:" in ok.stdout
    (data_copy / "events.json").write_text("not json", "utf-8")
    bad = subprocess.run([sys.executable, "-m", "shared.data", "check", str(data_copy)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "events.json: -: -: broken JSON" in bad.stdout
