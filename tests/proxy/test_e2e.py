"""End to end over real HTTP on loopback: client -> proxy (uvicorn) -> Kibana stand-in (uvicorn)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from anonymizer import Anonymizer, Finding
from anonymizer.proxy import MemoryStore, SQLiteStore, create_app
from anonymizer.proxy.testing import KibanaStandIn, serve_in_thread

SEEDS = Path(__file__).parents[1] / "data" / "seeds"
SECURITY_CHAT = "/api/security_ai_assistant/chat/complete"
CONVERSATIONS = "/api/security_ai_assistant/current_user/conversations"
OBS_CHAT = "/api/observability_ai_assistant/chat/complete"
ALICE = {"Authorization": "ApiKey YWxpY2U6c2VjcmV0", "kbn-xsrf": "true", "elastic-api-version": "2023-10-31"}
BOB = {"Authorization": "ApiKey Ym9iOnNlY3JldA==", "kbn-xsrf": "true", "elastic-api-version": "2023-10-31"}
SECRETS = ("jdoe", "srv-01.corp.local", "10.1.2.3", "alice@corp.local")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class Patterns:
    """A free-text detector for IPv4 and e-mail addresses (no model needed)."""

    _RE = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[\w.]+@[\w.-]+\b")

    def detect(self, text: str) -> list[Finding]:
        return [Finding(m.start(), m.end(), "IP_OR_EMAIL") for m in self._RE.finditer(text)]


ENGINE = Anonymizer(detectors=[Patterns()])


def seed(name: str) -> bytes:
    return (SEEDS / name).read_bytes()


def rich_chat(
    conversation_id: str | None = "conv-1", *, stream: bool = True, content: str | None = None, data: bool = True
) -> bytes:
    """Seed 000 with a message that carries sensitive data and mentions it in its text."""
    body: dict[str, Any] = json.loads(seed("000_chat_complete_request.json"))
    body["isStream"] = stream
    if conversation_id is None:
        body.pop("conversationId")
    else:
        body["conversationId"] = conversation_id
    body["messages"] = [
        {
            "role": "user",
            "content": content or "Why did jdoe log in to srv-01.corp.local from 10.1.2.3 (mail alice@corp.local)?",
            "data": {"user.name": "jdoe", "host.name": "srv-01.corp.local", "source.ip": "10.1.2.3", "user_id": "x"},
            "fields_to_anonymize": ["user.name", "source.ip"],
        }
    ]
    if not data:
        del body["messages"][0]["data"]
    return orjson.dumps(body)


def payloads(ndjson: bytes) -> str:
    return "".join(orjson.loads(line)["payload"] for line in ndjson.splitlines() if line.strip())


def assert_hidden(data: bytes) -> None:
    for secret in SECRETS:
        assert secret.encode() not in data, secret


@pytest.fixture
def standin() -> Iterator[tuple[KibanaStandIn, str]]:
    kibana = KibanaStandIn()
    with serve_in_thread(kibana.app()) as url:
        yield kibana, url
        kibana.gate.set()
        kibana.release.set()


@contextlib.contextmanager
def proxy(upstream: str, store: Any, **options: Any) -> Iterator[str]:
    """The proxy served on loopback; it closes ``store`` when it stops (as `anonymizer serve` has it do)."""
    with serve_in_thread(create_app(upstream, engine=ENGINE, store=store, close_store=True, **options)) as url:
        yield url


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "replacements.db"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20, trust_env=False) as c:
        yield c


@pytest.fixture
def running(standin: tuple[KibanaStandIn, str], db: Path) -> Iterator[tuple[KibanaStandIn, str]]:
    kibana, upstream = standin
    store = SQLiteStore(db)
    with proxy(upstream, store) as url:
        yield kibana, url


# ------------------------------------------------------------------------------------------- security chat


def test_security_seed_stream_sent_verbatim(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Seed 000's request example goes through: its data field outside the policy never leaves, the stream returns."""
    kibana, url = running
    r = client.post(url + SECURITY_CHAT, content=seed("000_chat_complete_request.json"), headers=ALICE)
    assert r.status_code == 200
    assert "What are some common phishing techniques?" in payloads(r.content)
    (sent,) = kibana.bodies(SECURITY_CHAT)
    assert b"user_789" not in sent
    assert orjson.loads(sent)["langSmithProject"] == "security_ai_project"


def test_security_seed_curl_sent_verbatim(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Seed 000's curl body (persist, no conversation, not streamed) gets Kibana's JSON answer, restored."""
    _, url = running
    r = client.post(url + SECURITY_CHAT, content=seed("000_chat_complete_curl.json"), headers=ALICE)
    assert r.status_code == 200
    answer = r.json()
    assert answer["status"] == "ok" and "common phishing techniques" in answer["data"]
    assert UUID_RE.fullmatch(answer["conversationId"])


def test_security_stream_hides_and_restores(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Policy and fields_to_anonymize originals (and their free-text mentions) never leave; the client reads them."""
    kibana, url = running
    r = client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
    assert r.status_code == 200
    assert r.headers["x-accel-buffering"] == "no" and r.headers["cache-control"] == "no-cache"
    (sent,) = kibana.bodies(SECURITY_CHAT)
    assert_hidden(sent)
    data = orjson.loads(sent)["messages"][0]["data"]
    assert set(data) == {"user.name", "host.name", "source.ip"}
    text = payloads(r.content)
    for secret in SECRETS:
        assert secret in text
    assert not UUID_RE.search(text)


def test_security_json_answer_restored_through_kibana_tokens(
    running: tuple[KibanaStandIn, str], client: httpx.Client
) -> None:
    """A non-stream answer whose tokens Kibana replaced again by its own is restored through both maps."""
    kibana, url = running
    headers = {**ALICE, "x-standin-mode": "kibana-tokens"}
    r = client.post(url + SECURITY_CHAT, content=rich_chat(stream=False), headers=headers)
    assert r.status_code == 200
    answer = r.json()
    for secret in SECRETS:
        assert secret in answer["data"]
    assert set(answer["replacements"].values()) >= {"jdoe", "10.1.2.3"}
    assert_hidden(kibana.bodies(SECURITY_CHAT)[0])


def test_second_turn_reuses_tokens(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """A second turn of the same conversation sends the same tokens as the first."""
    kibana, url = running
    for _ in range(2):
        assert client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE).status_code == 200
    first, second = (orjson.loads(b)["messages"][0] for b in kibana.bodies(SECURITY_CHAT))
    assert first["data"] == second["data"]
    assert first["content"] == second["content"]
    assert UUID_RE.fullmatch(first["data"]["user.name"])


def test_other_user_cannot_restore(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Another Authorization gets its own (empty) map: the first user's tokens stay tokens."""
    kibana, url = running
    client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
    token = orjson.loads(kibana.bodies(SECURITY_CHAT)[0])["messages"][0]["data"]["user.name"]
    question = rich_chat(stream=False, content=f"Who is {token}?", data=False)
    theirs = client.post(url + SECURITY_CHAT, content=question, headers=BOB).json()["data"]
    mine = client.post(url + SECURITY_CHAT, content=question, headers=ALICE).json()["data"]
    assert f"Who is {token}?" in theirs and "jdoe" not in theirs
    assert "Who is jdoe?" in mine


def test_restart_keeps_map(standin: tuple[KibanaStandIn, str], db: Path, client: httpx.Client) -> None:
    """A new proxy on the same SQLite file restores the tokens of a conversation started before the restart."""
    kibana, upstream = standin
    with proxy(upstream, SQLiteStore(db)) as url:
        client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
    token = orjson.loads(kibana.bodies(SECURITY_CHAT)[0])["messages"][0]["data"]["user.name"]
    with proxy(upstream, SQLiteStore(db)) as url:
        answer = client.post(
            url + SECURITY_CHAT, content=rich_chat(stream=False, content=f"Who is {token}?", data=False), headers=ALICE
        )
        client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
    assert "Who is jdoe?" in answer.json()["data"]
    assert orjson.loads(kibana.bodies(SECURITY_CHAT)[2])["messages"][0]["data"]["user.name"] == token


def test_first_restored_byte_before_upstream_finishes(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """The client reads restored bytes while the upstream is still holding the rest of its stream."""
    kibana, url = running
    headers = {**ALICE, "x-standin-mode": "gate"}
    with client.stream("POST", url + SECURITY_CHAT, content=rich_chat(), headers=headers) as r:
        chunks = r.iter_raw()
        first = next(chunks)
        assert first and not kibana.finished.is_set()
        kibana.gate.set()
        rest = b"".join(chunks)
    assert kibana.finished.is_set()
    assert "jdoe" in payloads(first + rest)


def test_cut_stream_flushes_and_ends(
    running: tuple[KibanaStandIn, str], client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream cut by the upstream ends the client's stream after the restored part, and is logged."""
    _, url = running
    with caplog.at_level(logging.INFO, logger="anonymizer.proxy"):
        r = client.post(url + SECURITY_CHAT, content=rich_chat(), headers={**ALICE, "x-standin-mode": "cut"})
    assert r.status_code == 200
    text = payloads(b"\n".join(line for line in r.content.splitlines() if line.endswith(b"}")))
    assert text.startswith("You said: Why did jdoe")
    assert any(rec.message == "upstream_stream_cut" for rec in caplog.records)


# --------------------------------------------------------------------------------------------- failures


def test_upstream_down_gives_502(db: Path, client: httpx.Client) -> None:
    """With nothing listening upstream, rewritten and untouched routes answer 502 in Kibana's shape."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with proxy(f"http://127.0.0.1:{port}", SQLiteStore(db)) as url:
        chat = client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
        other = client.get(url + "/api/status", headers=ALICE)
    for r in (chat, other):
        assert r.status_code == 502
        body = r.json()
        assert set(body) == {"statusCode", "error", "message"}
        assert body["statusCode"] == 502 and body["error"] == "Bad Gateway"


def test_map_stored_before_upstream_fails(standin: tuple[KibanaStandIn, str], db: Path, client: httpx.Client) -> None:
    """A turn whose upstream call fails still stored its map: the next turn sends the same tokens."""
    kibana, upstream = standin
    with proxy(upstream, SQLiteStore(db)) as url:
        failed = client.post(url + SECURITY_CHAT, content=rich_chat(), headers={**ALICE, "x-standin-mode": "error"})
        client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
    assert failed.status_code == 500
    first, second = (orjson.loads(b)["messages"][0]["data"] for b in kibana.bodies(SECURITY_CHAT))
    assert first == second


def test_upstream_timeout_gives_504(standin: tuple[KibanaStandIn, str], db: Path, client: httpx.Client) -> None:
    """An upstream that does not answer within the read timeout gives 504 Gateway Timeout."""
    kibana, upstream = standin
    timeout = httpx.Timeout(connect=5.0, read=0.3, write=5.0, pool=5.0)
    with proxy(upstream, SQLiteStore(db), timeout=timeout) as url:
        r = client.post(url + SECURITY_CHAT, content=rich_chat(), headers={**ALICE, "x-standin-mode": "hang"})
        kibana.release.set()
    assert r.status_code == 504
    assert r.json()["error"] == "Gateway Time-out"  # hapi's (Kibana's) phrase


def test_upstream_500_passed_through_restored(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """A Kibana 5xx body reaches the client with its status and with the tokens it quotes restored."""
    _, url = running
    r = client.post(url + SECURITY_CHAT, content=rich_chat(), headers={**ALICE, "x-standin-mode": "error"})
    assert r.status_code == 500
    body = r.json()
    assert body["statusCode"] == 500 and "jdoe" in body["message"]


def test_invalid_body_gets_kibana_400_without_upstream(
    running: tuple[KibanaStandIn, str], client: httpx.Client
) -> None:
    """An invalid request gets Kibana's 400 body and never reaches the upstream."""
    kibana, url = running
    shape = set(json.loads(seed("000_response_400.json")))
    for body in (b'{"messages": [{"role": "robot"}]}', b"{not json"):
        r = client.post(url + SECURITY_CHAT, content=body, headers=ALICE)
        assert r.status_code == 400
        assert set(r.json()) == shape and r.json()["error"] == "Bad Request"
        assert r.json()["message"].startswith("[request body]: ")
    r = client.post(url + SECURITY_CHAT, content=b'{"messages": [{"role": "robot"}]}', headers=ALICE)
    assert "connectorId: Required" in r.json()["message"]
    assert kibana.bodies(SECURITY_CHAT) == []


def test_unknown_route_proxied_untouched(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Any other route keeps its method, path, query, body, headers, status and response headers."""
    kibana, url = running
    body = b'{"user.name": "jdoe", "raw": "\\u00e9"}'
    headers = {**ALICE, "content-type": "application/json", "cookie": "sid=abc; other=1", "x-custom": "v"}
    r = client.request("PATCH", url + "/api/some/thing%20x?b=2&a=%201", content=body, headers=headers)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/x-echo" and r.headers["x-standin"] == "yes"
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    echo_len = len(r.content) - len(body)
    echo = orjson.loads(r.content[:echo_len])
    assert r.content[echo_len:] == body
    assert echo["method"] == "PATCH" and echo["path"] == "/api/some/thing x" and echo["query"] == "b=2&a=%201"
    for name in ("authorization", "kbn-xsrf", "elastic-api-version", "content-type", "cookie", "x-custom"):
        assert echo["headers"][name] == {k.lower(): v for k, v in headers.items()}[name]
    assert kibana.received[-1].body == body


def test_one_date_and_server_header(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Answers through the proxy carry one Date and one Server header (the upstream's are not repeated)."""
    _, url = running
    for r in (
        client.post(url + SECURITY_CHAT, content=rich_chat(stream=False), headers=ALICE),
        client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE),
        client.get(url + "/api/status", headers=ALICE),
    ):
        assert len(r.headers.get_list("date")) == 1
        assert len(r.headers.get_list("server")) == 1


def test_health(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Liveness and readiness answer 200 with the store and the upstream up, and are not forwarded."""
    kibana, url = running
    assert client.get(url + "/_anonymizer/live").json() == {"status": "ok"}
    for path in ("/_anonymizer/ready", "/_anonymizer/health"):
        r = client.get(url + path)
        assert r.status_code == 200
        assert r.json()["status"] == "ok" and r.json()["store"] == "ok" and r.json()["upstream"] == "ok"
        assert r.json()["upstream_url"].startswith("http://127.0.0.1:")
    assert all(r.path == "/api/status" for r in kibana.received)  # the readiness probe, nothing else


def test_readiness_fails_with_the_upstream_down(db: Path, client: httpx.Client) -> None:
    """With nothing listening upstream the proxy is live but not ready (503 naming the upstream)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with proxy(f"http://127.0.0.1:{port}", SQLiteStore(db)) as url:
        live = client.get(url + "/_anonymizer/live")
        ready = client.get(url + "/_anonymizer/ready")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["upstream"] == "unreachable" and ready.json()["store"] == "ok"


def test_logs_hold_no_originals(
    running: tuple[KibanaStandIn, str], client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Request logs carry route, status, latency and counts, never originals, bodies or credentials."""
    from anonymizer.proxy import JsonFormatter

    _, url = running
    with caplog.at_level(logging.DEBUG, logger="anonymizer"):
        client.post(url + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
        client.post(url + SECURITY_CHAT, content=rich_chat(stream=False), headers=ALICE)
        client.post(url + CONVERSATIONS, content=seed("001_conversation_create_request.json"), headers=ALICE)
    lines = [JsonFormatter().format(rec) for rec in caplog.records if rec.name.startswith("anonymizer")]
    requests = [orjson.loads(line) for line in lines if '"event":"request"' in line]
    assert len(requests) == 3
    assert all({"route", "status", "latency_ms", "tokens"} <= set(r) for r in requests)
    assert requests[0]["conversation"] != "conv-1"
    for line in lines:
        for secret in (*SECRETS, ALICE["Authorization"], "YWxpY2U6c2VjcmV0", "Why did"):
            assert secret not in line


# -------------------------------------------------------------------------------------------- conversations


def test_conversation_seeds_create_update_read_find(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Seeds 001, 002 and 004's query go through: no replacements upstream, answers restored per conversation."""
    kibana, url = running
    created = client.post(url + CONVERSATIONS, content=seed("001_conversation_create_request.json"), headers=ALICE)
    assert created.status_code == 200
    sent = orjson.loads(kibana.bodies(CONVERSATIONS)[0])
    assert "replacements" not in sent
    assert sent["title"] == "additionalProperty1" and sent["messages"][0]["content"] == "additionalProperty1"
    assert created.json()["title"] == "string" and created.json()["messages"][0]["content"] == "string"

    update_id = "a696901d-efff-4871-acbe-8123af841932"
    first = {"id": update_id, "title": "Host check", "messages": [{"role": "user", "content": "ping 10.1.2.3"}]}
    client.post(url + CONVERSATIONS, json=first, headers=ALICE)
    updated = client.put(
        f"{url}{CONVERSATIONS}/{update_id}", content=seed("002_conversation_update_request.json"), headers=ALICE
    )
    assert updated.status_code == 200 and updated.json()["messages"][0]["content"] == "test content"

    second = {"role": "user", "content": "and 10.1.2.3 again", "timestamp": "2019-12-13T16:40:34.400Z"}
    update = {"id": update_id, "messages": [*updated.json()["messages"], second]}
    client.put(f"{url}{CONVERSATIONS}/{update_id}", json=update, headers=ALICE)
    assert b"10.1.2.3" not in b"".join(kibana.bodies(CONVERSATIONS))
    read = client.get(f"{url}{CONVERSATIONS}/{update_id}", headers=ALICE).json()
    assert read["messages"][1]["content"] == "and 10.1.2.3 again"

    page = client.get(url + CONVERSATIONS + "/_find?page=1&per_page=100", headers=ALICE)
    assert page.status_code == 200
    found = {c["id"]: c for c in page.json()["data"]}
    assert found["string"]["title"] == "string"
    assert found[update_id]["messages"][1]["content"] == "and 10.1.2.3 again"
    assert set(page.json()) == set(json.loads(seed("004_conversation_find_response_200.json")))


def test_conversation_created_without_id_keeps_map(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """A conversation created without an id gets its map stored under the id Kibana returns."""
    kibana, url = running
    body = {"title": "Mail from alice@corp.local", "messages": [{"role": "user", "content": "alice@corp.local wrote"}]}
    created = client.post(url + CONVERSATIONS, json=body, headers=ALICE).json()
    assert created["title"] == body["title"]
    assert b"alice@corp.local" not in kibana.bodies(CONVERSATIONS)[0]
    read = client.get(f"{url}{CONVERSATIONS}/{created['id']}", headers=ALICE).json()
    assert read["messages"][0]["content"] == "alice@corp.local wrote"
    other = client.get(f"{url}{CONVERSATIONS}/{created['id']}", headers=BOB)
    assert other.status_code == 404


def test_find_restores_each_conversation_with_its_own_map(
    running: tuple[KibanaStandIn, str], client: httpx.Client
) -> None:
    """A token of one conversation pasted into another is not restored in the other."""
    kibana, url = running
    x = client.post(
        url + CONVERSATIONS,
        json={"id": "x", "title": "X", "messages": [{"role": "user", "content": "10.1.2.3"}]},
        headers=ALICE,
    )
    assert x.status_code == 200
    token = orjson.loads(kibana.bodies(CONVERSATIONS)[0])["messages"][0]["content"]
    assert UUID_RE.fullmatch(token)
    client.post(
        url + CONVERSATIONS,
        json={"id": "y", "title": "Y", "messages": [{"role": "user", "content": token}]},
        headers=ALICE,
    )
    found = {c["id"]: c for c in client.get(url + CONVERSATIONS + "/_find", headers=ALICE).json()["data"]}
    assert found["x"]["messages"][0]["content"] == "10.1.2.3"
    assert found["y"]["messages"][0]["content"] == token


def test_delete_forgets_map(standin: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Deleting a conversation through the proxy deletes its map from the store."""
    _, upstream = standin
    store = MemoryStore()
    with proxy(upstream, store) as url:
        client.post(
            url + CONVERSATIONS,
            json={"id": "gone", "title": "t", "messages": [{"role": "user", "content": "10.1.2.3"}]},
            headers=ALICE,
        )
        assert len(store._maps) == 1
        assert client.delete(f"{url}{CONVERSATIONS}/gone", headers=ALICE).status_code == 200
        assert store._maps == {}


def test_space_prefix(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Routes under /s/{space_id} are anonymized too, and reach the same path upstream."""
    kibana, url = running
    r = client.post(url + "/s/marketing" + SECURITY_CHAT, content=rich_chat(), headers=ALICE)
    assert r.status_code == 200 and "jdoe" in payloads(r.content)
    assert kibana.received[-1].path == "/s/marketing" + SECURITY_CHAT
    assert_hidden(kibana.received[-1].body)


# -------------------------------------------------------------------------------------------- observability


def obs_body(conversation_id: str | None = None, persist: bool = False) -> bytes:
    body: dict[str, Any] = json.loads(seed("003_observability_request.json"))
    body["messages"][0]["message"]["content"] = "Is host 10.1.2.3 healthy? Ask alice@corp.local."
    body["persist"] = persist
    if conversation_id:
        body["conversationId"] = conversation_id
    return orjson.dumps(body)


def obs_text(body: bytes, fmt: str) -> tuple[str, list[str]]:
    """The streamed content and the function-call arguments, in either format."""
    content, args = [], []
    if fmt == "ndjson":
        for line in body.splitlines():
            event = orjson.loads(line)
            if event["type"] == "chatCompletionChunk":
                content.append(event["message"].get("content", ""))
        return "".join(content), args
    for block in body.split(b"\n\n"):
        data = block.strip().removeprefix(b"data: ")
        if not data or data == b"[DONE]":
            continue
        delta = orjson.loads(data)["choices"][0]["delta"]
        content.append(delta.get("content", ""))
        if "function_call" in delta:
            args.append(delta["function_call"]["arguments"])
    return "".join(content), args


def test_observability_seed_sent_verbatim(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """Seed 003's curl body goes through and its NDJSON answer comes back."""
    _, url = running
    r = client.post(url + OBS_CHAT, content=seed("003_observability_curl.json"), headers=ALICE)
    assert r.status_code == 200
    text, _ = obs_text(r.content, "ndjson")
    assert "Is my Elasticsearch cluster healthy right now?" in text


@pytest.mark.parametrize(
    ("query", "sse_type", "fmt"),
    [
        ("", None, "ndjson"),
        ("?format=openai", "text/event-stream", "sse"),
        ("?format=openai", "application/octet-stream", "sse"),
    ],
)
def test_observability_formats(
    running: tuple[KibanaStandIn, str], client: httpx.Client, query: str, sse_type: str | None, fmt: str
) -> None:
    """NDJSON and OpenAI SSE answers (by content type or first bytes) are restored; the upstream sees tokens."""
    kibana, url = running
    headers = {**ALICE, **({"x-standin-sse-type": sse_type} if sse_type else {})}
    r = client.post(url + OBS_CHAT + query, content=obs_body(), headers=headers)
    assert r.status_code == 200
    (sent,) = kibana.bodies(OBS_CHAT)
    assert b"10.1.2.3" not in sent and b"alice@corp.local" not in sent
    assert kibana.received[-1].query == query.removeprefix("?")
    text, args = obs_text(r.content, fmt)
    assert "Is host 10.1.2.3 healthy? Ask alice@corp.local." in text
    if fmt == "sse":
        assert "alice@corp.local" in orjson.loads(args[0])["question"]


def test_observability_new_conversation_keeps_map(running: tuple[KibanaStandIn, str], client: httpx.Client) -> None:
    """A persisted observability chat without an id stores its map under the id of conversationCreate."""
    kibana, url = running
    r = client.post(url + OBS_CHAT, content=obs_body(persist=True), headers=ALICE)
    created = [orjson.loads(line) for line in r.content.splitlines() if b"conversationCreate" in line]
    new_id = created[0]["conversation"]["id"]
    client.post(url + OBS_CHAT, content=obs_body(conversation_id=new_id), headers=ALICE)
    first, second = (orjson.loads(b)["messages"][0]["message"]["content"] for b in kibana.bodies(OBS_CHAT))
    assert first == second and UUID_RE.search(first)


def test_observability_cut_stream_ends_with_error_event(
    running: tuple[KibanaStandIn, str], client: httpx.Client
) -> None:
    """A cut observability NDJSON stream ends with Kibana's chatCompletionError event."""
    _, url = running
    r = client.post(url + OBS_CHAT, content=obs_body(), headers={**ALICE, "x-standin-mode": "cut"})
    last = orjson.loads(r.content.splitlines()[-1])
    assert last["type"] == "chatCompletionError"


OBS_UI_CHAT = "/internal/observability_ai_assistant/chat/complete"


def obs_ui_body(stream: bool) -> bytes:
    """An Observability UI request: the public body plus the screen contexts and scopes the UI sends."""
    body = orjson.loads(obs_body())
    body["screenContexts"] = [
        {
            "screenDescription": "Host 10.1.2.3 in the hosts view",
            "data": [{"name": "host", "description": "The host in view", "value": "10.1.2.3"}],
        }
    ]
    body["scopes"] = ["observability"]
    body["isStream"] = stream
    return orjson.dumps(body)


@pytest.mark.parametrize("stream", [True, False], ids=["ndjson", "json"])
def test_observability_ui_route_hides_and_restores(
    running: tuple[KibanaStandIn, str], client: httpx.Client, stream: bool
) -> None:
    """The Observability UI's internal chat/complete route is anonymized like the public one (screen contexts too),
    and its NDJSON stream or JSON answer comes back restored."""
    kibana, url = running
    r = client.post(url + OBS_UI_CHAT, content=obs_ui_body(stream), headers=ALICE)
    assert r.status_code == 200
    (sent,) = kibana.bodies(OBS_UI_CHAT)
    assert b"10.1.2.3" not in sent and b"alice@corp.local" not in sent
    text = obs_text(r.content, "ndjson")[0] if stream else r.json()["data"]
    assert "Is host 10.1.2.3 healthy? Ask alice@corp.local." in text
