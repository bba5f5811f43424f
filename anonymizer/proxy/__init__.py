"""A reference anonymizing proxy for Kibana's AI Assistant APIs (extra ``proxy``: Starlette, httpx, uvicorn, redis,
prometheus-client).

>>> from anonymizer.proxy import create_app, SQLiteStore  # doctest: +SKIP
>>> app = create_app("http://127.0.0.1:5601", store=SQLiteStore("replacements.db"))  # doctest: +SKIP

Requests to the security and observability chat/complete routes and to the security conversation routes are
anonymized before they leave, and their answers (JSON or streamed) restored before they return; every other
route is forwarded untouched. Each conversation's replacements are kept in a :class:`ReplacementStore` keyed by
the caller's identity (a hash of the credential; requests without one are refused unless ``allow_anonymous``)
and the conversation, so one user's tokens are never restored for another. Compiled sessions are kept between
requests and checked against the store's version of the map. The app also serves :data:`LIVE_PATH`,
:data:`READY_PATH` and :data:`METRICS_PATH`. Run it with ``python -m anonymizer.proxy --upstream URL`` (or
``anonymizer serve``).
"""

from __future__ import annotations

from anonymizer.proxy._app import (
    DEFAULT_SESSION_CACHE_SIZE,
    DEFAULT_SESSION_CACHE_TOKENS,
    DEFAULT_STORE_PATH,
    HEALTH_PATH,
    LIVE_PATH,
    METRICS_PATH,
    READY_PATH,
    create_app,
)
from anonymizer.proxy._identity import conversation_key, user_identity
from anonymizer.proxy._logging import JsonFormatter, configure_logging
from anonymizer.proxy._store import (
    MemoryStore,
    RedisStore,
    ReplacementConflictError,
    ReplacementStore,
    SQLiteStore,
    StoreError,
    store_from_url,
)
from anonymizer.proxy._upstream import DEFAULT_TIMEOUT

__all__ = [
    "DEFAULT_SESSION_CACHE_SIZE",
    "DEFAULT_SESSION_CACHE_TOKENS",
    "DEFAULT_STORE_PATH",
    "DEFAULT_TIMEOUT",
    "HEALTH_PATH",
    "JsonFormatter",
    "LIVE_PATH",
    "METRICS_PATH",
    "MemoryStore",
    "READY_PATH",
    "RedisStore",
    "ReplacementConflictError",
    "ReplacementStore",
    "SQLiteStore",
    "StoreError",
    "configure_logging",
    "conversation_key",
    "create_app",
    "store_from_url",
    "user_identity",
]
