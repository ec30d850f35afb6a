"""Blueprints of the Quart app: the same modules, names and routes as legacy_flask's."""

from __future__ import annotations

from quart import Blueprint, Quart

from shared.api.http import BLUEPRINTS, routes_of


def register_blueprints(app: Quart) -> None:
    """Register every route of the shared route table with its view of the same name."""
    from quart_app.blueprints import health, llm, page, players, world

    modules = {"health": health, "players": players, "llm": llm, "world": world, "page": page}
    for name in BLUEPRINTS:
        bp = Blueprint(name, __name__)
        for route in routes_of(name):
            bp.add_url_rule(route.rule, route.endpoint, getattr(modules[name], route.endpoint),
                            methods=list(route.methods))
        app.register_blueprint(bp)
