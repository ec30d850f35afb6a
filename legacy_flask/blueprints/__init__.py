"""Blueprints of the Flask app: one module per feature, the same names as in quart_app."""

from __future__ import annotations

from flask import Blueprint, Flask

from shared.api.http import BLUEPRINTS, routes_of


def register_blueprints(app: Flask) -> None:
    """Register every route of the shared route table with its view of the same name."""
    from legacy_flask.blueprints import health, llm, page, players, world

    modules = {"health": health, "players": players, "llm": llm, "world": world, "page": page}
    for name in BLUEPRINTS:
        bp = Blueprint(name, __name__)
        for route in routes_of(name):
            bp.add_url_rule(route.rule, route.endpoint, getattr(modules[name], route.endpoint),
                            methods=list(route.methods))
        app.register_blueprint(bp)
