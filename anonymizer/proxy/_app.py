"""The ASGI application: anonymize what goes to Kibana, restore what comes back.

Each rewritten request goes through the same steps: read and parse the body, load the conversation's map from
the store, anonymize the payload with a session built from it, merge the session's new bindings back into the
store (before anything is sent, so an upstream failure loses nothing), forward, then restore the response or
stream with that session. Everything else is forwarded untouched, streaming both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from anonymizer.engine import Anonymizer, Session
from anonymizer.errors import ConfigError, PayloadError
from anonymizer.payloads import MAX_JSON_BYTES, Kind, anonymize_payload, deanonymize_payload
from anonymizer.proxy._identity import conversation_key, short_hash, user_identity
from anonymizer.proxy._logging import logger
from anonymizer.proxy._store import ReplacementConflictError, ReplacementStore, SQLiteStore, StoreError
from anonymizer.proxy._upstream import (
    DEFAULT_TIMEOUT,
    UpstreamFailure,
    kibana_error,
    request_headers,
    response_headers,
    upstream_url,
)
from anonymizer.stream import StreamRestorer, restorer_for

__all__ = ["DEFAULT_STORE_PATH", "HEALTH_PATH", "create_app"]

#: Where :func:`create_app` keeps maps when no store is given (relative to the working directory).
DEFAULT_STORE_PATH = "anonymizer-replacements.db"
#: The proxy's own health endpoint (never forwarded).
HEALTH_PATH = "/_anonymizer/health"

_SECURITY = "/api/security_ai_assistant"
_CONVERSATIONS = _SECURITY + "/current_user/conversations"
_OBSERVABILITY = "/api/observability_ai_assistant"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_MERGE_ATTEMPTS = 4  # a merge conflicts only when two requests of one conversation minted the same new token
_OFFLOAD_BYTES = 256 * 1024  # bodies larger than this are anonymized on a worker thread
_SNIFF_LIMIT = 4096


class _Failure(Exception):
    """A request that ends here with a Kibana-shaped error (no upstream call, or a failed one)."""

    def __init__(self, status: int, message: str, body: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


@dataclass(slots=True)
class _Log:
    """What one request logs: counts, hashes and timings only."""

    route: str
    method: str
    user: str
    started: float = field(default_factory=time.perf_counter)
    fields: dict[str, Any] = field(default_factory=dict)

    def emit(self, status: int, **more: Any) -> None:
        self.fields.update(more)
        latency = round((time.perf_counter() - self.started) * 1000, 3)
        extra = {"route": self.route, "method": self.method, "status": status, "latency_ms": latency}
        extra["user"] = short_hash(self.user)
        extra.update(self.fields)
        troubled = status >= 500 or self.fields.get("stream", "complete") != "complete"
        logger.log(logging.WARNING if troubled else logging.INFO, "request", extra=extra)


class _Proxy:
    """The state of one app: configuration, the store and (once started) the HTTP client."""

    def __init__(
        self,
        upstream: str,
        engine: Anonymizer,
        store: ReplacementStore,
        *,
        own_store: bool,
        transport: httpx.AsyncBaseTransport | None,
        timeout: httpx.Timeout | float,
        identity_key: bytes | None,
        max_body_bytes: int,
    ) -> None:
        base = httpx.URL(upstream)
        if base.scheme not in ("http", "https") or not base.host:
            raise ConfigError("upstream must be an http(s) URL, e.g. http://127.0.0.1:5601", path="upstream")
        self.base = base
        self.engine = engine
        self.store = store
        self.own_store = own_store
        self.transport = transport
        self.timeout = timeout
        self.identity_key = identity_key
        self.max_body_bytes = max_body_bytes
        self.offload_all = bool(engine.detectors)
        self.client: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport, timeout=self.timeout, follow_redirects=False, trust_env=False
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        """Check the store, open the client; close both at shutdown."""
        await self.store.ping()
        self.client = self._new_client()
        logger.info("started", extra={"upstream": _public_url(self.base), "store": type(self.store).__name__})
        try:
            yield
        finally:
            client, self.client = self.client, None
            await client.aclose()
            if self.own_store:
                await self.store.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:  # served without lifespan (e.g. httpx.ASGITransport): open it on first use
            self.client = self._new_client()
        return self.client

    # ------------------------------------------------------------------------------------------- plumbing

    def user(self, request: Request) -> str:
        return user_identity(request.headers, key=self.identity_key)

    async def read_body(self, request: Request) -> bytes:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > self.max_body_bytes:
            raise _Failure(413, f"The request body is larger than {self.max_body_bytes} bytes")
        parts: list[bytes] = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > self.max_body_bytes:
                raise _Failure(413, f"The request body is larger than {self.max_body_bytes} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def cpu(self, size: int, fn: Callable[..., Any], *args: Any) -> Any:
        """Engine work: inline for small bodies, on a worker thread for large ones or with detectors."""
        if self.offload_all or size > _OFFLOAD_BYTES:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def anonymize(
        self, log: _Log, obj: Any, kind: Kind, key: str | None, size: int
    ) -> tuple[Session, dict[str, Any]]:
        """Anonymize ``obj`` with the conversation's stored map; merge the new bindings before returning.

        A conflict (another request of the conversation bound the same new token meanwhile, possible with
        placeholder tokens) reloads the map and starts again.
        """
        for _ in range(_MERGE_ATTEMPTS):
            stored = await self.load(log.user, key) if key else {}
            session = self.engine.session(stored)
            try:
                wire: dict[str, Any] = await self.cpu(size, anonymize_payload, session, obj, kind)
            except PayloadError as err:
                raise _Failure(400, "", err.to_kibana_error()) from None
            fresh = {t: o for t, o in session.replacements.items() if t not in stored}
            log.fields.update(tokens=len(session), new_tokens=len(fresh))
            if key is None or not fresh:
                return session, wire
            try:
                await self.store.merge(log.user, key, fresh)
            except ReplacementConflictError:
                logger.info("merge_conflict_retry", extra={"conversation": short_hash(key)})
                continue
            except StoreError as exc:
                raise _Failure(503, f"The replacement store is unavailable ({exc.__class__.__name__})") from None
            return session, wire
        raise _Failure(503, "The conversation's replacements kept changing concurrently; retry the request")

    async def load(self, user: str, key: str) -> dict[str, str]:
        try:
            return await self.store.load(user, key)
        except StoreError as exc:
            raise _Failure(503, f"The replacement store is unavailable ({exc.__class__.__name__})") from None

    async def remember(self, user: str, key: str, session: Session) -> None:
        """Store a session's map under a conversation the upstream just revealed; failures are only logged."""
        try:
            await self.store.merge(user, key, session.replacements)
        except (StoreError, ReplacementConflictError) as exc:
            logger.error("map_not_stored", extra={"conversation": short_hash(key), "reason": type(exc).__name__})

    async def open(self, request: Request, content: Any, *, rewritten: bool) -> httpx.Response:
        """Send the request upstream and return the response with its body not yet read."""
        client = self._client()
        url = upstream_url(
            self.base, request.scope.get("raw_path") or request.url.path.encode(), request.scope["query_string"]
        )
        headers = request_headers(list(request.headers.raw), rewritten=rewritten)
        upstream = client.build_request(request.method, url, headers=headers, content=content)
        try:
            return await client.send(upstream, stream=True)
        except httpx.TimeoutException:
            raise UpstreamFailure(504, "The upstream Kibana did not answer in time") from None
        except httpx.HTTPError as exc:
            raise UpstreamFailure(502, f"The upstream Kibana could not be reached ({type(exc).__name__})") from None

    async def read(self, response: httpx.Response) -> bytes:
        try:
            return await response.aread()
        except httpx.TimeoutException:
            raise UpstreamFailure(504, "The upstream Kibana did not finish its answer in time") from None
        except httpx.HTTPError as exc:
            raise UpstreamFailure(502, f"The upstream Kibana's answer was cut ({type(exc).__name__})") from None
        finally:
            await response.aclose()

    async def json_reply(
        self, log: _Log, response: httpx.Response, restore: Callable[[Any], Awaitable[Any] | Any]
    ) -> Response:
        """Read a JSON (or error) answer, restore it with ``restore`` and send it on."""
        body = await self.read(response)
        log.fields["upstream_status"] = response.status_code
        out = body
        try:
            obj = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            obj = None
        if obj is not None:
            restored = restore(obj)
            if asyncio.iscoroutine(restored):
                restored = await restored
            out = orjson.dumps(restored)
        reply = Response(out, status_code=response.status_code)
        reply.raw_headers = [
            *response_headers(response, rewritten=True),
            (b"content-length", str(len(out)).encode()),
        ]
        return reply

    async def error_reply(self, log: _Log, response: httpx.Response, session: Session) -> Response:
        """A non-2xx answer: passed on with every token of the conversation restored."""

        def restore(obj: Any) -> Any:
            return session.deanonymize_obj(obj)

        body_restored = await self.json_reply(log, response, restore)
        return body_restored

    def stream_reply(
        self,
        log: _Log,
        response: httpx.Response,
        restorer: StreamRestorer,
        chunks: AsyncIterator[bytes],
        *,
        fmt: str,
        on_line: Callable[[bytes], None] | None = None,
        on_end: Callable[[], Awaitable[None]] | None = None,
    ) -> StreamingResponse:
        """Restore a streamed answer chunk by chunk; a cut upstream stream ends the client's after a flush."""
        log.fields.update(upstream_status=response.status_code, format=fmt)

        async def body() -> AsyncIterator[bytes]:
            outcome = "disconnected"
            lines = _Lines(on_line) if on_line else None
            try:
                try:
                    async for chunk in chunks:
                        if lines:
                            lines.feed(chunk)
                        out = restorer.feed(chunk)
                        if out:
                            yield out
                except httpx.HTTPError as exc:
                    outcome = "cut"
                    logger.warning("upstream_stream_cut", extra={"route": log.route, "reason": type(exc).__name__})
                    tail = restorer.close()
                    yield tail + _error_event(fmt, tail)
                else:
                    outcome = "complete"
                    tail = restorer.close()
                    if tail:
                        yield tail
            finally:
                await response.aclose()
                if on_end is not None:
                    await on_end()
                report = restorer.report
                log.emit(response.status_code, stream=outcome, restored=report.restored, unknown=report.unknown)

        reply = StreamingResponse(body(), status_code=response.status_code)
        reply.raw_headers = response_headers(response, rewritten=True)
        return reply


def _public_url(url: httpx.URL) -> str:
    """The upstream without credentials, for logs and the health endpoint."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def _mimetype(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


def _error_event(fmt: str, flushed: bytes) -> bytes:
    """What the format says when a stream fails (Kibana's own error events); security streams have none."""
    sep = b"" if not flushed or flushed.endswith(b"\n") else b"\n"
    message = "The upstream stream was cut"
    if fmt == "observability.ndjson":
        event = {"error": {"message": message, "code": "internalError"}, "type": "chatCompletionError"}
        return sep + orjson.dumps(event) + b"\n"
    if fmt == "openai.sse":
        return sep + b"\ndata: " + orjson.dumps({"error": {"message": message}}) + b"\n\ndata: [DONE]\n\n"
    return b""


class _Lines:
    """Calls ``on_line`` with every complete input line that mentions a new conversation (cheap pre-filter)."""

    __slots__ = ("_on_line", "_partial")

    def __init__(self, on_line: Callable[[bytes], None]) -> None:
        self._on_line = on_line
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            if b"conversationCreate" in line:
                self._on_line(line)


def _compose(session: Session, upstream: Any) -> tuple[Session, dict[str, str]]:
    """A session to restore an answer with, and the ``replacements`` to show the client.

    Kibana anonymizes again what the proxy sends it, so its ``replacements`` map its own tokens to the proxy's
    tokens. Each of its values is restored with the conversation's map (chained), giving Kibana token ->
    original; the restore session holds both maps (a copy: the stored map is never changed by an answer). The
    client sees the proxy's map and the chained one, as Kibana without a proxy would show its own.
    """
    own = session.replacements
    chained: dict[str, str] = {}
    if isinstance(upstream, Mapping):
        for token, value in upstream.items():
            if isinstance(token, str) and token and isinstance(value, str) and token not in own:
                chained[token] = session.deanonymize(value)
    if not chained:
        return session, own
    restore_session = session.engine.session(own)
    restore_session.merge_replacements(chained)
    return restore_session, {**own, **chained}


def _restore_payload(session: Session, payload: Any, kind: Kind) -> Any:
    """Restore a JSON answer of ``kind``; an answer that does not fit the model has every string restored."""
    if not isinstance(payload, dict):
        return session.deanonymize_obj(payload)
    restore_session, shown = _compose(session, payload.get("replacements"))
    if "replacements" in payload:
        payload = {**payload, "replacements": shown}
    try:
        return deanonymize_payload(restore_session, payload, kind)
    except PayloadError:
        rest = {k: v for k, v in payload.items() if k != "replacements"}
        out = restore_session.deanonymize_obj(rest)
        if "replacements" in payload:
            out["replacements"] = payload["replacements"]
        return out


def _parse(body: bytes) -> Any:
    """The JSON body, or the raw bytes (validation then reports what is wrong in Kibana's words)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body


def _text_field(obj: Any, name: str) -> str | None:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _persist(wire: Mapping[str, Any]) -> bool:
    return wire.get("persist") in (True, "true")


# ------------------------------------------------------------------------------------------------- routes


def _routes(proxy: _Proxy) -> list[Route]:
    def endpoint(name: str, handler: Callable[[Request, _Log], Awaitable[Response]]) -> Callable[..., Any]:
        async def run(request: Request) -> Response:
            log = _Log(name, request.method, proxy.user(request))
            try:
                response = await handler(request, log)
            except _Failure as failure:
                log.emit(failure.status, error="invalid_request" if failure.status == 400 else "proxy")
                if failure.body is not None:
                    return Response(orjson.dumps(failure.body), failure.status, media_type="application/json")
                return kibana_error(failure.status, failure.message)
            except UpstreamFailure as failure:
                log.emit(failure.status, error="upstream")
                return kibana_error(failure.status, failure.message)
            if not isinstance(response, StreamingResponse):
                log.emit(response.status_code)
            return response

        return run

    def space(request: Request) -> str | None:
        value = request.path_params.get("space_id")
        return value if isinstance(value, str) else None

    async def forward_chat(
        request: Request, log: _Log, family: str, kind: Kind
    ) -> tuple[Session, Any, str | None, httpx.Response | Response]:
        """Anonymize a chat/complete request under its conversation's map and forward it.

        Returns the session, the body sent, the conversation key, and the upstream response (or, when the
        upstream failed, the error reply to send back)."""
        body = await proxy.read_body(request)
        obj = _parse(body)
        conv_id = _text_field(obj, "conversationId")
        key = conversation_key(family, space(request), conv_id) if conv_id else None
        if key:
            log.fields["conversation"] = short_hash(key)
        session, wire = await proxy.anonymize(log, obj, kind, key, len(body))
        response = await proxy.open(request, orjson.dumps(wire), rewritten=True)
        if not response.is_success:
            return session, wire, key, await proxy.error_reply(log, response, session)
        return session, wire, key, response

    async def security_chat(request: Request, log: _Log) -> Response:
        session, wire, key, response = await forward_chat(request, log, "security", Kind.SECURITY_CHAT_COMPLETE)
        if isinstance(response, Response):
            return response
        if _mimetype(response) == "application/json":

            async def restore(answer: Any) -> Any:
                revealed = _text_field(answer, "conversationId")
                if key is None and revealed and _persist(wire):
                    await proxy.remember(log.user, conversation_key("security", space(request), revealed), session)
                return _restore_payload(session, answer, Kind.SECURITY_CHAT_COMPLETE_RESPONSE)

            return await proxy.json_reply(log, response, restore)
        restorer = restorer_for(session.restorer, "security.ndjson")
        return proxy.stream_reply(log, response, restorer, _chunks(response), fmt="security.ndjson")

    async def observability_chat(request: Request, log: _Log) -> Response:
        session, wire, key, response = await forward_chat(
            request, log, "observability", Kind.OBSERVABILITY_CHAT_COMPLETE
        )
        if isinstance(response, Response):
            return response
        mimetype = _mimetype(response)
        if mimetype == "application/json":  # the internal route's non-stream answer

            def restore(answer: Any) -> Any:
                return session.deanonymize_obj(answer)

            return await proxy.json_reply(log, response, restore)
        chunks = _chunks(response)
        if mimetype == "text/event-stream":
            fmt = "openai.sse"
        else:
            head, chunks = await _sniff(chunks)
            fmt = "observability.ndjson" if head.lstrip()[:1] in (b"{", b"") else "openai.sse"
        on_line = None
        on_end = None
        if key is None and _persist(wire) and fmt == "observability.ndjson":
            created: list[str] = []

            def on_line(line: bytes) -> None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    event = orjson.loads(line)
                    conversation = event.get("conversation") if isinstance(event, dict) else None
                    new_id = _text_field(conversation, "id")
                    if event.get("type") == "conversationCreate" and new_id:
                        created.append(new_id)

            async def on_end() -> None:
                for new_id in created[:1]:
                    await proxy.remember(log.user, conversation_key("observability", space(request), new_id), session)

        restorer = restorer_for(session.restorer, fmt)
        return proxy.stream_reply(log, response, restorer, chunks, fmt=fmt, on_line=on_line, on_end=on_end)

    async def conversation_create(request: Request, log: _Log) -> Response:
        body = await proxy.read_body(request)
        obj = _parse(body)
        conv_id = _text_field(obj, "id")
        if isinstance(obj, dict) and conv_id is None and "id" not in obj:
            # Kibana takes a given id as the document id: choosing it here lets the map be stored before
            # the request leaves, under the id the conversation will have.
            conv_id = str(uuid.uuid4())
            obj = {**obj, "id": conv_id}
        key = conversation_key("security", space(request), conv_id) if conv_id else None
        if key:
            log.fields["conversation"] = short_hash(key)
        session, wire = await proxy.anonymize(log, obj, Kind.CONVERSATION_CREATE, key, len(body))
        wire.pop("replacements", None)  # the proxy keeps the map; its originals never go upstream
        response = await proxy.open(request, orjson.dumps(wire), rewritten=True)
        if not response.is_success:
            return await proxy.error_reply(log, response, session)

        async def restore(answer: Any) -> Any:
            returned = _text_field(answer, "id")
            if returned and returned != conv_id:
                await proxy.remember(log.user, conversation_key("security", space(request), returned), session)
            return _restore_payload(session, answer, Kind.CONVERSATION)

        return await proxy.json_reply(log, response, restore)

    async def conversation_update(request: Request, log: _Log) -> Response:
        key = conversation_key("security", space(request), request.path_params["id"])
        log.fields["conversation"] = short_hash(key)
        body = await proxy.read_body(request)
        session, wire = await proxy.anonymize(log, _parse(body), Kind.CONVERSATION_UPDATE, key, len(body))
        wire.pop("replacements", None)  # Kibana would overwrite its own map with it (and see originals)
        response = await proxy.open(request, orjson.dumps(wire), rewritten=True)
        if not response.is_success:
            return await proxy.error_reply(log, response, session)
        return await proxy.json_reply(log, response, lambda a: _restore_payload(session, a, Kind.CONVERSATION))

    async def conversation_read(request: Request, log: _Log) -> Response:
        key = conversation_key("security", space(request), request.path_params["id"])
        log.fields["conversation"] = short_hash(key)
        session = proxy.engine.session(await proxy.load(log.user, key))
        log.fields["tokens"] = len(session)
        response = await proxy.open(request, None, rewritten=True)
        if not response.is_success:
            return await proxy.error_reply(log, response, session)
        return await proxy.json_reply(log, response, lambda a: _restore_payload(session, a, Kind.CONVERSATION))

    async def conversation_delete(request: Request, log: _Log) -> Response:
        key = conversation_key("security", space(request), request.path_params["id"])
        log.fields["conversation"] = short_hash(key)
        response = await proxy.open(request, await proxy.read_body(request) or None, rewritten=False)
        body = await proxy.read(response)
        if response.is_success:
            try:
                await proxy.store.delete(log.user, key)
            except StoreError as exc:
                logger.error("map_not_deleted", extra={"conversation": short_hash(key), "reason": str(exc)[:80]})
        reply = Response(body, status_code=response.status_code)
        reply.raw_headers = response_headers(response, rewritten=False)
        return reply

    async def conversation_find(request: Request, log: _Log) -> Response:
        response = await proxy.open(request, None, rewritten=True)
        empty = proxy.engine.session()
        if not response.is_success:
            return await proxy.error_reply(log, response, empty)

        async def restore(page: Any) -> Any:
            items = page.get("data") if isinstance(page, dict) else None
            if not isinstance(items, list):
                return page
            ids = [_text_field(item, "id") for item in items]
            keys = [conversation_key("security", space(request), i) if i else None for i in ids]
            maps = await asyncio.gather(*(proxy.load(log.user, k) if k else _nothing() for k in keys))
            log.fields.update(conversations=len(items), tokens=sum(len(m) for m in maps))
            data = [
                _restore_payload(proxy.engine.session(m), item, Kind.CONVERSATION) if isinstance(item, dict) else item
                for item, m in zip(items, maps, strict=True)
            ]
            return {**page, "data": data}

        return await proxy.json_reply(log, response, restore)

    async def passthrough(request: Request, log: _Log) -> Response:
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        response = await proxy.open(request, request.stream() if has_body else None, rewritten=False)
        log.fields["upstream_status"] = response.status_code

        async def body() -> AsyncIterator[bytes]:
            outcome = "disconnected"
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
                outcome = "complete"
            except httpx.HTTPError as exc:
                outcome = "cut"
                logger.warning("upstream_stream_cut", extra={"route": log.route, "reason": type(exc).__name__})
            finally:
                await response.aclose()
                log.emit(response.status_code, stream=outcome)

        reply = StreamingResponse(body(), status_code=response.status_code)
        reply.raw_headers = response_headers(response, rewritten=False)
        return reply

    async def health(request: Request) -> Response:
        status = {"status": "ok", "store": "ok", "upstream": _public_url(proxy.base)}
        try:
            await proxy.store.ping()
        except StoreError:
            status.update(status="degraded", store="unavailable")
        return Response(orjson.dumps(status), 200 if status["status"] == "ok" else 503, media_type="application/json")

    table: list[tuple[str, str, list[str], Callable[[Request, _Log], Awaitable[Response]]]] = [
        ("security.chat_complete", _SECURITY + "/chat/complete", ["POST"], security_chat),
        ("conversation.find", _CONVERSATIONS + "/_find", ["GET"], conversation_find),
        ("conversation.create", _CONVERSATIONS, ["POST"], conversation_create),
        ("conversation.update", _CONVERSATIONS + "/{id}", ["PUT"], conversation_update),
        ("conversation.read", _CONVERSATIONS + "/{id}", ["GET"], conversation_read),
        ("conversation.delete", _CONVERSATIONS + "/{id}", ["DELETE"], conversation_delete),
        ("observability.chat_complete", _OBSERVABILITY + "/chat/complete", ["POST"], observability_chat),
    ]
    routes = [Route(HEALTH_PATH, health, methods=["GET"], name="health")]
    for name, path, methods, handler in table:
        run = endpoint(name, handler)
        routes.append(Route(path, run, methods=methods, name=name))
        routes.append(Route("/s/{space_id}" + path, run, methods=methods, name="space." + name))
    routes.append(Route("/{path:path}", endpoint("passthrough", passthrough), methods=_METHODS, name="passthrough"))
    return routes


async def _nothing() -> dict[str, str]:
    return {}


def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as it arrives: raw bytes, or decoded when the upstream compressed it anyway."""
    if response.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
        return response.aiter_bytes()
    return response.aiter_raw()


async def _sniff(chunks: AsyncIterator[bytes]) -> tuple[bytes, AsyncIterator[bytes]]:
    """Read until the first non-blank byte (bounded) and give back an iterator that replays what was read."""
    head = b""
    done = False
    try:
        while not head.strip() and len(head) < _SNIFF_LIMIT:
            head += await anext(chunks)
    except StopAsyncIteration:
        done = True
    except httpx.TimeoutException:
        raise UpstreamFailure(504, "The upstream Kibana did not start its answer in time") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailure(502, f"The upstream Kibana's answer was cut ({type(exc).__name__})") from None

    async def replay() -> AsyncIterator[bytes]:
        if head:
            yield head
        if not done:
            async for chunk in chunks:
                yield chunk

    return head, replay()


def create_app(
    upstream: str,
    *,
    engine: Anonymizer | None = None,
    store: ReplacementStore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    identity_key: bytes | None = None,
    max_body_bytes: int = MAX_JSON_BYTES,
) -> Starlette:
    """An ASGI app that sits in front of Kibana at ``upstream`` and anonymizes its AI Assistant traffic.

    * ``engine``: the :class:`~anonymizer.Anonymizer` (default: Kibana's default policy, uuid tokens).
    * ``store``: where each conversation's map is kept (default: :class:`SQLiteStore` on
      :data:`DEFAULT_STORE_PATH`, opened and closed with the app; a store passed in is not closed).
    * ``transport``: an ``httpx`` transport for the upstream calls (tests: ``httpx.MockTransport``).
    * ``timeout``: the upstream timeouts (:data:`DEFAULT_TIMEOUT`).
    * ``identity_key``: a secret that turns the user identity into an HMAC of the credential.
    * ``max_body_bytes``: larger request bodies get a 413 on the rewritten routes.

    >>> app = create_app("http://127.0.0.1:5601", store=MemoryStore())  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    own_store = store is None
    proxy = _Proxy(
        upstream,
        engine if engine is not None else Anonymizer(),
        store if store is not None else SQLiteStore(DEFAULT_STORE_PATH),
        own_store=own_store,
        transport=transport,
        timeout=timeout,
        identity_key=identity_key,
        max_body_bytes=max_body_bytes,
    )
    app = Starlette(routes=_routes(proxy), lifespan=proxy.lifespan)
    app.state.proxy = proxy
    return app
