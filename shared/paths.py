"""Where the repository's non-code assets live."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEBPAGE_DIR = PACKAGE_DIR / "webpage"  # the player's page: static HTML, CSS and JS
