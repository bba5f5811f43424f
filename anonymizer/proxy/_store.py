"""Replacement stores: where the proxy keeps each conversation's map (token -> original) between requests.

A store is keyed by ``(user, conversation)``: ``user`` is an opaque identity derived from the caller's credential
(never the credential itself, see :func:`anonymizer.proxy.user_identity`), ``conversation`` a conversation key.
Maps only grow: :meth:`ReplacementStore.merge` adds bindings atomically and refuses to rebind a token to another
original. Each map carries a *version*, a random stamp that changes whenever the map does (and never comes back
after a delete), so that a proxy can keep compiled sessions in memory and check them with one cheap call, and so
that concurrent requests of one conversation can merge with compare-and-set (:meth:`ReplacementStore.merge_if`).
The maps hold the originals: they are the sensitive artifact of the whole system, protect the SQLite file (mode
0600, created so) or the Redis instance accordingly.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from anonymizer.errors import ConfigError, ReplacementsError, StoreError

__all__ = [
    "MemoryStore",
    "RedisStore",
    "ReplacementConflictError",
    "ReplacementStore",
    "SQLiteStore",
    "StoreError",
    "store_from_url",
]

T = TypeVar("T")

_SQL_CHUNK = 500  # tokens per "IN (...)" query, well under SQLite's variable limit
_REDIS_PREFIX = "anonymizer:replacements:"
_WATCH_ATTEMPTS = 64
_RECONNECT_ATTEMPTS = 3  # a Redis command that fails on a stale connection is retried on a fresh one
# The version of a map is kept beside its tokens under the empty token, which no map can hold (tokens are
# non-empty strings): one row (SQLite) or field (Redis) that is read, watched and deleted with the map.
_VERSION = ""


class ReplacementConflictError(ReplacementsError):
    """A merge tried to bind a token that the store already binds to another original. Nothing was written.

    ``tokens`` lists the conflicting tokens (tokens are what the model sees; the originals are never named).
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: tuple[str, ...] = tuple(tokens)
        shown = ", ".join(self.tokens[:3]) + (", ..." if len(self.tokens) > 3 else "")
        super().__init__(f"{len(self.tokens)} token(s) already bound to another original: {shown}")


@runtime_checkable
class ReplacementStore(Protocol):
    """What the proxy needs of a store. Every method is a coroutine; implementations must be task-safe.

    A version is an opaque string that changes whenever the conversation's map changes, ``None`` when there is
    no map. Example, a store that keeps nothing (every request starts a fresh map)::

        class Forgetful:
            async def load(self, user, conversation): return {}
            async def snapshot(self, user, conversation): return {}, None
            async def version(self, user, conversation): return None
            async def merge(self, user, conversation, mapping): return None
            async def merge_if(self, user, conversation, mapping, version): return None if version else "v"
            async def delete(self, user, conversation): pass
            async def ping(self): pass
            async def aclose(self): pass
    """

    async def load(self, user: str, conversation: str) -> dict[str, str]:
        """The stored map of a conversation, in the order tokens were bound (``{}`` when there is none)."""
        ...

    async def snapshot(self, user: str, conversation: str) -> tuple[dict[str, str], str | None]:
        """The stored map and its version, read together."""
        ...

    async def version(self, user: str, conversation: str) -> str | None:
        """The version of the stored map (``None`` when there is none): one cheap read."""
        ...

    async def merge(self, user: str, conversation: str, mapping: Mapping[str, str]) -> str | None:
        """Add ``mapping`` atomically: all of it or, on a conflict, nothing (:class:`ReplacementConflictError`).

        Returns the map's version after the merge (unchanged when every binding was already there).
        """
        ...

    async def merge_if(
        self, user: str, conversation: str, mapping: Mapping[str, str], version: str | None
    ) -> str | None:
        """:meth:`merge`, but only while the map is still at ``version``: the new version, or ``None`` (nothing
        written) when the map changed meanwhile. Concurrent requests of one conversation use it to never bind
        one original twice: the loser reloads the map and anonymizes again."""
        ...

    async def delete(self, user: str, conversation: str) -> None:
        """Forget a conversation's map."""
        ...

    async def ping(self) -> None:
        """Raise :class:`StoreError` when the store cannot be used."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...


def _check(mapping: Mapping[str, str]) -> list[tuple[str, str]]:
    items = list(mapping.items())
    for token, original in items:
        if not isinstance(token, str) or not token or not isinstance(original, str):
            raise ReplacementsError("a replacements map holds non-empty string tokens and string originals")
    return items


def _new_version() -> str:
    return uuid.uuid4().hex


class _Any:
    """The ``version`` of an unconditional merge."""


_ANY = _Any()


# ----------------------------------------------------------------------------------------------- memory


class MemoryStore:
    """A store in this process's memory: for tests, benchmarks and single-process setups that may forget."""

    def __init__(self) -> None:
        self._maps: dict[tuple[str, str], dict[str, str]] = {}
        self._versions: dict[tuple[str, str], str] = {}

    async def load(self, user: str, conversation: str) -> dict[str, str]:
        """See :meth:`ReplacementStore.load`."""
        return dict(self._maps.get((user, conversation), {}))

    async def snapshot(self, user: str, conversation: str) -> tuple[dict[str, str], str | None]:
        """See :meth:`ReplacementStore.snapshot`."""
        key = (user, conversation)
        return dict(self._maps.get(key, {})), self._versions.get(key)

    async def version(self, user: str, conversation: str) -> str | None:
        """See :meth:`ReplacementStore.version`."""
        return self._versions.get((user, conversation))

    async def merge(self, user: str, conversation: str, mapping: Mapping[str, str]) -> str | None:
        """See :meth:`ReplacementStore.merge`."""
        return self._merge(user, conversation, _check(mapping), _ANY)

    async def merge_if(
        self, user: str, conversation: str, mapping: Mapping[str, str], version: str | None
    ) -> str | None:
        """See :meth:`ReplacementStore.merge_if`."""
        return self._merge(user, conversation, _check(mapping), version)

    def _merge(self, user: str, conversation: str, items: list[tuple[str, str]], expected: object) -> str | None:
        # no await inside: atomic with respect to the event loop's other tasks
        key = (user, conversation)
        version = self._versions.get(key)
        if expected is not _ANY and expected != version:
            return None
        current = self._maps.get(key, {})
        conflicts = [t for t, o in items if current.get(t, o) != o]
        if conflicts:
            raise ReplacementConflictError(conflicts)
        new = [(t, o) for t, o in items if t not in current]
        if not new:
            return version
        self._maps.setdefault(key, current).update(new)
        version = self._versions[key] = _new_version()
        return version

    async def delete(self, user: str, conversation: str) -> None:
        """See :meth:`ReplacementStore.delete`."""
        self._maps.pop((user, conversation), None)
        self._versions.pop((user, conversation), None)

    async def ping(self) -> None:
        """Always usable."""

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"<MemoryStore: {len(self._maps)} conversations>"


# ----------------------------------------------------------------------------------------------- SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replacements (
    seq INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    conversation TEXT NOT NULL,
    token TEXT NOT NULL,
    original TEXT NOT NULL,
    UNIQUE (user, conversation, token)
)
"""
# Files written before maps had versions: give each of their conversations one (once, then user_version = 1).
_ADD_VERSIONS = """
INSERT OR IGNORE INTO replacements (user, conversation, token, original)
SELECT user, conversation, '', lower(hex(randomblob(16))) FROM replacements
GROUP BY user, conversation HAVING sum(token = '') = 0
"""
_SELECT_VERSION = "SELECT original FROM replacements WHERE user = ? AND conversation = ? AND token = ''"
_SET_VERSION = (
    "INSERT INTO replacements (user, conversation, token, original) VALUES (?, ?, '', ?) "
    "ON CONFLICT (user, conversation, token) DO UPDATE SET original = excluded.original"
)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock another connection holds (``SQLITE_BUSY`` / ``SQLITE_LOCKED``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class SQLiteStore:
    """Maps in a SQLite file (WAL): survives restarts; several proxy processes may share the file.

    Every SQLite call runs on one dedicated thread that owns the connection, never on the event loop. A merge
    is one ``BEGIN IMMEDIATE`` transaction: version and conflict checks, then ``INSERT OR IGNORE`` and a new
    version. The file is created with mode 0600; it holds every original the proxy has seen, so keep it on an
    encrypted, access-controlled disk.

    ``synchronous`` is SQLite's ``PRAGMA synchronous``: ``"NORMAL"`` (default) loses nothing when the process
    dies, ``"FULL"`` nothing on power loss either (an fsync per merge).
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000):
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError("synchronous must be OFF, NORMAL, FULL or EXTRA", path="synchronous")
        self._path = os.fspath(path)
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="anonymizer-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    # All of the following run on the store's thread.

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self._closed:
                raise StoreError("the store is closed")
            if self._path != ":memory:" and not os.path.exists(self._path):
                fd = os.open(self._path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            try:
                conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                self._initialize(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _initialize(self, conn: sqlite3.Connection) -> None:
        """WAL mode, the schema and its migration, retried while another process is doing the same.

        Two replicas opening a new file at once race for its first write; SQLite then answers ``SQLITE_BUSY``
        at once, without waiting ``busy_timeout`` (switching to WAL, or a read turning into a write), so the
        retry is here, bounded by the same timeout.
        """
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        for attempt in itertools.count():
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
                conn.execute("BEGIN IMMEDIATE")  # the write lock first: no read-then-write upgrade to lose
                try:
                    conn.execute(_SCHEMA)
                    if conn.execute("PRAGMA user_version").fetchone()[0] < 1:
                        conn.execute(_ADD_VERSIONS)
                        conn.execute("PRAGMA user_version = 1")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))

    def _snapshot(self, user: str, conversation: str) -> tuple[dict[str, str], str | None]:
        rows = self._connect().execute(
            "SELECT token, original FROM replacements WHERE user = ? AND conversation = ? ORDER BY seq",
            (user, conversation),
        )
        mapping = dict(rows.fetchall())  # one statement: a consistent read
        return mapping, mapping.pop(_VERSION, None)

    def _version(self, user: str, conversation: str) -> str | None:
        row = self._connect().execute(_SELECT_VERSION, (user, conversation)).fetchone()
        return None if row is None else str(row[0])

    def _merge(self, user: str, conversation: str, items: list[tuple[str, str]], expected: object) -> str | None:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._version(user, conversation)
            if expected is not _ANY and expected != version:
                conn.execute("ROLLBACK")
                return None
            conflicts: list[str] = []
            present = 0
            for start in range(0, len(items), _SQL_CHUNK):
                part = dict(items[start : start + _SQL_CHUNK])
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    "SELECT token, original FROM replacements WHERE user = ? AND conversation = ? "
                    f"AND token IN ({marks})",
                    (user, conversation, *part),
                ).fetchall()
                present += len(rows)
                conflicts.extend(token for token, original in rows if part[token] != original)
            if conflicts:
                raise ReplacementConflictError(conflicts)
            if present < len(dict(items)):
                conn.executemany(
                    "INSERT OR IGNORE INTO replacements (user, conversation, token, original) VALUES (?, ?, ?, ?)",
                    [(user, conversation, token, original) for token, original in items],
                )
                version = _new_version()
                conn.execute(_SET_VERSION, (user, conversation, version))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return version

    def _delete(self, user: str, conversation: str) -> None:
        self._connect().execute("DELETE FROM replacements WHERE user = ? AND conversation = ?", (user, conversation))

    def _ping(self) -> None:
        self._connect().execute("SELECT count(*) FROM replacements WHERE 0").fetchall()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self._path}: {type(exc).__name__}: {exc}") from None
        except RuntimeError as exc:  # the executor was shut down meanwhile
            raise StoreError(f"SQLite store {self._path}: {exc}") from None

    async def load(self, user: str, conversation: str) -> dict[str, str]:
        """See :meth:`ReplacementStore.load`."""
        mapping, _ = await self._run(self._snapshot, user, conversation)
        return mapping

    async def snapshot(self, user: str, conversation: str) -> tuple[dict[str, str], str | None]:
        """See :meth:`ReplacementStore.snapshot`."""
        return await self._run(self._snapshot, user, conversation)

    async def version(self, user: str, conversation: str) -> str | None:
        """See :meth:`ReplacementStore.version`."""
        return await self._run(self._version, user, conversation)

    async def merge(self, user: str, conversation: str, mapping: Mapping[str, str]) -> str | None:
        """See :meth:`ReplacementStore.merge`."""
        return await self._run(self._merge, user, conversation, _check(mapping), _ANY)

    async def merge_if(
        self, user: str, conversation: str, mapping: Mapping[str, str], version: str | None
    ) -> str | None:
        """See :meth:`ReplacementStore.merge_if`."""
        return await self._run(self._merge, user, conversation, _check(mapping), version)

    async def delete(self, user: str, conversation: str) -> None:
        """See :meth:`ReplacementStore.delete`."""
        await self._run(self._delete, user, conversation)

    async def ping(self) -> None:
        """Open the file if needed and run a query."""
        await self._run(self._ping)

    async def aclose(self) -> None:
        """Close the connection and stop the store's thread. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)


# ------------------------------------------------------------------------------------------------ Redis


class RedisStore:
    """Maps in Redis, one hash per conversation (``<prefix><user>:<conversation>``, field token -> original).

    For several proxy replicas. A merge is optimistic: ``WATCH`` the hash, check the version and the tokens with
    ``HMGET``, then ``HSETNX`` each one and set a new version inside ``MULTI``/``EXEC`` (retried when another
    client changed the hash meanwhile), so it is all or nothing. A command that fails on a connection the server
    closed (a Redis restart) is retried on a fresh one. Pass a URL (``redis://host:6379/0``; connecting times out
    after 5 s, a command after 10 s) or a ``redis.asyncio.Redis`` client; a client passed in is not closed by
    :meth:`aclose`. Hash field order is not
    kept by Redis; the order of a loaded map only matters when an original has several tokens, and every one of
    them still restores.

    A Redis without persistence loses every map when it restarts (tokens in conversations then stay tokens):
    run it with ``appendonly yes`` (and ``appendfsync everysec`` or ``always``) for the maps to survive.
    """

    def __init__(self, url_or_client: Any, *, prefix: str = _REDIS_PREFIX) -> None:
        if isinstance(url_or_client, str):
            import redis.asyncio as aioredis

            self._client: Any = aioredis.Redis.from_url(
                url_or_client, health_check_interval=30, socket_connect_timeout=5, socket_timeout=10
            )
            self._owned = True
        else:
            self._client = url_or_client
            self._owned = False
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self._prefix!r})"

    def _key(self, user: str, conversation: str) -> str:
        # the user is a hex digest (no ':'), so the key is unambiguous whatever the conversation key holds
        return f"{self._prefix}{user}:{conversation}"

    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run ``op``; retry it when the connection was dead (the pool then opens a new one)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        for attempt in range(_RECONNECT_ATTEMPTS):
            try:
                return await op()
            except (ReplacementConflictError, StoreError):
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if attempt + 1 == _RECONNECT_ATTEMPTS:
                    raise StoreError(f"Redis store: {type(exc).__name__}") from None
                await asyncio.sleep(0.05 * 2**attempt)
            except Exception as exc:
                raise StoreError(f"Redis store: {type(exc).__name__}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def load(self, user: str, conversation: str) -> dict[str, str]:
        """See :meth:`ReplacementStore.load`."""
        mapping, _ = await self.snapshot(user, conversation)
        return mapping

    async def snapshot(self, user: str, conversation: str) -> tuple[dict[str, str], str | None]:
        """See :meth:`ReplacementStore.snapshot`."""
        raw = await self._call(lambda: self._client.hgetall(self._key(user, conversation)))
        mapping = {_text(k): _text(v) for k, v in raw.items()}
        return mapping, mapping.pop(_VERSION, None)

    async def version(self, user: str, conversation: str) -> str | None:
        """See :meth:`ReplacementStore.version`."""
        raw = await self._call(lambda: self._client.hget(self._key(user, conversation), _VERSION))
        return None if raw is None else _text(raw)

    async def merge(self, user: str, conversation: str, mapping: Mapping[str, str]) -> str | None:
        """See :meth:`ReplacementStore.merge`."""
        return await self._merge(user, conversation, _check(mapping), _ANY)

    async def merge_if(
        self, user: str, conversation: str, mapping: Mapping[str, str], version: str | None
    ) -> str | None:
        """See :meth:`ReplacementStore.merge_if`."""
        return await self._merge(user, conversation, _check(mapping), version)

    async def _merge(self, user: str, conversation: str, items: list[tuple[str, str]], expected: object) -> str | None:
        from redis.exceptions import WatchError

        key = self._key(user, conversation)
        fields = [_VERSION, *(t for t, _ in items)]

        async def attempt() -> tuple[bool, str | None]:
            async with self._client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    version, *current = await pipe.hmget(key, fields)
                    version = None if version is None else _text(version)
                    if expected is not _ANY and expected != version:
                        return True, None
                    conflicts = [t for (t, o), c in zip(items, current, strict=True) if c is not None and _text(c) != o]
                    if conflicts:
                        raise ReplacementConflictError(conflicts)
                    if all(c is not None for c in current):
                        return True, version
                    new = _new_version()
                    pipe.multi()
                    for token, original in items:
                        pipe.hsetnx(key, token, original)
                    pipe.hset(key, _VERSION, new)
                    await pipe.execute()
                    return True, new
                except WatchError:  # another merge of this conversation won the race
                    return False, None

        for round_ in range(_WATCH_ATTEMPTS):
            done, version = await self._call(attempt)
            if done:
                return version
            if expected is not _ANY:
                return None  # the map changed: the caller reloads it
            await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**round_)))
        raise StoreError("Redis store: the map kept changing during the merge; try again")

    async def delete(self, user: str, conversation: str) -> None:
        """See :meth:`ReplacementStore.delete`."""
        await self._call(lambda: self._client.delete(self._key(user, conversation)))

    async def ping(self) -> None:
        """``PING`` the server."""
        await self._call(self._client.ping)

    async def aclose(self) -> None:
        """Close the client when this store created it."""
        if self._owned:
            await self._client.aclose()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def store_from_url(url: str) -> ReplacementStore:
    """A store from a URL: ``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``redis://...``, ``memory:``.

    >>> store_from_url("sqlite:///replacements.db")
    SQLiteStore('replacements.db')
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigError("sqlite:/// needs a file path, e.g. sqlite:///replacements.db", path="store")
        return SQLiteStore(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    if url in ("memory:", "memory://"):
        return MemoryStore()
    raise ConfigError("a store URL is sqlite:///PATH, redis://HOST[:PORT][/DB] or memory:", path="store")
