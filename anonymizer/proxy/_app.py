"""The ASGI application: the route table, and what every rewritten route does around its handler.

The handlers are in :mod:`anonymizer.proxy._handlers`, the state and the steps they share in
:mod:`anonymizer.proxy._proxy`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from anonymizer.engine import Anonymizer
from anonymizer.payloads import MAX_JSON_BYTES
from anonymizer.proxy import _handlers as handlers
from anonymizer.proxy._identity import ANONYMOUS
from anonymizer.proxy._metrics import METRICS_PATH
from anonymizer.proxy._proxy import Failure, Proxy, RequestLog
from anonymizer.proxy._sessions import SessionCache
from anonymizer.proxy._store import ReplacementStore, SQLiteStore
from anonymizer.proxy._upstream import DEFAULT_TIMEOUT, UpstreamFailure, kibana_error

__all__ = [
    "DEFAULT_SESSION_CACHE_SIZE",
    "DEFAULT_SESSION_CACHE_TOKENS",
    "DEFAULT_STORE_PATH",
    "HEALTH_PATH",
    "LIVE_PATH",
    "METRICS_PATH",
    "READY_PATH",
    "create_app",
]

#: Where :func:`create_app` keeps maps when no store is given (relative to the working directory).
DEFAULT_STORE_PATH = "anonymizer-replacements.db"
#: Compiled sessions kept in memory (the most recently used conversations).
DEFAULT_SESSION_CACHE_SIZE = 256
#: Tokens the kept sessions may hold in all (a session takes about 400 bytes per token: ~400 MB).
DEFAULT_SESSION_CACHE_TOKENS = 1_000_000
#: Liveness: 200 while the process serves (never forwarded).
LIVE_PATH = "/_anonymizer/live"
#: Readiness: 200 when the store and the upstream answer, else 503 (never forwarded).
READY_PATH = "/_anonymizer/ready"
#: The readiness check under its former name.
HEALTH_PATH = "/_anonymizer/health"

_SECURITY = "/api/security_ai_assistant"
_CONVERSATIONS = _SECURITY + "/current_user/conversations"
_OBSERVABILITY = "/api/observability_ai_assistant"
_OBSERVABILITY_UI = "/internal/observability_ai_assistant"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_NO_CREDENTIAL = (
    "The anonymizing proxy keeps each user's replacements apart and needs a credential (an Authorization header "
    "or Kibana's session cookie) to know whose they are"
)

Handler = Callable[[Proxy, Request, RequestLog], Awaitable[Response]]

_REWRITTEN: list[tuple[str, str, list[str], Handler]] = [
    ("security.chat_complete", _SECURITY + "/chat/complete", ["POST"], handlers.security_chat),
    ("conversation.find", _CONVERSATIONS + "/_find", ["GET"], handlers.conversation_find),
    ("conversation.create", _CONVERSATIONS, ["POST"], handlers.conversation_create),
    ("conversation.update", _CONVERSATIONS + "/{id}", ["PUT"], handlers.conversation_update),
    ("conversation.read", _CONVERSATIONS + "/{id}", ["GET"], handlers.conversation_read),
    ("conversation.delete", _CONVERSATIONS + "/{id}", ["DELETE"], handlers.conversation_delete),
    ("observability.chat_complete", _OBSERVABILITY + "/chat/complete", ["POST"], handlers.observability_chat),
    # the same body (with the UI's screen contexts) on the route Kibana's own Observability UI calls
    (
        "observability.internal_chat_complete",
        _OBSERVABILITY_UI + "/chat/complete",
        ["POST"],
        handlers.observability_chat,
    ),
]


def _endpoint(proxy: Proxy, name: str, handler: Handler, *, needs_user: bool) -> Callable[[Request], Any]:
    """The Starlette endpoint of a route: identity, the handler, then one log record and Kibana-shaped errors."""

    async def run(request: Request) -> Response:
        user = proxy.user(request)
        log = RequestLog(name, request.method, user or ANONYMOUS, proxy.metrics)
        try:
            if user is None and needs_user:
                raise Failure(401, _NO_CREDENTIAL)
            response = await handler(proxy, request, log)
        except Failure as failure:
            log.emit(failure.status, error="invalid_request" if failure.status < 500 else "proxy")
            if failure.body is not None:
                return Response(orjson.dumps(failure.body), failure.status, media_type="application/json")
            return kibana_error(failure.status, failure.message)
        except UpstreamFailure as failure:
            log.emit(failure.status, error="upstream")
            return kibana_error(failure.status, failure.message)
        if not isinstance(response, StreamingResponse):  # streams log when they end
            log.emit(response.status_code)
        return response

    return run


def _own(proxy: Proxy, handler: Callable[[Proxy, Request], Awaitable[Response]]) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        return await handler(proxy, request)

    return run


def _routes(proxy: Proxy) -> list[Route]:
    routes = [
        Route(LIVE_PATH, _own(proxy, handlers.live), methods=["GET"], name="live"),
        Route(READY_PATH, _own(proxy, handlers.ready), methods=["GET"], name="ready"),
        Route(HEALTH_PATH, _own(proxy, handlers.ready), methods=["GET"], name="health"),
        Route(METRICS_PATH, _own(proxy, handlers.metrics), methods=["GET"], name="metrics"),
    ]
    for name, path, methods, handler in _REWRITTEN:
        run = _endpoint(proxy, name, handler, needs_user=True)
        routes.append(Route(path, run, methods=methods, name=name))
        routes.append(Route("/s/{space_id}" + path, run, methods=methods, name="space." + name))
    forward = _endpoint(proxy, "passthrough", handlers.passthrough, needs_user=False)
    routes.append(Route("/{path:path}", forward, methods=_METHODS, name="passthrough"))
    return routes


def create_app(
    upstream: str,
    *,
    engine: Anonymizer | None = None,
    store: ReplacementStore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    identity_key: bytes | None = None,
    max_body_bytes: int = MAX_JSON_BYTES,
    session_cache_size: int = DEFAULT_SESSION_CACHE_SIZE,
    session_cache_tokens: int = DEFAULT_SESSION_CACHE_TOKENS,
    allow_anonymous: bool = False,
    close_store: bool | None = None,
) -> Starlette:
    """An ASGI app that sits in front of Kibana at ``upstream`` and anonymizes its AI Assistant traffic.

    * ``engine``: the :class:`~anonymizer.Anonymizer` (default: Kibana's default policy, uuid tokens). Give it
      detectors to hide what no policy names in free text, e.g.
      ``Anonymizer(detectors=[anonymizer.detect.presidio()])``; detection then runs on worker threads.
    * ``store``: where each conversation's map is kept (default: :class:`SQLiteStore` on
      :data:`DEFAULT_STORE_PATH`, opened and closed with the app). ``close_store``: whether the app closes the
      store at shutdown, on its own event loop (default: only the store it opened; pass ``True`` to hand it a
      store built for it, e.g. by :func:`store_from_url` — a Redis client cannot be closed once its loop is).
    * ``transport``: an ``httpx`` transport for the upstream calls (tests: ``httpx.MockTransport``).
    * ``timeout``: the upstream timeouts (:data:`DEFAULT_TIMEOUT`).
    * ``identity_key``: a secret that turns the user identity into an HMAC of the credential.
    * ``max_body_bytes``: larger request bodies get a 413 on the rewritten routes.
    * ``session_cache_size``: how many conversations keep their compiled session in memory between requests
      (checked against the store's version of the map on every request; 0 rebuilds every time), and
      ``session_cache_tokens`` how many tokens their maps may hold in all (least recently used evicted first).
    * ``allow_anonymous``: requests without a credential are refused (401) on the rewritten routes unless this
      is true; then they all share one ``anonymous`` identity, and so each other's conversations' maps.

    Besides Kibana's routes the app serves :data:`LIVE_PATH`, :data:`READY_PATH` and :data:`METRICS_PATH`.

    >>> app = create_app("http://127.0.0.1:5601", store=MemoryStore())  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    proxy = Proxy(
        upstream,
        engine if engine is not None else Anonymizer(),
        store if store is not None else SQLiteStore(DEFAULT_STORE_PATH),
        own_store=store is None if close_store is None else close_store,
        transport=transport,
        timeout=timeout,
        identity_key=identity_key,
        max_body_bytes=max_body_bytes,
        session_cache=SessionCache(session_cache_size, session_cache_tokens),
        allow_anonymous=allow_anonymous,
    )
    app = Starlette(routes=_routes(proxy), lifespan=proxy.lifespan)
    app.state.proxy = proxy
    return app
