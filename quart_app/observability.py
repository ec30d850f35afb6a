"""Per-request bookkeeping: the ``X-App`` header and the request metrics."""

from __future__ import annotations

import time

from quart import Quart, Response, g, request

from shared.api.http import finish_request
from shared.api.page import page_headers


def init_app(app: Quart) -> None:
    """Time every request; name the app and record the request on the way out."""

    @app.before_request
    async def _start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    async def _finish(resp: Response) -> Response:
        finish_request("quart", resp.headers, request.url_rule, request.method,
                       resp.status_code, g.get("t0"))
        page_headers(request.path, request.args.get("v"), resp.headers)
        return resp
