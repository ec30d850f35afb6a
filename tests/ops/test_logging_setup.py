"""The one logging set-up: secrets scrubbed from every line, server lines printed once."""

from __future__ import annotations

import io
import logging

from shared.logging_setup import add_secret, configure_logging, get_logger, redact


def test_redact_scrubs_keys_bearer_tokens_and_player_tokens() -> None:
    add_secret("my-odd-secret-value")
    line = ("key sk-abcdef123456 auth Bearer pt_abcdefghijklmnop "
            "token pt_zyxwvutsrqponm and my-odd-secret-value")
    out = redact(line)
    for secret in ("sk-abcdef123456", "pt_abcdefghijklmnop", "pt_zyxwvutsrqponm",
                   "my-odd-secret-value"):
        assert secret not in out
    assert out.count("[REDACTED]") == 4


def test_our_handler_skips_records_a_server_prints_itself() -> None:
    configure_logging("INFO", "test")
    ours = next(h for h in logging.getLogger().handlers if getattr(h, "_xianxia", False))
    server = logging.getLogger("hypercorn.error")
    own = logging.StreamHandler(io.StringIO())
    server.addHandler(own)
    try:
        record = server.makeRecord("hypercorn.error", logging.INFO, __file__, 1, "Running",
                                   (), None)
        assert not ours.filter(record)
        mine = get_logger("x").makeRecord("xianxia.x", logging.INFO, __file__, 1, "hello",
                                          (), None)
        assert ours.filter(mine)
    finally:
        server.removeHandler(own)
    assert ours.filter(record)  # without its own handler, the server's line comes to us
