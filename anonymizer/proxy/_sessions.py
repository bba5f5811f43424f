"""Compiled sessions kept between requests, and one lock per conversation.

Building a :class:`~anonymizer.engine.Session` from a stored map costs time in proportion to the map; a chat
conversation sends a request per turn. :class:`SessionCache` keeps the sessions of recent conversations, keyed by
``(user, conversation)`` and tagged with the store's version of the map they were built from: a request reuses a
session only while the store still has that version (one cheap read), so several replicas sharing a store stay
correct. :class:`KeyedLocks` serializes the anonymize-and-merge step of the requests of one conversation within
this process, so that they never mint two tokens for one original.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass

from anonymizer.engine import Session
from anonymizer.errors import ConfigError

__all__ = ["KeyedLocks", "SessionCache"]

Key = tuple[str, str]  # (user, conversation)


@dataclass(slots=True)
class _Entry:
    version: str | None
    session: Session
    tokens: int


class SessionCache:
    """At most ``size`` sessions holding at most ``max_tokens`` tokens in all, least recently used evicted first
    (``size`` 0 keeps none; a session larger than ``max_tokens`` is not kept).

    A session takes about 400 bytes per token of its map. Not thread-safe: used from the event loop only.
    """

    __slots__ = ("_entries", "_tokens", "hits", "max_tokens", "misses", "size")

    def __init__(self, size: int, max_tokens: int = 1_000_000) -> None:
        if size < 0:
            raise ConfigError("the session cache size cannot be negative", path="session_cache_size")
        self.size = size
        self.max_tokens = max_tokens
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._tokens = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Key, version: str | None) -> Session | None:
        """The session cached for ``key`` if it was built from ``version`` of the map, else ``None``."""
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.session

    def put(self, key: Key, version: str | None, session: Session) -> None:
        """Remember ``session`` as the state of ``version`` of the map."""
        self.drop(key)
        tokens = len(session)
        if self.size == 0 or tokens > self.max_tokens:
            return
        self._entries[key] = _Entry(version, session, tokens)
        self._tokens += tokens
        while len(self._entries) > self.size or self._tokens > self.max_tokens:
            _, evicted = self._entries.popitem(last=False)
            self._tokens -= evicted.tokens

    def drop(self, key: Key) -> None:
        """Forget ``key`` (its session holds bindings the store may not have, or the map was deleted)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._tokens -= entry.tokens

    def __len__(self) -> int:
        return len(self._entries)


class KeyedLocks:
    """One :class:`asyncio.Lock` per key, alive only while someone holds or waits for it."""

    __slots__ = ("_locks",)

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the duration of the ``async with`` block."""
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
