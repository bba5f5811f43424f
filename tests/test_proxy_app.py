"""The proxy app in process (httpx.ASGITransport in front, httpx.MockTransport as Kibana), and its CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
import orjson
import pytest

from anonymizer import Anonymizer
from anonymizer.proxy import MemoryStore, create_app
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
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")


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
