"""The allow-list rule through the reference proxy, over real HTTP on loopback: nothing text-bearing leaks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anonymizer import Anonymizer, Finding
from anonymizer.proxy import SQLiteStore, create_app
from anonymizer.proxy.testing import KibanaStandIn, serve_in_thread

OBS_CHAT = "/api/observability_ai_assistant/chat/complete"
HEADERS = {"Authorization": "ApiKey YWxpY2U6c2VjcmV0", "kbn-xsrf": "true", "elastic-api-version": "2023-10-31"}
SECRETS = ("alice@corp.local", "10.1.2.3")


class Patterns:
    """A free-text detector for IPv4 and e-mail addresses (no model needed)."""

    _RE = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[\w.]+@[\w.-]+\b")

    def detect(self, text: str) -> list[Finding]:
        return [Finding(m.start(), m.end(), "IP_OR_EMAIL") for m in self._RE.finditer(text)]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[KibanaStandIn, str]]:
    kibana = KibanaStandIn()
    with serve_in_thread(kibana.app()) as upstream:
        store = SQLiteStore(tmp_path / "r.db")
        app = create_app(upstream, engine=Anonymizer(detectors=[Patterns()]), store=store, close_store=True)
        with serve_in_thread(app) as url:
            yield kibana, url


def _request() -> dict[str, Any]:
    return {
        "connectorId": "c1",
        "persist": False,
        "conversationId": "obs-1",
        "messages": [
            {
                "@timestamp": "2025-06-25T23:45:00.000Z",
                "message": {"role": "user", "content": "Who is alice@corp.local?", "event": "login from 10.1.2.3"},
                "clientTag": {"seen": ["alice@corp.local"]},
            }
        ],
        "screenContexts": [
            {
                "screenDescription": "Alert for alice@corp.local",
                "data": [{"name": "alert", "description": "source 10.1.2.3", "value": {"ip": "10.1.2.3"}}],
                "starterPrompts": [{"title": "t", "prompt": "ask about 10.1.2.3", "icon": "user"}],
            }
        ],
        "scopes": ["observability"],
        "actions": [{"name": "block", "description": "Block 10.1.2.3 for alice@corp.local", "parameters": {}}],
        "instructions": [{"id": "i", "text": "mind alice@corp.local"}],
        "notes": "free text: alice@corp.local",
    }


def test_observability_request_parts_never_reach_kibana_and_answers_come_back(
    running: tuple[KibanaStandIn, str],
) -> None:
    """screenContexts, message.event, actions[].description and extra properties are hidden upstream; the
    answer quoting the tokens is restored."""
    kibana, url = running
    with httpx.Client(timeout=20, trust_env=False) as client:
        answer = client.post(url + OBS_CHAT, headers=HEADERS, content=json.dumps(_request()))
    assert answer.status_code == 200
    sent = kibana.received[-1].body
    for secret in SECRETS:
        assert secret.encode() not in sent, secret
    upstream = json.loads(sent)
    assert upstream["screenContexts"][0]["data"][0]["name"] == "alert"  # structural parts pass as they are
    assert upstream["scopes"] == ["observability"]
    content = "".join(
        json.loads(line).get("message", {}).get("content", "")
        for line in answer.content.splitlines()
        if json.loads(line).get("type") == "chatCompletionChunk"
    )
    assert "alice@corp.local" in content
