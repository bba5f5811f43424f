"""The Redis store and the proxy against a real ``redis-server`` (started and stopped here on a loopback port):
the store's contract, two proxy replicas on one Redis, and a Redis restart under a running proxy."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from anonymizer import Anonymizer
from anonymizer.proxy import RedisStore, ReplacementConflictError, StoreError, create_app, user_identity
from anonymizer.proxy.testing import KibanaStandIn, serve_in_thread

REDIS_SERVER = shutil.which("redis-server")
pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (apt-get install redis-server)"),
]
CHAT = "/api/security_ai_assistant/chat/complete"
AUTH = {"Authorization": "ApiKey cmVkaXM6dGVzdA==", "kbn-xsrf": "true"}
USER = user_identity({"authorization": AUTH["Authorization"]})
_START_LIMIT = 20.0  # seconds a redis-server may take to accept connections


class RedisServer:
    """A ``redis-server`` on 127.0.0.1 and a free port, with its data in ``directory`` (append-only file on)."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _START_LIMIT
        while time.monotonic() < deadline:  # bounded polling for the server to accept connections
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def chat(conversation: str, user_name: str) -> bytes:
    message = {"role": "user", "content": f"Why did {user_name} log in?", "data": {"user.name": user_name}}
    body = {"connectorId": "c", "persist": False, "isStream": False, "conversationId": conversation}
    return orjson.dumps({**body, "messages": [message]})


def load(url: str, conversation: str) -> dict[str, str]:
    """The stored map of the test user's ``conversation``, read with a store of its own."""

    async def read() -> dict[str, str]:
        store = RedisStore(url)
        try:
            return await store.load(USER, conversation)
        finally:
            await store.aclose()

    return asyncio.run(read())


def sent_user_names(kibana: KibanaStandIn) -> list[str]:
    return [orjson.loads(b)["messages"][0]["data"]["user.name"] for b in kibana.bodies(CHAT)]


# ---------------------------------------------------------------------------------------------------- store


async def test_store_contract_on_real_redis(redis_server: RedisServer) -> None:
    """Merge, load, versions, compare-and-set, conflicts and delete behave on a real Redis as specified."""
    store = RedisStore(redis_server.url)
    try:
        v1 = await store.merge_if("u", "c", {"t1": "alice"}, None)
        assert v1 is not None and await store.snapshot("u", "c") == ({"t1": "alice"}, v1)
        assert await store.merge_if("u", "c", {"t2": "bob"}, None) is None
        with pytest.raises(ReplacementConflictError):
            await store.merge("u", "c", {"t1": "mallory", "t3": "x"})
        assert await store.load("u", "c") == {"t1": "alice"}
        results = await asyncio.gather(*(store.merge_if("u", "c", {f"n{i}": f"v{i}"}, v1) for i in range(10)))
        assert sum(r is not None for r in results) == 1
        await store.delete("u", "c")
        assert await store.snapshot("u", "c") == ({}, None)
    finally:
        await store.aclose()


async def test_store_survives_a_redis_restart(redis_server: RedisServer) -> None:
    """Commands after a restart succeed on fresh connections; with the append-only file the map is still there."""
    store = RedisStore(redis_server.url)
    try:
        await asyncio.gather(*(store.merge("u", f"c{i}", {"t": f"v{i}"}) for i in range(8)))  # a pool of connections
        redis_server.stop()
        with pytest.raises(StoreError):
            await store.load("u", "c0")
        redis_server.start()
        loaded = await asyncio.gather(*(store.load("u", f"c{i}") for i in range(8)))
        assert loaded == [{"t": f"v{i}"} for i in range(8)]
    finally:
        await store.aclose()


# ---------------------------------------------------------------------------------------------------- proxy


def _post_all(urls: list[str], bodies: list[bytes]) -> list[httpx.Response]:
    """Send ``bodies`` at once from threads, spread over the proxies at ``urls``."""

    def post(i: int) -> httpx.Response:
        return httpx.post(urls[i % len(urls)] + CHAT, content=bodies[i], headers=AUTH, timeout=60, trust_env=False)

    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(post, range(len(bodies))))


def proxy_on_redis(upstream: str, url: str, engine: Anonymizer | None = None) -> Starlette:
    """The proxy app on a new RedisStore that the app closes at shutdown, on its own event loop (an app does not
    close a store it was given, and the store's connections cannot be closed once that loop has stopped)."""
    store = RedisStore(url)
    app = create_app(upstream, engine=engine, store=store)
    serve = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with serve(app):
                yield
        finally:
            await store.aclose()

    app.router.lifespan_context = lifespan
    return app


@pytest.mark.parametrize("tokens", ["uuid", "placeholder"])
def test_two_replicas_on_one_redis_bind_one_token_per_original(redis_server: RedisServer, tokens: str) -> None:
    """Two proxies sharing a Redis, concurrent requests of one conversation: every request succeeds, every
    original has one token, and each replica restores what the other bound."""
    kibana = KibanaStandIn()
    engine = Anonymizer(tokens=tokens)
    names = [f"analyst-{i % 6}" for i in range(36)]
    with ExitStack() as stack:
        upstream = stack.enter_context(serve_in_thread(kibana.app()))
        apps = [proxy_on_redis(upstream, redis_server.url, engine) for _ in range(2)]
        urls = [stack.enter_context(serve_in_thread(app)) for app in apps]
        replies = _post_all(urls, [chat("shared", n) for n in names])
        assert [r.status_code for r in replies] == [200] * len(names)
        for reply, name in zip(replies, names, strict=True):
            assert f"Why did {name} log in?" in reply.json()["data"]
        tokens_of: dict[str, set[str]] = {}
        for body in kibana.bodies(CHAT):
            message = orjson.loads(body)["messages"][0]
            original = message["content"].removeprefix("Why did ").removesuffix(" log in?")
            assert "analyst" not in original
            tokens_of.setdefault(message["data"]["user.name"], set()).add(original)
        assert len(tokens_of) == len(set(names))  # one token per original, whichever replica minted it
        assert all(len(seen) == 1 for seen in tokens_of.values())
        assert sorted(load(redis_server.url, "security/default/shared").values()) == sorted(set(names))


def test_proxy_recovers_from_a_redis_restart(redis_server: RedisServer) -> None:
    """A running proxy keeps answering after Redis restarts (no request fails once Redis is back), with the
    same tokens as before the restart (the maps are in Redis' append-only file)."""
    kibana = KibanaStandIn()
    with (
        serve_in_thread(kibana.app()) as upstream,
        serve_in_thread(proxy_on_redis(upstream, redis_server.url)) as url,
    ):
        before = _post_all([url], [chat(f"c{i % 4}", f"analyst-{i % 4}") for i in range(16)])
        assert [r.status_code for r in before] == [200] * 16
        redis_server.stop()
        down = httpx.post(url + CHAT, content=chat("c9", "someone"), headers=AUTH, timeout=60, trust_env=False)
        assert down.status_code == 503 and down.json()["error"] == "Service Unavailable"
        ready = httpx.get(url + "/_anonymizer/ready", timeout=30, trust_env=False)
        assert ready.status_code == 503 and ready.json()["store"] == "unavailable"
        redis_server.start()
        after = _post_all([url], [chat(f"c{i % 4}", f"analyst-{i % 4}") for i in range(40)])
        assert [r.status_code for r in after] == [200] * 40
    names = sent_user_names(kibana)
    by_conversation: dict[str, set[str]] = {}
    for body, token in zip(kibana.bodies(CHAT), names, strict=True):
        by_conversation.setdefault(orjson.loads(body)["conversationId"], set()).add(token)
    assert all(len(tokens) == 1 for tokens in by_conversation.values())


def test_serve_on_redis_shuts_down_cleanly(redis_server: RedisServer) -> None:
    """`anonymizer serve --store redis://...` that has talked to Redis ends on SIGTERM with 143 and no traceback:
    the store is closed on the server's own event loop."""
    import signal

    from tests.proxy.test_serve import serve

    kibana = KibanaStandIn()
    with ExitStack() as stack:
        upstream = stack.enter_context(serve_in_thread(kibana.app()))
        proc, url = stack.enter_context(serve("--store", redis_server.url, upstream=upstream))
        r = httpx.post(url + CHAT, content=chat("c1", "jdoe"), headers=AUTH, timeout=60, trust_env=False)
        assert r.status_code == 200 and "jdoe" in r.json()["data"]
        assert load(redis_server.url, "security/default/c1")  # the map went to Redis
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
        assert proc.stderr is not None
        errors = proc.stderr.read().decode()
    assert "Traceback" not in errors and "Event loop is closed" not in errors
