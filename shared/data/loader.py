"""Read ``data/*.json``, validate every entry, cross-check, and build the World (or fail whole).

Reading never stops at the first problem: every file is parsed, every entry validated and every
reference checked, so one run of ``python -m shared.data check`` lists everything to fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.data.checks import Parsed, check_all, routes_of
from shared.data.errors import DataError, DataProblem
from shared.data.models import (
    Event,
    Item,
    Location,
    Monster,
    Npc,
    PromptFile,
    PromptTemplate,
    Realm,
    Root,
    Rules,
    Technique,
)
from shared.data.world import World
from shared.data.world_checks import check_world
from shared.data.world_models import EconomyRules, Quest, Recipe, Sect, Shop

# kind -> (file name, entry model). Each of these files is a JSON array of entries with an id.
LIST_FILES: dict[str, tuple[str, type[BaseModel]]] = {
    "realms": ("realms.json", Realm),
    "roots": ("roots.json", Root),
    "locations": ("locations.json", Location),
    "events": ("events.json", Event),
    "items": ("items.json", Item),
    "techniques": ("techniques.json", Technique),
    "monsters": ("monsters.json", Monster),
    "npcs": ("npcs.json", Npc),
    # sects, economy, crafting, favour, quests
    "sects": ("sects.json", Sect),
    "shops": ("shops.json", Shop),
    "recipes": ("recipes.json", Recipe),
    "quests": ("quests.json", Quest),
}
# Files holding one JSON object.
RULES_FILE = "rules.json"
PROMPTS_FILE = "prompts.json"
ECONOMY_FILE = "economy.json"
KNOWN_FILES = frozenset({*(name for name, _ in LIST_FILES.values()), RULES_FILE, PROMPTS_FILE,
                         ECONOMY_FILE})


def load_world(data_dir: Path | str) -> World:
    """Load and validate the world in ``data_dir``; raise :class:`DataError` listing all."""
    parsed, problems = parse_dir(Path(data_dir))
    problems += check_all(parsed) + check_world(parsed)
    if problems:
        raise DataError(problems)
    return _build(parsed)


def find_problems(data_dir: Path | str) -> list[DataProblem]:
    """Every problem in ``data_dir`` (empty when the world loads)."""
    parsed, problems = parse_dir(Path(data_dir))
    return problems + check_all(parsed) + check_world(parsed)


def parse_dir(data_dir: Path) -> tuple[Parsed, list[DataProblem]]:
    """Read and schema-validate every file; the valid entries and the problems found so far."""
    parsed = Parsed()
    problems: list[DataProblem] = []
    if not data_dir.is_dir():
        problems.append(DataProblem(str(data_dir), "-", "-", "data directory not found"))
        return parsed, problems
    present = {p.name for p in data_dir.glob("*.json")}
    for extra in sorted(present - KNOWN_FILES):
        problems.append(DataProblem(extra, "-", "-", "unexpected file (a misspelt name?)"))
    for kind, (name, model) in LIST_FILES.items():
        raw = _read_json(data_dir / name, problems)
        if raw is not None:
            _parse_list(parsed, kind, name, model, raw, problems)
    raw = _read_json(data_dir / RULES_FILE, problems)
    if raw is not None:
        parsed.rules = _parse_object(RULES_FILE, Rules, raw, problems)
    raw = _read_json(data_dir / ECONOMY_FILE, problems)
    if raw is not None:
        parsed.economy = _parse_object(ECONOMY_FILE, EconomyRules, raw, problems)
    raw = _read_json(data_dir / PROMPTS_FILE, problems)
    if raw is not None:
        _parse_prompts(parsed, raw, problems)
    return parsed, problems


def _read_json(path: Path, problems: list[DataProblem]) -> Any:
    """The decoded JSON of a file, or None after recording why it cannot be read."""
    name = path.name
    if not path.is_file():
        problems.append(DataProblem(name, "-", "-", "file is missing"))
        return None
    duplicates: list[str] = []

    def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        raw = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicate_keys)
    except UnicodeDecodeError as exc:
        problems.append(DataProblem(name, "-", "-", f"not UTF-8: {exc.reason}"))
        return None
    except json.JSONDecodeError as exc:
        msg = f"broken JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        problems.append(DataProblem(name, "-", "-", msg))
        return None
    for key in duplicates:
        problems.append(DataProblem(name, "-", key, "duplicate key in one JSON object"))
    return raw


def _parse_list(
    parsed: Parsed,
    kind: str,
    name: str,
    model: type[BaseModel],
    raw: Any,
    problems: list[DataProblem],
) -> None:
    if not isinstance(raw, list):
        problems.append(DataProblem(name, "-", "-", "expected a JSON array of entries"))
        return
    valid: list[Any] = []
    ids: list[str] = []
    for index, item in enumerate(raw):
        entry = _entry_name(item, index)
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            ids.append(item["id"])
        try:
            # JSON mode: strict types, but arrays may fill tuple fields.
            valid.append(model.model_validate_json(json.dumps(item)))
        except ValidationError as exc:
            problems.extend(_problems_from(name, entry, exc))
    parsed.entries[kind] = valid
    parsed.raw_ids[kind] = ids
    parsed.raw_counts[kind] = len(raw)


def _parse_object(
    name: str, model: type[BaseModel], raw: Any, problems: list[DataProblem]
) -> Any:
    """One JSON object validated as a whole; the file's stem names the entry."""
    if not isinstance(raw, dict):
        problems.append(DataProblem(name, "-", "-", "expected a JSON object"))
        return None
    try:
        return model.model_validate_json(json.dumps(raw))
    except ValidationError as exc:
        problems.extend(_problems_from(name, Path(name).stem, exc))
        return None


def _parse_prompts(parsed: Parsed, raw: Any, problems: list[DataProblem]) -> None:
    """prompts.json, validated kind by kind so one bad template does not hide the others."""
    name = PROMPTS_FILE
    if not isinstance(raw, dict) or not isinstance(raw.get("kinds"), dict):
        problems.append(DataProblem(name, "-", "kinds", "expected an object with 'kinds'"))
        return
    parsed.prompt_kinds = set(raw["kinds"])
    valid = {}
    for kind, template in raw["kinds"].items():
        try:
            valid[kind] = PromptTemplate.model_validate_json(json.dumps(template))
        except ValidationError as exc:
            problems.extend(_problems_from(name, kind, exc))
    shell = {k: v for k, v in raw.items() if k != "kinds"}
    try:
        parsed.prompts = PromptFile.model_validate_json(json.dumps({**shell, "kinds": {}}))
    except ValidationError as exc:
        problems.extend(_problems_from(name, "-", exc))
        return
    parsed.prompts = parsed.prompts.model_copy(update={"kinds": valid})


def _entry_name(item: Any, index: int) -> str:
    if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
        return str(item["id"])
    return f"#{index}"


def _problems_from(name: str, entry: str, exc: ValidationError) -> Iterable[DataProblem]:
    for err in exc.errors():
        yield DataProblem(name, entry, _field_path(err["loc"]), err["msg"])


def _field_path(loc: tuple[Any, ...]) -> str:
    """``("stages", 0, "qi_required")`` -> ``stages[0].qi_required``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "-"


def _build(parsed: Parsed) -> World:
    """Freeze the validated entries into a World (only called when there are no problems)."""

    def by_id(kind: str) -> MappingProxyType[str, Any]:
        return MappingProxyType({e.id: e for e in parsed.entries[kind]})

    assert parsed.prompts is not None and parsed.rules is not None  # guaranteed by check_all
    assert parsed.economy is not None
    shared_system = parsed.prompts.system
    prompts = {
        kind: t if t.system else t.model_copy(update={"system": shared_system})
        for kind, t in parsed.prompts.kinds.items()
    }
    realms = tuple(parsed.entries["realms"])
    routes = routes_of(parsed.entries["locations"])
    return World(
        realms=realms,
        roots=by_id("roots"),
        locations=by_id("locations"),
        events=by_id("events"),
        items=by_id("items"),
        techniques=by_id("techniques"),
        monsters=by_id("monsters"),
        npcs=by_id("npcs"),
        prompts=MappingProxyType(prompts),
        rules=parsed.rules,
        routes=MappingProxyType({k: MappingProxyType(v) for k, v in routes.items()}),
        realm_ranks=MappingProxyType({r.id: i for i, r in enumerate(realms)}),
        sects=by_id("sects"),
        shops=by_id("shops"),
        recipes=by_id("recipes"),
        quests=by_id("quests"),
        economy=parsed.economy,
    )
