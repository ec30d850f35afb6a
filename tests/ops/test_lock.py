"""requirements.lock pins every package requirements.txt names, inside its range, with hashes.

requirements.txt (and pyproject.toml) hold the ranges; requirements.lock holds the exact
versions ``scripts/dev.sh`` installs (``scripts/dev.sh lock`` rewrites it). A package added to
requirements.txt without refreshing the lock fails here.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires

from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from shared.config import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _ranges() -> list[Requirement]:
    reqs = []
    for raw in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


def _lock() -> dict[str, tuple[Version, str | None, int]]:
    """name -> (pinned version, environment marker or None, number of hashes)."""
    pins: dict[str, tuple[Version, str | None, int]] = {}
    current: str | None = None
    for line in LOCK.read_text().splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match.group(1))
            marker = match.group(3).strip() if match.group(3) else None
            pins[current] = (Version(match.group(2)), marker, 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, marker, hashes = pins[current]
            pins[current] = (version, marker, hashes + 1)
        elif not line.startswith(" "):
            current = None
    return pins


def test_lock_pins_every_requirement_inside_its_range() -> None:
    pins = _lock()
    assert len(pins) > 30, "requirements.lock looks empty"
    missing, outside = [], []
    for req in _ranges():
        name = canonicalize_name(req.name)
        if name not in pins:
            missing.append(req.name)
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            outside.append(f"{req} but locked {pins[name][0]}")
    assert not missing, f"not in requirements.lock (run scripts/dev.sh lock): {missing}"
    assert not outside, f"locked outside the range of requirements.txt: {outside}"


def test_lock_pins_the_extras_requirements_txt_asks_for() -> None:
    """``psycopg[binary]`` needs psycopg-binary locked too, and so on for every extra."""
    pins = _lock()
    env = default_environment()
    missing = []
    for req in _ranges():
        for extra in req.extras:
            try:
                declared = requires(req.name) or []
            except PackageNotFoundError:  # not installed here: nothing to read the extra from
                continue
            for spec in map(Requirement, declared):
                if spec.marker is None or not spec.marker.evaluate({**env, "extra": extra}):
                    continue
                if canonicalize_name(spec.name) not in pins:
                    missing.append(f"{req.name}[{extra}] -> {spec.name}")
    assert not missing, f"extras' packages not locked: {missing}"


def test_every_pin_has_hashes_so_pip_can_require_them() -> None:
    without = [name for name, (_, _, hashes) in _lock().items() if hashes == 0]
    assert not without, f"pins without --hash (pip --require-hashes would refuse): {without}"


def test_the_lock_installs_on_linux_with_python_3_11() -> None:
    """Every requirement of requirements.txt applies on the target (Linux, CPython 3.11):
    none is locked only behind a marker that excludes it there."""
    env = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.9",
           "sys_platform": "linux", "platform_system": "Linux",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    pins = _lock()
    excluded = [req.name for req in _ranges()
                if (marker := pins.get(canonicalize_name(req.name), (None, None, 0))[1])
                and not Marker(marker).evaluate(env)]
    assert not excluded, f"locked only for other platforms: {excluded}"
