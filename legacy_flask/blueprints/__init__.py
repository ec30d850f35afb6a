"""Blueprints of the Flask app: one module per feature, the same names as in quart_app."""

from __future__ import annotations

from flask import Blueprint, Flask

from shared.api.http import register_routes


def register_blueprints(app: Flask) -> None:
    """Register the shared route table with this package's views of the same names."""
    from legacy_flask.blueprints import hall, health, llm, page, players, world

    register_routes(app, Blueprint, {"health": health, "players": players, "llm": llm,
                                     "world": world, "page": page, "hall": hall})
