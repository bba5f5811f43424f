"""A Kibana stand-in and a loopback server runner, for testing and benchmarking setups with the proxy.

:class:`KibanaStandIn` answers the Elastic AI Assistant APIs the proxy handles (security and observability
chat/complete, conversation create, read, update and find) in their wire formats, the way Kibana does
(conversations kept per ``Authorization``, re-anonymized on read with Kibana's own helper; chat answers that quote
what the model was sent, streamed in small odd-sized chunks) and records every request it receives.
:func:`serve_in_thread` runs any ASGI app with uvicorn on ``127.0.0.1`` and a free port.

>>> standin = KibanaStandIn()
>>> with serve_in_thread(standin.app()) as url:  # doctest: +SKIP
...     httpx.get(url + "/api/status").json()

Per-request behaviour is chosen with the ``x-standin-mode`` request header (which the proxy forwards):
``cut`` (a stream that stops mid-way), ``error`` (a 500 quoting the request), ``hang`` (no answer until
:attr:`KibanaStandIn.release` is set, bounded), ``gate`` (a stream that pauses after its first line until
:attr:`KibanaStandIn.gate` is set, bounded), ``kibana-tokens`` (a non-stream security answer that anonymizes
its reply again, as Kibana does, with ``replacements`` mapping its tokens to what it received).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from anonymizer.kibana import replace_original_values_with_uuid_values

__all__ = ["KibanaStandIn", "Received", "serve_in_thread"]

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WAIT_LIMIT = 10.0  # seconds any stand-in wait may last


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


@dataclass
class KibanaStandIn:
    """A stand-in for Kibana's AI Assistant routes. ``chunk`` is the size of the body pieces it streams."""

    chunk: int = 7
    received: list[Received] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    conversations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        """The ASGI app (routes with and without ``/s/{space_id}``)."""
        conv = "/api/security_ai_assistant/current_user/conversations"
        table = [
            ("/api/security_ai_assistant/chat/complete", self._security_chat, ["POST"]),
            (conv + "/_find", self._find, ["GET"]),
            (conv, self._create, ["POST"]),
            (conv + "/{id}", self._conversation, ["GET", "PUT", "DELETE"]),
            ("/api/observability_ai_assistant/chat/complete", self._observability_chat, ["POST"]),
            ("/internal/observability_ai_assistant/chat/complete", self._observability_chat, ["POST"]),
        ]
        routes = []
        for path, handler, methods in table:
            routes.append(Route(path, handler, methods=methods))
            routes.append(Route("/s/{space_id}" + path, handler, methods=methods))
        routes.append(Route("/{path:path}", self._echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]))
        return Starlette(routes=routes)

    def bodies(self, path_part: str = "") -> list[bytes]:
        """The bodies of the requests received whose path contains ``path_part``."""
        with self.lock:
            return [r.body for r in self.received if path_part in r.path]

    # ------------------------------------------------------------------------------------------ plumbing

    async def _record(self, request: Request) -> Received:
        body = await request.body()
        item = Received(request.method, request.url.path, request.url.query, dict(request.headers), body)
        with self.lock:
            self.received.append(item)
        return item

    async def _stream(self, body: bytes, mode: str, media_type: str) -> StreamingResponse:
        self.finished.clear()
        pieces = [body[i : i + self.chunk] for i in range(0, len(body), self.chunk)]

        async def gen() -> AsyncIterator[bytes]:
            gated = mode != "gate"
            for i, piece in enumerate(pieces):
                yield piece
                if mode == "cut" and i >= len(pieces) // 2:
                    raise ConnectionAbortedError("stand-in cut the stream")
                if not gated and b"\n" in piece:  # the first whole line (event) is out: wait for the test
                    gated = True
                    await asyncio.to_thread(self.gate.wait, _WAIT_LIMIT)
                await asyncio.sleep(0)
            self.finished.set()

        headers = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
        return StreamingResponse(gen(), media_type=media_type, headers=headers)

    @staticmethod
    def _error(status: int, message: str) -> Response:
        body = {"statusCode": status, "error": "Error", "message": message}
        return Response(orjson.dumps(body), status, media_type="application/json")

    async def _special(self, request: Request, quoted: str) -> Response | None:
        mode = request.headers.get("x-standin-mode", "")
        if mode == "error":
            return self._error(500, f"simulated failure while answering: {quoted}")
        if mode == "hang":
            await asyncio.to_thread(self.release.wait, _WAIT_LIMIT)
            return self._error(503, "released")
        return None

    # ---------------------------------------------------------------------------------------- security

    async def _security_chat(self, request: Request) -> Response:
        item = await self._record(request)
        body = item.json()
        said = " | ".join(
            m.get("content", "") + " " + orjson.dumps(m.get("data", {})).decode() for m in body["messages"]
        )
        reply = f"You said: {said}. Done."
        special = await self._special(request, reply)
        if special is not None:
            return special
        mode = request.headers.get("x-standin-mode", "")
        if body.get("isStream"):
            words = re.findall(r"\S+\s*", reply)
            lines = b"".join(orjson.dumps({"payload": w, "type": "content"}) + b"\n" for w in words)
            return await self._stream(lines, mode, "application/octet-stream")
        conversation_id = body.get("conversationId")
        if body.get("persist") and not conversation_id:
            conversation_id = str(uuid.uuid4())
        replacements: dict[str, str] = {}
        if mode == "kibana-tokens":
            for token in dict.fromkeys(_UUID_RE.findall(reply)):
                own = str(uuid.uuid4())
                replacements[own] = token
                reply = reply.replace(token, own)
        answer: dict[str, Any] = {
            "connector_id": body.get("connectorId"),
            "data": reply,
            "trace_data": {"traceId": "t-1", "transactionId": "x-1"},
            "replacements": replacements,
            "status": "ok",
        }
        if conversation_id and body.get("persist"):
            answer["conversationId"] = conversation_id
        return Response(orjson.dumps(answer), media_type="application/json")

    # ----------------------------------------------------------------------------------- conversations

    def _user(self, request: Request) -> str:
        return request.headers.get("authorization", "")

    def _read(self, stored: dict[str, Any]) -> dict[str, Any]:
        """A conversation as Kibana returns it: content re-anonymized with its replacements."""
        out = dict(stored)
        replacements = stored.get("replacements") or {}
        out["messages"] = [
            {**m, "content": replace_original_values_with_uuid_values(m.get("content", ""), replacements)}
            for m in stored.get("messages", [])
        ]
        return out

    async def _create(self, request: Request) -> Response:
        item = await self._record(request)
        body = item.json()
        cid = body.get("id") or str(uuid.uuid4())
        now = "2024-08-02T07:19:08.124Z"
        stored = {
            "timestamp": now,
            "createdAt": now,
            "users": [{"id": "u_1", "name": "elastic"}],
            "category": "assistant",
            "namespace": request.path_params.get("space_id", "default"),
            "replacements": {},
            "messages": [],
            **{k: v for k, v in body.items() if k != "id"},
            "id": cid,
        }
        with self.lock:
            self.conversations[(self._user(request), cid)] = stored
        return Response(orjson.dumps(self._read(stored)), media_type="application/json")

    async def _conversation(self, request: Request) -> Response:
        item = await self._record(request)
        cid = request.path_params["id"]
        key = (self._user(request), cid)
        with self.lock:
            stored = self.conversations.get(key)
            if stored is None:
                return self._error(404, f'conversation id: "{cid}" not found')
            if request.method == "DELETE":
                del self.conversations[key]
                return Response(b"{}", media_type="application/json")
            if request.method == "PUT":
                body = item.json()
                stored.update(
                    {k: v for k, v in body.items() if k in ("title", "messages", "apiConfig", "replacements")}
                )
                stored["updatedAt"] = "2024-08-02T07:39:45.129Z"
            out = self._read(stored)
        special = await self._special(request, orjson.dumps(out).decode())
        return special or Response(orjson.dumps(out), media_type="application/json")

    async def _find(self, request: Request) -> Response:
        await self._record(request)
        user = self._user(request)
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("per_page", "20"))
        with self.lock:
            mine = [self._read(c) for (u, _), c in self.conversations.items() if u == user]
        data = mine[(page - 1) * per_page : page * per_page]
        body = {"page": page, "perPage": per_page, "total": len(mine), "data": data}
        return Response(orjson.dumps(body), media_type="application/json")

    # ----------------------------------------------------------------------------------- observability

    async def _observability_chat(self, request: Request) -> Response:
        item = await self._record(request)
        body = item.json()
        said = " | ".join(m["message"].get("content") or "" for m in body["messages"])
        reply = f"You said: {said}. Done."
        special = await self._special(request, reply)
        if special is not None:
            return special
        if body.get("isStream") is False and request.url.path.endswith(
            "/internal/observability_ai_assistant/chat/complete"
        ):
            # the UI's route without a stream: the last message's content as one JSON object
            answer = {"conversationId": body.get("conversationId") or str(uuid.uuid4()), "data": reply}
            return Response(
                orjson.dumps({**answer, "connectorId": body.get("connectorId")}), media_type="application/json"
            )
        mode = request.headers.get("x-standin-mode", "")
        words = re.findall(r"\S+\s*", reply)
        args = orjson.dumps({"question": said}).decode()
        chunk_id = "9c8eff9b-4fd4-4203-a4ab-2e364688deff"
        if request.query_params.get("format") == "openai":
            events = [
                {
                    "model": "unknown",
                    "choices": [{"delta": {"content": w}, "finish_reason": None, "index": 0}],
                    "created": 1750936626911,
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                }
                for w in words
            ]
            events.append(
                {
                    "model": "unknown",
                    "choices": [
                        {
                            "delta": {
                                "content": "",
                                "function_call": {"name": "get_cluster_health", "arguments": args},
                            },
                            "finish_reason": None,
                            "index": 0,
                        }
                    ],
                    "created": 1750936626911,
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                }
            )
            sse = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
            media = request.headers.get("x-standin-sse-type", "text/event-stream")
            return await self._stream(sse, mode, media)
        lines = [{"type": "chatCompletionChunk", "id": chunk_id, "message": {"content": w}} for w in words]
        message = {
            "content": reply,
            "role": "assistant",
            "function_call": {"name": "", "arguments": "", "trigger": "assistant"},
        }
        lines.append({"type": "chatCompletionMessage", "id": chunk_id, "message": {"content": reply}})
        lines.append(
            {
                "type": "messageAdd",
                "id": chunk_id,
                "message": {"@timestamp": "2025-06-25T23:45:01.000Z", "message": message},
            }
        )
        if body.get("persist") and not body.get("conversationId"):
            created = {"id": str(uuid.uuid4()), "title": "New conversation", "last_updated": "2025-06-25T23:45:01.000Z"}
            lines.append({"type": "conversationCreate", "conversation": created})
        ndjson = b"".join(orjson.dumps(e) + b"\n" for e in lines)
        return await self._stream(ndjson, mode, "application/octet-stream")

    # ------------------------------------------------------------------------------------------- other

    async def _echo(self, request: Request) -> Response:
        item = await self._record(request)
        body = {"method": item.method, "path": item.path, "query": item.query, "headers": item.headers}
        response = Response(orjson.dumps(body) + item.body, status_code=201, media_type="application/x-echo")
        response.headers.append("set-cookie", "a=1; Path=/")
        response.headers.append("set-cookie", "b=2; Path=/")
        response.headers["x-standin"] = "yes"
        return response


@contextlib.contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a thread; yield its base URL; stop it (bounded) on exit."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, lifespan="on", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-loopback", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:  # bounded polling for the start of the server
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(start_timeout)
            raise RuntimeError("the loopback server did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(start_timeout)
