"""Blueprints of the Quart app: one module per feature, the same names as in legacy_flask."""

from __future__ import annotations

from quart import Blueprint, Quart

from shared.api.http import register_routes


def register_blueprints(app: Quart) -> None:
    """Register the shared route table with this package's views of the same names."""
    from quart_app.blueprints import hall, health, llm, page, players, world

    register_routes(app, Blueprint, {"health": health, "players": players, "llm": llm,
                                     "world": world, "page": page, "hall": hall})
