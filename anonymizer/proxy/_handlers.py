"""The proxy's route handlers: one coroutine per route, ``handler(proxy, request, log) -> Response``.

Rewritten routes anonymize their request under the conversation's map and restore the answer with the same
session; :func:`passthrough` forwards everything else untouched; :func:`live`, :func:`ready` and
:func:`metrics` are the proxy's own endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from anonymizer.engine import Session
from anonymizer.payloads import Kind
from anonymizer.payloads.answers import restore_answer
from anonymizer.proxy._identity import conversation_key, short_hash
from anonymizer.proxy._logging import logger
from anonymizer.proxy._metrics import CONTENT_TYPE_LATEST
from anonymizer.proxy._proxy import Proxy, RequestLog
from anonymizer.proxy._upstream import UpstreamFailure, response_headers
from anonymizer.stream import restorer_for

__all__ = [
    "conversation_create",
    "conversation_delete",
    "conversation_find",
    "conversation_read",
    "conversation_update",
    "live",
    "metrics",
    "observability_chat",
    "passthrough",
    "ready",
    "security_chat",
]

_SNIFF_LIMIT = 4096


# ------------------------------------------------------------------------------------------------ helpers


def _space(request: Request) -> str | None:
    value = request.path_params.get("space_id")
    return value if isinstance(value, str) else None


def _security_conversation(request: Request, log: RequestLog) -> str:
    """The store key of the security conversation named in the path, logged as its hash (never the id itself)."""
    key = conversation_key("security", _space(request), request.path_params["id"])
    log.fields["conversation"] = short_hash(key)
    return key


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


def _mimetype(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


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


def _used(session: Session, wire: bytes) -> dict[str, str]:
    """The bindings of the tokens that ``wire`` (what was sent upstream) holds: what a chat answer shows."""
    events = session.restore(wire.decode()).report.events
    return {e.found: session.deanonymize(e.found) for e in events if e.kind == "restored"}


async def _forward_chat(
    proxy: Proxy, request: Request, log: RequestLog, family: str, kind: Kind
) -> tuple[Session, dict[str, Any], bytes, str | None, httpx.Response | Response]:
    """Anonymize a chat/complete request under its conversation's map and forward it.

    Returns the session, the body sent (parsed and as bytes), the conversation key, and the upstream response
    (or, when the upstream answered with an error, the restored error reply to send back)."""
    body = await proxy.read_body(request)
    obj = _parse(body)
    conv_id = _text_field(obj, "conversationId")
    key = conversation_key(family, _space(request), conv_id) if conv_id else None
    if key:
        log.fields["conversation"] = short_hash(key)
    session, wire = await proxy.anonymize(log, obj, kind, key, len(body))
    sent = orjson.dumps(wire)
    response = await proxy.open(log, request, sent, rewritten=True)
    if not response.is_success:
        return session, wire, sent, key, await proxy.error_reply(response, session)
    return session, wire, sent, key, response


# ------------------------------------------------------------------------------------------ chat/complete


async def security_chat(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """``POST /api/security_ai_assistant/chat/complete``: JSON answer or NDJSON stream, restored."""
    session, wire, sent, key, response = await _forward_chat(
        proxy, request, log, "security", Kind.SECURITY_CHAT_COMPLETE
    )
    if isinstance(response, Response):
        return response
    if _mimetype(response) == "application/json":

        async def restore(answer: Any) -> Any:
            revealed = _text_field(answer, "conversationId")
            if key is None and revealed and _persist(wire):
                await proxy.remember(log.user, conversation_key("security", _space(request), revealed), session)
            shown = await proxy.cpu(len(sent) > 256 * 1024, _used, session, sent)
            return restore_answer(session, answer, Kind.SECURITY_CHAT_COMPLETE_RESPONSE, shown=shown)

        return await proxy.json_reply(response, session, restore)
    restorer = restorer_for(session.restorer, "security.ndjson")
    return proxy.stream_reply(log, response, restorer, _chunks(response), fmt="security.ndjson")


async def observability_chat(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """``POST /api/observability_ai_assistant/chat/complete`` (and the UI's ``/internal/…/chat/complete``): NDJSON
    or OpenAI SSE stream restored, or the internal route's JSON answer (``isStream: false``) restored."""
    session, wire, _, key, response = await _forward_chat(
        proxy, request, log, "observability", Kind.OBSERVABILITY_CHAT_COMPLETE
    )
    if isinstance(response, Response):
        return response
    mimetype = _mimetype(response)
    if mimetype == "application/json":  # the internal route's non-stream answer
        return await proxy.json_reply(response, session, session.deanonymize_obj)
    chunks = _chunks(response)
    if mimetype == "text/event-stream":
        fmt = "openai.sse"
    else:
        head, chunks = await _sniff(chunks)
        fmt = "observability.ndjson" if head.lstrip()[:1] in (b"{", b"") else "openai.sse"
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
            await proxy.remember(log.user, conversation_key("observability", _space(request), new_id), session)

    watch = key is None and _persist(wire) and fmt == "observability.ndjson"
    restorer = restorer_for(session.restorer, fmt)
    return proxy.stream_reply(
        log, response, restorer, chunks, fmt=fmt, on_line=on_line if watch else None, on_end=on_end if watch else None
    )


# ------------------------------------------------------------------------------------------ conversations


async def conversation_create(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """``POST …/current_user/conversations``: the map is stored under the id the proxy chooses (or Kibana's)."""
    body = await proxy.read_body(request)
    obj = _parse(body)
    conv_id = _text_field(obj, "id")
    if isinstance(obj, dict) and conv_id is None and "id" not in obj:
        # Kibana takes a given id as the document id: choosing it here lets the map be stored before
        # the request leaves, under the id the conversation will have.
        conv_id = str(uuid.uuid4())
        obj = {**obj, "id": conv_id}
    key = conversation_key("security", _space(request), conv_id) if conv_id else None
    if key:
        log.fields["conversation"] = short_hash(key)
    session, wire = await proxy.anonymize(log, obj, Kind.CONVERSATION_CREATE, key, len(body))
    wire.pop("replacements", None)  # the proxy keeps the map; its originals never go upstream
    response = await proxy.open(log, request, orjson.dumps(wire), rewritten=True)
    if not response.is_success:
        return await proxy.error_reply(response, session)

    async def restore(answer: Any) -> Any:
        returned = _text_field(answer, "id")
        if returned and returned != conv_id:
            await proxy.remember(log.user, conversation_key("security", _space(request), returned), session)
        return restore_answer(session, answer, Kind.CONVERSATION)

    return await proxy.json_reply(response, session, restore)


async def conversation_update(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """``PUT …/current_user/conversations/{id}``: anonymized under the conversation's map, answer restored."""
    key = _security_conversation(request, log)
    body = await proxy.read_body(request)
    session, wire = await proxy.anonymize(log, _parse(body), Kind.CONVERSATION_UPDATE, key, len(body))
    wire.pop("replacements", None)  # Kibana would overwrite its own map with it (and see originals)
    response = await proxy.open(log, request, orjson.dumps(wire), rewritten=True)
    if not response.is_success:
        return await proxy.error_reply(response, session)
    return await proxy.json_reply(response, session, lambda a: restore_answer(session, a, Kind.CONVERSATION))


async def conversation_read(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """``GET …/current_user/conversations/{id}``: restored with the conversation's map."""
    key = _security_conversation(request, log)
    session, _ = await proxy.session_for(log.user, key)
    log.fields["tokens"] = len(session)
    response = await proxy.open(log, request, None, rewritten=True)
    if not response.is_success:
        return await proxy.error_reply(response, session)
    return await proxy.json_reply(response, session, lambda a: restore_answer(session, a, Kind.CONVERSATION))


async def conversation_delete(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """``DELETE …/current_user/conversations/{id}``: forwarded; on success the map is deleted too."""
    key = _security_conversation(request, log)
    response = await proxy.open(log, request, await proxy.read_body(request) or None, rewritten=False)
    body = await proxy.read(response)
    if response.is_success:
        await proxy.forget(log.user, key)
    reply = Response(body, status_code=response.status_code)
    reply.raw_headers = response_headers(response, rewritten=False)
    return reply


async def conversation_find(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """``GET …/current_user/conversations/_find``: each conversation restored with its own map."""
    response = await proxy.open(log, request, None, rewritten=True)
    if not response.is_success:
        return await proxy.error_reply(response, proxy.engine.session())

    async def restore(page: Any) -> Any:
        items = page.get("data") if isinstance(page, dict) else None
        if not isinstance(items, list):
            return page
        ids = [_text_field(item, "id") for item in items]
        keys = [conversation_key("security", _space(request), i) if i else None for i in ids]
        sessions = await asyncio.gather(*(_session_or_empty(proxy, log.user, k) for k in keys))
        log.fields.update(conversations=len(items), tokens=sum(len(s) for s in sessions))
        data = [
            restore_answer(s, item, Kind.CONVERSATION) if isinstance(item, dict) else item
            for item, s in zip(items, sessions, strict=True)
        ]
        return {**page, "data": data}

    return await proxy.json_reply(response, None, restore)


async def _session_or_empty(proxy: Proxy, user: str, key: str | None) -> Session:
    if key is None:
        return proxy.engine.session()
    session, _ = await proxy.session_for(user, key)
    return session


# ----------------------------------------------------------------------------------------- everything else


async def passthrough(proxy: Proxy, request: Request, log: RequestLog) -> Response:
    """Any other route: method, path, query, headers and body forwarded untouched, both ways, streaming."""
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    response = await proxy.open(log, request, request.stream() if has_body else None, rewritten=False)

    async def body() -> AsyncIterator[bytes]:
        outcome = "disconnected"
        try:
            async for chunk in response.aiter_raw():
                yield chunk
            outcome = "complete"
        except httpx.HTTPError as exc:
            outcome = "cut"
            proxy.metrics.upstream_error("cut")
            logger.warning("upstream_stream_cut", extra={"route": log.route, "reason": type(exc).__name__})
        finally:
            await response.aclose()
            log.emit(response.status_code, stream=outcome)

    reply = StreamingResponse(body(), status_code=response.status_code)
    reply.raw_headers = response_headers(response, rewritten=False)
    return reply


async def live(proxy: Proxy, request: Request) -> Response:
    """Liveness: 200 while the process serves requests (nothing else is checked)."""
    return Response(b'{"status":"ok"}', media_type="application/json")


async def ready(proxy: Proxy, request: Request) -> Response:
    """Readiness: 200 when the store answers and the upstream can be reached, else 503 naming which failed."""
    status = await proxy.readiness()
    code = 200 if status["status"] == "ok" else 503
    return Response(orjson.dumps(status), code, media_type="application/json")


async def metrics(proxy: Proxy, request: Request) -> Response:
    """The Prometheus metrics of this app."""
    return Response(proxy.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
