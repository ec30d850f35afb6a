"""NPC memory in Celery mode through both apps, with a real worker on real Redis: the worker
narrates each talk with the conversation in its prompt and saves the reply as the next
exchange, once."""

from __future__ import annotations

from typing import Any

import pytest

from shared.store import open_store
from tests.api.test_celery import _poll, celery_apps  # noqa: F401 (fixture)
from tests.support.apiclient import TALK_NPC

pytestmark = [pytest.mark.services, pytest.mark.slow]


async def test_the_worker_remembers_each_talk_once(celery_apps: Any) -> None:  # noqa: F811
    flask_api, quart_api, rig = celery_apps
    pid, token, _ = await quart_api.create_player()
    texts: list[str] = []
    for api, said in ((quart_api, "老丈安好"), (flask_api, "又来叨扰")):
        r = await api.act(pid, token, {"type": "talk", "target": TALK_NPC, "text": said})
        assert r.status == 200 and r.json["narration"] is None, r.text
        done = await _poll(api, r.json["narration_task"]["status_url"])
        assert done["state"] == "SUCCESS" and done["result"]["degraded"] is False
        texts.append(done["result"]["text"])
    store = open_store(rig.settings.database_url)
    try:
        conv = store.get_conversation(pid, TALK_NPC)
    finally:
        store.close()
    assert [(e["player"], e["npc"]) for e in conv.exchanges] == [("老丈安好", texts[0]),
                                                                  ("又来叨扰", texts[1])]
    second = rig.fake.requests()[-1]["messages"]
    assert [m["role"] for m in second] == ["system", "system", "user", "assistant", "user"]
    assert second[3]["content"] == texts[0]
