"""The proxy app in process (httpx.ASGITransport in front, httpx.MockTransport as Kibana), and its CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, Finding, Session
from anonymizer.proxy import MemoryStore, ReplacementStore, create_app, user_identity
from anonymizer.proxy.cli import add_serve_parser, run_serve

CHAT = "/api/security_ai_assistant/chat/complete"
BODY = {
    "connectorId": "c",
    "persist": False,
    "isStream": False,
    "messages": [{"role": "user", "content": "hi jdoe", "data": {"user.name": "jdoe"}}],
}


def recording(answer: httpx.Response) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return answer

    return seen, httpx.MockTransport(handler)


def client_for(transport: httpx.MockTransport, **options: object) -> httpx.AsyncClient:
    app = create_app("http://kibana.invalid:5601/base", store=MemoryStore(), transport=transport, **options)  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://proxy", headers={"authorization": "ApiKey t"}
    )


async def test_rewritten_request_headers() -> None:
    """Hop-by-hop fields go, Kibana's headers stay, Content-Length is recomputed, answers asked uncompressed."""
    answer = {"connector_id": "c", "data": "ok", "trace_data": {}, "replacements": {}, "status": "ok"}
    seen, transport = recording(httpx.Response(200, json=answer, headers={"connection": "close", "x-kbn": "1"}))
    headers = {
        "kbn-xsrf": "true",
        "elastic-api-version": "2023-10-31",
        "authorization": "ApiKey a",
        "cookie": "sid=1",
        "connection": "keep-alive, x-hop",
        "x-hop": "drop me",
        "te": "trailers",
        "accept-encoding": "gzip",
        "content-type": "application/json",
    }
    async with client_for(transport) as client:
        r = await client.post(CHAT, content=orjson.dumps(BODY), headers=headers)
    assert r.status_code == 200 and r.headers["x-kbn"] == "1" and "connection" not in r.headers
    (sent,) = seen
    assert sent.url.path == "/base" + CHAT
    for name in ("kbn-xsrf", "elastic-api-version", "authorization", "cookie", "content-type"):
        assert sent.headers[name] == headers[name]
    for name in ("x-hop", "te"):
        assert name not in sent.headers
    assert sent.headers.get("connection", "keep-alive") == "keep-alive"  # the proxy's own connection
    assert sent.headers["accept-encoding"] == "identity"
    assert int(sent.headers["content-length"]) == len(sent.content)
    assert b"jdoe" not in sent.content


async def test_body_too_large_is_413() -> None:
    """A rewritten route refuses bodies over the limit without calling the upstream."""
    seen, transport = recording(httpx.Response(200))
    async with client_for(transport, max_body_bytes=100) as client:
        r = await client.post(CHAT, content=b"{" + b" " * 200 + b"}")
    assert r.status_code == 413 and r.json()["error"] == "Request Entity Too Large"
    assert seen == []


async def test_compressed_answer_is_decoded_before_restoring() -> None:
    """An upstream that compresses anyway is decoded, restored, and sent without Content-Encoding."""
    import gzip

    session_token: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        token = orjson.loads(request.read())["messages"][0]["data"]["user.name"]
        session_token.append(token)
        body = {"connector_id": "c", "data": f"hello {token}", "trace_data": {}, "replacements": {}, "status": "ok"}
        return httpx.Response(
            200,
            content=gzip.compress(orjson.dumps(body)),
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        )

    async with client_for(httpx.MockTransport(handler)) as client:
        r = await client.post(CHAT, content=orjson.dumps(BODY))
    assert r.json()["data"] == "hello jdoe"
    assert "content-encoding" not in r.headers


def user_of(authorization: str) -> str:
    return user_identity({"authorization": authorization})


def client_for_store(
    store: ReplacementStore, seen: list[bytes] | None = None, engine: Anonymizer | None = None
) -> httpx.AsyncClient:
    app = create_app("http://kibana.invalid", store=store, transport=echo_transport(seen), engine=engine)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://proxy", headers={"authorization": "ApiKey t"}
    )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="anonymizer")
    add_serve_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_serve_parser_defaults() -> None:
    """`serve` listens on loopback port 8080 with a SQLite store by default."""
    args = parse(["--upstream", "http://127.0.0.1:5601"])
    assert (args.host, args.port, args.store, args.tokens) == (
        "127.0.0.1",
        8080,
        "sqlite:///anonymizer-replacements.db",
        "uuid",
    )
    assert args.run is run_serve


@pytest.mark.parametrize(
    "argv",
    [
        ["--upstream", "ftp://x"],
        ["--upstream", "http://127.0.0.1:5601", "--store", "postgres://x"],
        ["--upstream", "http://127.0.0.1:5601", "--tokens", "keyed"],
        ["--upstream", "http://127.0.0.1:5601", "--policy", "/nonexistent/policy.json"],
        ["--upstream", "http://127.0.0.1:5601", "--detect", "--detect-model", "nosuchmodel"],
        ["--upstream", "http://127.0.0.1:5601", "--session-cache", "-1"],
    ],
)
def test_serve_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad options exit with 2 and a message on stderr, before anything listens."""
    assert run_serve(parse(argv)) == 2
    assert capsys.readouterr().err.startswith("anonymizer serve: ")


def test_serve_policy_file_used(tmp_path: Path) -> None:
    """A policy file in Kibana's anonymization-fields format is accepted."""
    from anonymizer.proxy.cli import _engine

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps([{"field": "host.name", "allowed": True, "anonymized": True}]))
    engine = _engine(parse(["--upstream", "http://x", "--policy", str(policy)]))
    assert isinstance(engine, Anonymizer)
    assert engine.session().anonymize_data({"host.name": "srv"})["host.name"] != "srv"


# ------------------------------------------------------------------------------- identity, errors, metrics


def echo_transport(seen: list[bytes] | None = None) -> httpx.MockTransport:
    """A Kibana stand-in that answers a security chat with what it was sent (tokens included)."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.read()
        if seen is not None:
            seen.append(sent)
        said = orjson.loads(sent)["messages"][0]
        data = f"{said.get('content', '')} {orjson.dumps(said.get('data', {})).decode()}"
        answer = {"connector_id": "c", "data": data, "trace_data": {}, "replacements": {}, "status": "ok"}
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(handler)


def chat(conversation: str | None, user_name: str = "jdoe") -> bytes:
    body: dict[str, object] = {
        **BODY,
        "messages": [{"role": "user", "content": f"hi {user_name}", "data": {"user.name": user_name}}],
    }
    if conversation:
        body["conversationId"] = conversation
    return orjson.dumps(body)


async def test_request_without_credential_refused_by_default() -> None:
    """A rewritten route without Authorization or cookie gets Kibana's 401 and never reaches the upstream."""
    seen: list[bytes] = []
    app = create_app("http://kibana.invalid", store=MemoryStore(), transport=echo_transport(seen))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
        r = await client.post(CHAT, content=chat("c1"))
    assert r.status_code == 401
    assert r.json()["statusCode"] == 401 and r.json()["error"] == "Unauthorized"
    assert seen == []


async def test_anonymous_identity_is_an_option() -> None:
    """With allow_anonymous, requests without credential share one identity and its conversations' maps."""
    seen: list[bytes] = []
    app = create_app("http://kibana.invalid", store=MemoryStore(), transport=echo_transport(seen), allow_anonymous=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
        first = await client.post(CHAT, content=chat("c1"))
        second = await client.post(CHAT, content=chat("c1"))
    assert first.status_code == second.status_code == 200
    assert "jdoe" in first.json()["data"] and b"jdoe" not in seen[0]
    assert seen[0] == seen[1]


def test_error_phrases_are_kibanas_on_every_python() -> None:
    """The proxy's own error bodies use hapi's phrases (Kibana's), not Python's HTTPStatus (renamed in 3.13)."""
    from anonymizer.proxy._upstream import kibana_error

    expected = {413: "Request Entity Too Large", 422: "Unprocessable Entity", 504: "Gateway Time-out"}
    for status, phrase in expected.items():
        assert orjson.loads(kibana_error(status, "m").body) == {"statusCode": status, "error": phrase, "message": "m"}


async def test_metrics_count_requests_and_tokens_without_user_data() -> None:
    """/metrics counts requests, latencies, tokens and cache lookups; no label or value holds user data."""
    app = create_app("http://kibana.invalid", store=MemoryStore(), transport=echo_transport())
    async with (
        client_for(echo_transport()) as _,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://proxy", headers={"authorization": "ApiKey m"}
        ) as client,
    ):
        for _ in range(2):
            assert (await client.post(CHAT, content=chat("conv-secret-id"))).status_code == 200
        text = (await client.get("/metrics")).text
    assert 'anonymizer_proxy_requests_total{method="POST",route="security.chat_complete",status="200"} 2.0' in text
    assert 'anonymizer_proxy_tokens_total{outcome="minted"} 1.0' in text
    assert 'anonymizer_proxy_tokens_total{outcome="restored"}' in text
    assert 'anonymizer_proxy_session_cache_total{result="hit"} 1.0' in text
    assert "anonymizer_proxy_request_duration_seconds_bucket" in text
    for secret in ("jdoe", "conv-secret-id", "ApiKey", "kibana.invalid"):
        assert secret not in text


def test_json_logs_carry_no_terminal_colours() -> None:
    """uvicorn's colour_message and ANSI codes in messages never reach the JSON lines."""
    import logging

    from anonymizer.proxy import JsonFormatter

    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "Started \x1b[32mserver\x1b[0m", (), None)
    record.color_message = "\x1b[1mStarted\x1b[0m"
    line = JsonFormatter().format(record)
    assert "\x1b" not in line and "\\u001b" not in line
    assert orjson.loads(line)["event"] == "Started server"


# ------------------------------------------------------------------------------------ sessions and stores


class CountingStore(MemoryStore):
    """A memory store that counts full loads."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots = 0

    async def snapshot(self, user: str, conversation: str) -> tuple[dict[str, str], str | None]:
        self.snapshots += 1
        return await super().snapshot(user, conversation)


async def test_second_request_reuses_the_compiled_session() -> None:
    """The second request of a conversation loads nothing: its session is cached under the map's version."""
    store = CountingStore()
    await store.merge(user_of("ApiKey t"), "security/default/c1", {f"tok-{i}": f"orig-{i}" for i in range(500)})
    async with client_for_store(store) as client:
        for _ in range(3):
            assert (await client.post(CHAT, content=chat("c1"))).status_code == 200
    assert store.snapshots == 1


async def test_cached_session_follows_another_replicas_changes() -> None:
    """Two apps on one store: tokens bound through one replica are used and restored by the other."""
    store = MemoryStore()
    seen: list[bytes] = []
    async with client_for_store(store, seen) as a, client_for_store(store, seen) as b:
        await a.post(CHAT, content=chat("c1", "alice"))
        await b.post(CHAT, content=chat("c1", "alice"))  # b caches the map (alice)
        await a.post(CHAT, content=chat("c1", "bob"))  # a adds bob: a new version
        answer = (await b.post(CHAT, content=chat("c1", "bob"))).json()["data"]
    assert "bob" in answer
    bob_tokens = {orjson.loads(s)["messages"][0]["data"]["user.name"] for s in seen[2:]}
    assert len(bob_tokens) == 1


@pytest.mark.parametrize("tokens", ["uuid", "placeholder"])
async def test_concurrent_requests_bind_one_token_per_original(tokens: str, tmp_path: Path) -> None:
    """Requests of one conversation racing through two replicas on one SQLite file: each original gets one
    token, and none is refused (no 503)."""
    from anonymizer.proxy import SQLiteStore

    seen: list[bytes] = []
    engine = Anonymizer(tokens=tokens)
    stores = [SQLiteStore(tmp_path / "maps.db"), SQLiteStore(tmp_path / "maps.db")]
    names = [f"user-{i % 5}" for i in range(30)]
    async with client_for_store(stores[0], seen, engine) as a, client_for_store(stores[1], seen, engine) as b:
        replies = await asyncio.gather(*((a, b)[i % 2].post(CHAT, content=chat("c1", n)) for i, n in enumerate(names)))
    assert [r.status_code for r in replies] == [200] * len(names)
    stored = await stores[0].load(user_of("ApiKey t"), "security/default/c1")
    assert sorted(stored.values()) == sorted(set(names))
    for r, name in zip(replies, names, strict=True):
        assert name in r.json()["data"]
    for store in stores:
        await store.aclose()


class YieldingStore(MemoryStore):
    """A memory store whose calls let other tasks run first, as a networked store's do."""

    async def version(self, user: str, conversation: str) -> str | None:
        await asyncio.sleep(0)
        return await super().version(user, conversation)

    async def snapshot(self, user: str, conversation: str) -> tuple[dict[str, str], str | None]:
        await asyncio.sleep(0)
        return await super().snapshot(user, conversation)

    async def merge_if(
        self, user: str, conversation: str, mapping: Mapping[str, str], version: str | None
    ) -> str | None:
        await asyncio.sleep(0)
        return await super().merge_if(user, conversation, mapping, version)

    async def merge(self, user: str, conversation: str, mapping: Mapping[str, str]) -> str | None:
        await asyncio.sleep(0)
        return await super().merge(user, conversation, mapping)


@settings(max_examples=25)
@given(
    names=st.lists(st.sampled_from(["ann", "bob", "cy", "dee", "eve", "fay"]), min_size=1, max_size=16),
    tokens=st.sampled_from(["uuid", "placeholder", "mask"]),
)
def test_property_one_token_per_original_under_concurrency(names: list[str], tokens: str) -> None:
    """Whatever originals race through two replicas sharing a store, each gets one token and every answer
    restores its own request."""
    seen: list[bytes] = []
    engine = Anonymizer(tokens=tokens, key=b"k" * 32 if tokens == "mask" else None)

    async def race() -> tuple[list[httpx.Response], dict[str, str]]:
        store = YieldingStore()
        async with client_for_store(store, seen, engine) as a, client_for_store(store, seen, engine) as b:
            posts = [(a, b)[i % 2].post(CHAT, content=chat("c1", n)) for i, n in enumerate(names)]
            replies = list(await asyncio.gather(*posts))
        return replies, await store.load(user_of("ApiKey t"), "security/default/c1")

    replies, stored = asyncio.run(race())
    assert sorted(stored.values()) == sorted(set(names))
    for reply, name in zip(replies, names, strict=True):
        assert reply.status_code == 200 and reply.json()["data"].startswith(f"hi {name} ")
    sent = {orjson.loads(s)["messages"][0]["data"]["user.name"] for s in seen}
    assert sent == set(stored)


class ThreadRecordingEngine(Anonymizer):
    """An engine that notes the thread each session is built on."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.threads: list[str] = []

    def session(self, replacements: Mapping[str, str] | None = None) -> Session:
        self.threads.append(threading.current_thread().name)
        return super().session(replacements)


class ThreadRecordingDetector:
    """A detector that finds nothing and notes the thread it runs on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def detect(self, text: str) -> list[Finding]:
        self.threads.append(threading.current_thread().name)
        return []


async def test_large_stored_map_is_compiled_off_the_event_loop() -> None:
    """A session built from a large stored map is built on a worker thread; a small one inline."""
    engine = ThreadRecordingEngine()
    store = MemoryStore()
    await store.merge(user_of("ApiKey t"), "security/default/big", {f"tok-{i}": f"orig-{i}" for i in range(5000)})
    await store.merge(user_of("ApiKey t"), "security/default/small", {f"tok-{i}": f"orig-{i}" for i in range(10)})
    loop_thread = threading.current_thread().name
    async with client_for_store(store, engine=engine) as client:
        assert (await client.post(CHAT, content=chat("big"))).status_code == 200
        assert (await client.post(CHAT, content=chat("small"))).status_code == 200
    big, small = engine.threads
    assert big != loop_thread and small == loop_thread


async def test_detection_runs_off_the_event_loop() -> None:
    """With detectors, anonymizing (detection included) runs on worker threads, not the event loop's."""
    detector = ThreadRecordingDetector()
    loop_thread = threading.current_thread().name
    async with client_for_store(MemoryStore(), engine=Anonymizer(detectors=[detector])) as client:
        assert (await client.post(CHAT, content=chat("c1"))).status_code == 200
    assert detector.threads and loop_thread not in detector.threads


async def test_cached_session_not_used_after_the_map_is_deleted_elsewhere() -> None:
    """A conversation whose map another replica deleted is not restored from this replica's cached session."""
    store = MemoryStore()
    seen: list[bytes] = []

    def asking(token: str) -> bytes:
        return orjson.dumps({**BODY, "conversationId": "c1", "messages": [{"role": "user", "content": token}]})

    async with client_for_store(store, seen) as a:
        await a.post(CHAT, content=chat("c1", "alice"))
        token = orjson.loads(seen[0])["messages"][0]["data"]["user.name"]
        assert "alice" in (await a.post(CHAT, content=asking(token))).json()["data"]  # cached, restored
        await store.delete(user_of("ApiKey t"), "security/default/c1")  # as another replica's DELETE does
        answer = (await a.post(CHAT, content=asking(token))).json()["data"]
    assert "alice" not in answer and token in answer
