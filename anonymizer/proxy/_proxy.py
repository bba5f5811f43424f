"""The state of one proxy app and the steps its handlers share.

Each rewritten request goes through the same steps: read and parse the body, get the conversation's session
(from the compiled-session cache while the store still has the version it was built from, else built from the
stored map), anonymize the payload with it, merge the new bindings into the store with compare-and-set (before
anything is sent, so an upstream failure loses nothing; a lost race reloads the map and anonymizes again, so one
original never gets two tokens), forward, then restore the response or stream with that session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from anonymizer.engine import Anonymizer, Session
from anonymizer.errors import ConfigError, PayloadError
from anonymizer.payloads import Kind, anonymize_payload
from anonymizer.proxy._identity import ANONYMOUS, short_hash, user_identity
from anonymizer.proxy._logging import logger
from anonymizer.proxy._metrics import Metrics
from anonymizer.proxy._sessions import KeyedLocks, SessionCache
from anonymizer.proxy._store import ReplacementConflictError, ReplacementStore, StoreError
from anonymizer.proxy._upstream import UpstreamFailure, request_headers, response_headers, upstream_url
from anonymizer.stream import StreamRestorer, error_event

__all__ = ["Failure", "Proxy", "RequestLog"]

T = TypeVar("T")

_MERGE_ATTEMPTS = 12  # another replica changed the conversation's map meanwhile: reload, anonymize again
_OFFLOAD_BYTES = 256 * 1024  # bodies larger than this are anonymized (and restored) on a worker thread
_OFFLOAD_TOKENS = 2000  # sessions built from larger stored maps are built on a worker thread
_READY_TIMEOUT = 2.0  # seconds the readiness check waits for the upstream


class Failure(Exception):
    """A request that ends here with a Kibana-shaped error (no upstream call, or a failed one)."""

    def __init__(self, status: int, message: str, body: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


@dataclass(slots=True)
class RequestLog:
    """What one request logs and counts: route, status, timings and counts only."""

    route: str
    method: str
    user: str
    metrics: Metrics
    started: float = field(default_factory=time.perf_counter)
    fields: dict[str, Any] = field(default_factory=dict)

    def emit(self, status: int, **more: Any) -> None:
        """Log the request's ``request`` record and count it."""
        self.fields.update(more)
        seconds = time.perf_counter() - self.started
        self.metrics.request(self.route, self.method, status, seconds)
        extra = {"route": self.route, "method": self.method, "status": status, "latency_ms": round(seconds * 1000, 3)}
        extra["user"] = short_hash(self.user)
        extra.update(self.fields)
        troubled = status >= 500 or self.fields.get("stream", "complete") != "complete"
        logger.log(logging.WARNING if troubled else logging.INFO, "request", extra=extra)


class Proxy:
    """The state of one app: configuration, the store, compiled sessions and (once started) the HTTP client."""

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
        session_cache: SessionCache,
        allow_anonymous: bool,
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
        self.allow_anonymous = allow_anonymous
        self.offload_all = bool(engine.detectors)
        self.sessions = session_cache
        self.locks = KeyedLocks()
        self.metrics = Metrics()
        self.client: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport, timeout=self.timeout, follow_redirects=False, trust_env=False
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        """Check the store, open the client; close both at shutdown, on the loop that used them (a store the
        app owns is closed even when the startup check fails)."""
        try:
            await self.store.ping()
            self.client = self._new_client()
            logger.info("started", extra={"upstream": self.public_url, "store": type(self.store).__name__})
            yield
        finally:
            client, self.client = self.client, None
            if client is not None:
                await client.aclose()
            if self.own_store:
                await self.store.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:  # served without lifespan (e.g. httpx.ASGITransport): open it on first use
            self.client = self._new_client()
        return self.client

    @property
    def public_url(self) -> str:
        """The upstream without credentials, for logs and the readiness endpoint."""
        port = f":{self.base.port}" if self.base.port else ""
        return f"{self.base.scheme}://{self.base.host}{port}"

    async def readiness(self) -> dict[str, str]:
        """Whether the store answers and the upstream can be reached (any HTTP answer counts)."""
        status = {"status": "ok", "store": "ok", "upstream": "ok", "upstream_url": self.public_url}
        try:
            await self.store.ping()
        except StoreError:
            self.metrics.store_error("ping")
            status.update(status="unavailable", store="unavailable")
        url = upstream_url(self.base, b"/api/status", b"")
        try:
            response = await self._client().get(url, timeout=_READY_TIMEOUT)
            await response.aclose()
        except httpx.HTTPError:
            status.update(status="unavailable", upstream="unreachable")
        return status

    # ------------------------------------------------------------------------------------------- plumbing

    def user(self, request: Request) -> str | None:
        """The caller's identity; ``None`` for a request without credential unless anonymous callers are allowed."""
        user = user_identity(request.headers, key=self.identity_key)
        return None if user == ANONYMOUS and not self.allow_anonymous else user

    async def read_body(self, request: Request) -> bytes:
        """The request body, refused with 413 past ``max_body_bytes``."""
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > self.max_body_bytes:
            raise Failure(413, f"The request body is larger than {self.max_body_bytes} bytes")
        parts: list[bytes] = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > self.max_body_bytes:
                raise Failure(413, f"The request body is larger than {self.max_body_bytes} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def cpu(self, heavy: bool, fn: Callable[..., T], *args: Any) -> T:
        """Engine work: inline when light, on a worker thread when heavy (or when detectors run)."""
        if heavy or self.offload_all:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def _store(self, operation: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except StoreError as exc:
            self.metrics.store_error(operation)
            raise Failure(503, f"The replacement store is unavailable ({exc.__class__.__name__})") from None

    # ------------------------------------------------------------------------------------------- sessions

    async def session_for(self, user: str, key: str) -> tuple[Session, str | None]:
        """The conversation's session and the version of the map it holds: the cached one while the store still
        has that version, else one built from the stored map (on a worker thread when the map is large)."""
        slot = (user, key)
        version = await self._store("version", self.store.version(user, key))
        session = self.sessions.get(slot, version)
        self.metrics.session_cache(session is not None)
        if session is not None:
            return session, version
        mapping, version = await self._store("load", self.store.snapshot(user, key))
        session = await self.cpu(len(mapping) > _OFFLOAD_TOKENS, self.engine.session, mapping)
        if version is not None or not mapping:  # a map without version (written by an old proxy): not cached
            self.sessions.put(slot, version, session)
        return session, version

    async def _anonymize_with(self, session: Session, obj: Any, kind: Kind, size: int) -> dict[str, Any]:
        try:
            return await self.cpu(size > _OFFLOAD_BYTES, anonymize_payload, session, obj, kind)
        except PayloadError as err:
            raise Failure(400, "", err.to_kibana_error()) from None

    async def anonymize(
        self, log: RequestLog, obj: Any, kind: Kind, key: str | None, size: int
    ) -> tuple[Session, dict[str, Any]]:
        """Anonymize ``obj`` in the conversation ``key`` (a new session without one) and store the new bindings.

        The requests of one conversation take turns here within this process; a merge that finds the stored map
        changed by another replica reloads it and anonymizes again, so an original keeps one token.
        """
        if key is None:
            session = self.engine.session()
            wire = await self._anonymize_with(session, obj, kind, size)
            log.fields.update(tokens=len(session), new_tokens=len(session))
            self.metrics.tokens(minted=len(session))
            return session, wire
        slot = (log.user, key)
        async with self.locks.hold(slot):
            for attempt in range(_MERGE_ATTEMPTS):
                session, version = await self.session_for(log.user, key)
                before = len(session)
                try:
                    wire = await self._anonymize_with(session, obj, kind, size)
                finally:
                    if len(session) != before:  # bindings the store does not have yet: not cached until merged
                        self.sessions.drop(slot)
                added = len(session) - before
                log.fields.update(tokens=len(session), new_tokens=added)
                if not added:
                    self.sessions.put(slot, version, session)
                    return session, wire
                fresh = dict(list(session.replacements.items())[before:])
                try:
                    merged = await self._store("merge", self.store.merge_if(log.user, key, fresh, version))
                except ReplacementConflictError:
                    merged = None
                if merged is not None:
                    self.sessions.put(slot, merged, session)
                    self.metrics.tokens(minted=added)
                    return session, wire
                self.metrics.merge_retry()
                logger.info("merge_retry", extra={"conversation": short_hash(key), "attempt": attempt + 1})
                await asyncio.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))
        raise Failure(503, "The conversation's replacements kept changing concurrently; retry the request")

    async def remember(self, user: str, key: str, session: Session) -> None:
        """Store a session's map under a conversation the upstream just revealed; failures are only logged."""
        try:
            await self.store.merge(user, key, session.replacements)
        except (StoreError, ReplacementConflictError) as exc:
            self.metrics.store_error("merge")
            logger.error("map_not_stored", extra={"conversation": short_hash(key), "reason": type(exc).__name__})

    async def forget(self, user: str, key: str) -> None:
        """Delete a conversation's map (its upstream conversation is gone); failures are only logged."""
        self.sessions.drop((user, key))
        try:
            await self.store.delete(user, key)
        except StoreError as exc:
            self.metrics.store_error("delete")
            logger.error("map_not_deleted", extra={"conversation": short_hash(key), "reason": type(exc).__name__})

    # ------------------------------------------------------------------------------------------- upstream

    async def open(self, log: RequestLog, request: Request, content: Any, *, rewritten: bool) -> httpx.Response:
        """Send the request upstream and return the response with its body not yet read."""
        client = self._client()
        url = upstream_url(
            self.base, request.scope.get("raw_path") or request.url.path.encode(), request.scope["query_string"]
        )
        headers = request_headers(list(request.headers.raw), rewritten=rewritten)
        upstream = client.build_request(request.method, url, headers=headers, content=content)
        sent = time.perf_counter()
        try:
            response = await client.send(upstream, stream=True)
        except httpx.TimeoutException:
            self.metrics.upstream_error("timeout")
            raise UpstreamFailure(504, "The upstream Kibana did not answer in time") from None
        except httpx.HTTPError as exc:
            self.metrics.upstream_error("unreachable")
            raise UpstreamFailure(502, f"The upstream Kibana could not be reached ({type(exc).__name__})") from None
        self.metrics.upstream_response(log.route, time.perf_counter() - sent)
        log.fields["upstream_status"] = response.status_code
        return response

    async def read(self, response: httpx.Response) -> bytes:
        """The whole body of an upstream response (a failure mid-way is a 502/504)."""
        try:
            return await response.aread()
        except httpx.TimeoutException:
            self.metrics.upstream_error("timeout")
            raise UpstreamFailure(504, "The upstream Kibana did not finish its answer in time") from None
        except httpx.HTTPError as exc:
            self.metrics.upstream_error("cut")
            raise UpstreamFailure(502, f"The upstream Kibana's answer was cut ({type(exc).__name__})") from None
        finally:
            await response.aclose()

    async def json_reply(
        self,
        response: httpx.Response,
        session: Session | None,
        restore: Callable[[Any], Awaitable[Any] | Any],
    ) -> Response:
        """Read a JSON (or error) answer, restore it with ``restore`` and send it on.

        ``session``, when given, counts the tokens of the answer for the metrics.
        """
        body = await self.read(response)
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
            if session is not None and len(session):
                report = (await self.cpu(len(body) > _OFFLOAD_BYTES, session.restore, body.decode())).report
                self.metrics.tokens(restored=report.restored, altered=report.altered, unknown=report.unknown)
        reply = Response(out, status_code=response.status_code)
        reply.raw_headers = [
            *response_headers(response, rewritten=True),
            (b"content-length", str(len(out)).encode()),
        ]
        return reply

    async def error_reply(self, response: httpx.Response, session: Session) -> Response:
        """A non-2xx answer: passed on with every token of the conversation restored."""
        return await self.json_reply(response, session, session.deanonymize_obj)

    def stream_reply(
        self,
        log: RequestLog,
        response: httpx.Response,
        restorer: StreamRestorer,
        chunks: AsyncIterator[bytes],
        *,
        fmt: str,
        on_line: Callable[[bytes], None] | None = None,
        on_end: Callable[[], Awaitable[None]] | None = None,
    ) -> StreamingResponse:
        """Restore a streamed answer chunk by chunk; a cut upstream stream ends the client's after a flush."""
        log.fields["format"] = fmt

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
                    self.metrics.upstream_error("cut")
                    logger.warning("upstream_stream_cut", extra={"route": log.route, "reason": type(exc).__name__})
                    tail = restorer.close()
                    yield tail + error_event(fmt, tail, "The upstream stream was cut")
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
                self.metrics.tokens(restored=report.restored, altered=report.altered, unknown=report.unknown)
                log.emit(response.status_code, stream=outcome, restored=report.restored, unknown=report.unknown)

        reply = StreamingResponse(body(), status_code=response.status_code)
        reply.raw_headers = response_headers(response, rewritten=True)
        return reply


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
