"""requirements.txt and pyproject.toml name the same dependencies (the seed plan's rule 3)."""

from __future__ import annotations

import ast
import re
import tomllib

from shared.config import REPO_ROOT

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _norm(spec: str) -> str | None:
    match = _NAME.match(spec)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def _requirements() -> set[str]:
    names = set()
    for raw in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-") and (name := _norm(line)):
            names.add(name)
    return names


def _pyproject() -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        specs.extend(group)
    return {name for spec in specs if (name := _norm(spec))}


def test_requirements_and_pyproject_list_the_same_packages() -> None:
    req, proj = _requirements(), _pyproject()
    assert req == proj, {"only in requirements.txt": req - proj,
                         "only in pyproject.toml": proj - req}
    assert {"quart", "flask", "hypercorn", "gunicorn", "httpx", "sqlalchemy"} <= req


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """Each top-level import in the product's code comes from a listed package."""
    import sys

    declared = _requirements() | {"werkzeug", "pydantic-core", "kombu", "h11", "greenlet",
                                  "typing-extensions", "yarl", "multidict", "anyio"}
    imports_to_dist = {"psycopg": "psycopg", "quart_schema": "quart-schema",
                       "prometheus_client": "prometheus-client", "httpx_aiohttp": "httpx-aiohttp",
                       "sqlalchemy": "sqlalchemy", "redis": "redis", "celery": "celery",
                       "uvloop": "uvloop", "pydantic": "pydantic", "aiohttp": "aiohttp",
                       "aiosqlite": "aiosqlite", "hypercorn": "hypercorn", "quart": "quart",
                       "flask": "flask", "gunicorn": "gunicorn", "httpx": "httpx",
                       "werkzeug": "werkzeug", "kombu": "kombu"}
    found: set[str] = set()
    for package in ("shared", "legacy_flask", "quart_app"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    third_party = {
        name for name in found
        if name not in sys.stdlib_module_names and name not in ("shared", "legacy_flask",
                                                                "quart_app", "__future__")
    }
    unknown = {name for name in third_party if imports_to_dist.get(name) not in declared}
    assert not unknown, f"imported but not declared: {sorted(unknown)}"
