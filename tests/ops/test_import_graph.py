"""The shape rules of issue 8, checked on the code itself: no import cycle in shared/, no
module importing aiosqlite internals, and the rules importing no I/O framework."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.config import REPO_ROOT

SHARED = REPO_ROOT / "shared"
# What the pure rules may not import (web frameworks, HTTP, databases, clocks, environment).
IMPURE = ("flask", "quart", "httpx", "aiohttp", "sqlalchemy", "psycopg", "redis", "celery",
          "time", "datetime", "os")


def _module(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports anywhere (a function's deferred import counts too, as it is a
    dependency all the same), except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found: set[str] = set()
    checking_only = {id(n) for top in ast.walk(tree) if isinstance(top, ast.If)
                     and "TYPE_CHECKING" in ast.unparse(top.test) for n in ast.walk(top)}
    for sub in ast.walk(tree):
        if id(sub) in checking_only:
            continue
        if isinstance(sub, ast.Import):
            found.update(alias.name for alias in sub.names)
        elif isinstance(sub, ast.ImportFrom):
            base = sub.module or ""
            if sub.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - sub.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in sub.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in SHARED.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ importing its own submodules is not a cycle of modules.
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_no_import_cycle_in_shared() -> None:
    cycle = find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_check_finds_a_cycle() -> None:
    """The check is not vacuous: a cycle through three modules is found; a package importing
    its own submodule is not one."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"p": {"p.x"}, "p.x": {"q"}, "q": set()}) is None


def test_no_module_imports_aiosqlite() -> None:
    for path in SHARED.rglob("*.py"):
        imports = _imports(path)
        assert not any(m == "aiosqlite" or m.startswith("aiosqlite.") for m in imports), path


def test_the_rules_import_no_io() -> None:
    for folder in (SHARED / "game", SHARED / "data"):
        for path in folder.rglob("*.py"):
            for module in _imports(path):
                root = module.split(".")[0]
                assert root not in IMPURE, f"{path.relative_to(REPO_ROOT)} imports {module}"
