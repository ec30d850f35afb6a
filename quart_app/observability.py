"""Per-request bookkeeping: the ``X-App`` header and the request metrics."""

from __future__ import annotations

import time

from quart import Quart, Response, g, request

from shared import metrics


def init_app(app: Quart) -> None:
    """Time every request and label it by its URL rule (bounded cardinality)."""

    @app.before_request
    async def _start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    async def _finish(resp: Response) -> Response:
        resp.headers["X-App"] = "quart"
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        started = g.get("t0")
        if started is not None:
            metrics.observe_request(rule, request.method, resp.status_code,
                                    time.perf_counter() - started)
        return resp
