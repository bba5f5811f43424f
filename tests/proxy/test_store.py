"""Replacement stores (SQLite, Redis via fakeredis, memory) and user identities."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import fakeredis
import pytest

from anonymizer.proxy import (
    MemoryStore,
    RedisStore,
    ReplacementConflictError,
    ReplacementStore,
    SQLiteStore,
    StoreError,
    store_from_url,
    user_identity,
)


@pytest.fixture(params=["sqlite", "redis", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ReplacementStore]:
    made: ReplacementStore
    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "maps.db")
    elif request.param == "redis":
        made = RedisStore(fakeredis.FakeAsyncRedis())
    else:
        made = MemoryStore()
    yield made
    await made.aclose()


async def test_merge_then_load(store: ReplacementStore) -> None:
    """A merged map loads back; an unknown conversation loads empty."""
    await store.merge("u1", "c1", {"t1": "alice", "t2": "10.0.0.1"})
    await store.merge("u1", "c1", {"t2": "10.0.0.1", "t3": "bob"})
    assert await store.load("u1", "c1") == {"t1": "alice", "t2": "10.0.0.1", "t3": "bob"}
    assert await store.load("u1", "other") == {}
    assert await store.load("u2", "c1") == {}


async def test_conflict_raises_and_writes_nothing(store: ReplacementStore) -> None:
    """Rebinding a token to another original raises, and the rest of that merge is not written."""
    await store.merge("u", "c", {"t1": "alice"})
    with pytest.raises(ReplacementConflictError) as err:
        await store.merge("u", "c", {"t9": "new", "t1": "mallory"})
    assert err.value.tokens == ("t1",)
    assert "mallory" not in str(err.value) and "alice" not in str(err.value)
    assert await store.load("u", "c") == {"t1": "alice"}


async def test_delete(store: ReplacementStore) -> None:
    """Delete forgets one conversation's map only."""
    await store.merge("u", "a", {"t1": "x"})
    await store.merge("u", "b", {"t2": "y"})
    await store.delete("u", "a")
    assert await store.load("u", "a") == {}
    assert await store.load("u", "b") == {"t2": "y"}


async def test_concurrent_merges_end_consistent(store: ReplacementStore) -> None:
    """Many tasks merging overlapping maps at once end with the union, each token bound once."""

    async def one(i: int) -> None:
        await store.merge("u", "c", {f"own-{i}": f"value-{i}", "shared": "same", f"pair-{i // 2}": f"p{i // 2}"})

    await asyncio.gather(*(one(i) for i in range(40)))
    loaded = await store.load("u", "c")
    expected = (
        {"shared": "same"} | {f"own-{i}": f"value-{i}" for i in range(40)} | {f"pair-{i}": f"p{i}" for i in range(20)}
    )
    assert loaded == expected


async def test_concurrent_conflicts_one_winner(store: ReplacementStore) -> None:
    """Tasks racing to bind one token to different originals: exactly one wins, the others get a conflict."""

    async def one(i: int) -> bool:
        try:
            await store.merge("u", "c", {"<USER_NAME_1>": f"user-{i}", f"extra-{i}": f"e{i}"})
        except ReplacementConflictError:
            return False
        return True

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert sum(results) == 1
    winner = results.index(True)
    assert await store.load("u", "c") == {"<USER_NAME_1>": f"user-{winner}", f"extra-{winner}": f"e{winner}"}


async def test_malformed_map_rejected(store: ReplacementStore) -> None:
    """Empty tokens and non-string originals are refused before anything is written."""
    with pytest.raises(ValueError):
        await store.merge("u", "c", {"": "x"})
    with pytest.raises(ValueError):
        await store.merge("u", "c", {"t": 1})  # type: ignore[dict-item]
    assert await store.load("u", "c") == {}


async def test_sqlite_survives_reopen_keeps_order_and_mode(tmp_path: Path) -> None:
    """A SQLite map survives a new store on the same file, in bind order, in a file only its owner can read."""
    path = tmp_path / "maps.db"
    first = SQLiteStore(path)
    tokens = {f"t{i:03d}": f"v{i}" for i in reversed(range(300))}
    await first.merge("u", "c", tokens)
    await first.aclose()
    second = SQLiteStore(path)
    assert list((await second.load("u", "c")).items()) == list(tokens.items())
    await second.aclose()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_sqlite_replicas_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Replicas that open one new file at the same moment race to create it; none is refused "database is
    locked" (SQLite answers that at once, without waiting, to all but the first writer)."""
    for run in range(60):
        path = tmp_path / f"maps-{run}.db"
        stores = [SQLiteStore(path) for _ in range(4)]
        merged = await asyncio.gather(*(s.merge("u", "c", {f"t{i}": f"v{i}"}) for i, s in enumerate(stores)))
        assert all(version is not None for version in merged)
        assert await stores[0].load("u", "c") == {f"t{i}": f"v{i}" for i in range(4)}
        for s in stores:
            await s.aclose()


async def test_sqlite_large_merge_conflict_detected(tmp_path: Path) -> None:
    """The conflict check covers maps larger than one SQL query's variable limit."""
    store = SQLiteStore(tmp_path / "maps.db")
    await store.merge("u", "c", {f"t{i}": f"v{i}" for i in range(1200)})
    with pytest.raises(ReplacementConflictError):
        await store.merge("u", "c", {**{f"n{i}": "x" for i in range(1100)}, "t1150": "other"})
    assert len(await store.load("u", "c")) == 1200
    await store.aclose()


async def test_sqlite_unusable_path_raises_store_error(tmp_path: Path) -> None:
    """A store whose file cannot be created raises StoreError on use (and health reports it)."""
    store = SQLiteStore(tmp_path / "missing-dir" / "maps.db")
    with pytest.raises((StoreError, OSError)):
        await store.ping()
    await store.aclose()
    with pytest.raises(StoreError):
        await store.load("u", "c")


async def test_redis_keys_per_user_and_conversation() -> None:
    """Redis keeps one hash per user and conversation under the prefix; credentials never appear in keys."""
    client = fakeredis.FakeAsyncRedis()
    store = RedisStore(client, prefix="p:")
    user = user_identity({"authorization": "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="})
    await store.merge(user, "security/default/c1", {"t": "v"})
    keys = await client.keys("*")
    assert keys == [f"p:{user}:security/default/c1".encode()]
    assert b"ZWxhc3RpYzpjaGFuZ2VtZQ" not in keys[0]
    await store.aclose()
    assert await client.ping()  # a client passed in is not closed


def test_identity() -> None:
    """Identities are hashes of the credential (Authorization, else the sid cookie, else all cookies)."""
    a = user_identity({"authorization": "ApiKey a"})
    assert len(a) == 64 and "ApiKey" not in a
    assert a != user_identity({"authorization": "ApiKey b"})
    assert user_identity({"cookie": "sid=s1; theme=dark"}) == user_identity({"cookie": "theme=light; sid=s1"})
    assert user_identity({"cookie": "sid=s1"}) != user_identity({"cookie": "sid=s2"})
    assert user_identity({}) == "anonymous"
    keyed = user_identity({"authorization": "ApiKey a"}, key=b"k" * 32)
    assert keyed != a and len(keyed) == 64


def test_store_from_url(tmp_path: Path) -> None:
    """Store URLs pick the store class; anything else is refused."""
    assert isinstance(store_from_url(f"sqlite:///{tmp_path}/x.db"), SQLiteStore)
    assert isinstance(store_from_url("redis://127.0.0.1:1/0"), RedisStore)
    assert isinstance(store_from_url("memory:"), MemoryStore)
    with pytest.raises(ValueError):
        store_from_url("postgres://x")


async def test_versions_change_with_the_map_only(store: ReplacementStore) -> None:
    """A map's version appears with its first binding, changes when bindings are added, not when nothing is."""
    assert await store.version("u", "c") is None
    assert await store.snapshot("u", "c") == ({}, None)
    first = await store.merge("u", "c", {"t1": "a"})
    assert first is not None and await store.version("u", "c") == first
    assert await store.merge("u", "c", {"t1": "a"}) == first  # nothing new: same version
    second = await store.merge("u", "c", {"t2": "b"})
    assert second not in (None, first)
    assert await store.snapshot("u", "c") == ({"t1": "a", "t2": "b"}, second)
    assert await store.load("u", "c") == {"t1": "a", "t2": "b"}  # the version is never a binding


async def test_merge_if_is_compare_and_set(store: ReplacementStore) -> None:
    """merge_if writes only while the map is at the given version, and returns the new one."""
    v1 = await store.merge_if("u", "c", {"t1": "a"}, None)
    assert v1 is not None
    assert await store.merge_if("u", "c", {"t2": "b"}, None) is None  # stale: the map has moved on
    assert await store.load("u", "c") == {"t1": "a"}
    v2 = await store.merge_if("u", "c", {"t2": "b"}, v1)
    assert v2 not in (None, v1)
    assert await store.merge_if("u", "c", {"t3": "x"}, v1) is None
    assert await store.load("u", "c") == {"t1": "a", "t2": "b"}


async def test_delete_then_recreate_never_reuses_a_version(store: ReplacementStore) -> None:
    """After a delete, the same bindings again get a version the deleted map never had."""
    old = await store.merge("u", "c", {"<USER_NAME_1>": "a"})
    await store.delete("u", "c")
    assert await store.version("u", "c") is None
    new = await store.merge("u", "c", {"<USER_NAME_1>": "b"})
    assert new is not None and new != old


async def test_concurrent_compare_and_set_one_winner_per_version(store: ReplacementStore) -> None:
    """Tasks racing merge_if from the same version: exactly one writes, the others are told to reload."""
    base = await store.merge("u", "c", {"t0": "zero"})
    results = await asyncio.gather(*(store.merge_if("u", "c", {f"t{i}": f"v{i}"}, base) for i in range(1, 21)))
    winners = [i for i, r in enumerate(results, 1) if r is not None]
    assert len(winners) == 1
    assert await store.load("u", "c") == {"t0": "zero", f"t{winners[0]}": f"v{winners[0]}"}


async def test_sqlite_file_without_versions_gets_them(tmp_path: Path) -> None:
    """Conversations of a file written before maps had versions get one when the file is opened."""
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE replacements (seq INTEGER PRIMARY KEY, user TEXT NOT NULL, conversation TEXT NOT NULL, "
        "token TEXT NOT NULL, original TEXT NOT NULL, UNIQUE (user, conversation, token))"
    )
    conn.execute("INSERT INTO replacements (user, conversation, token, original) VALUES ('u', 'c', 't', 'v')")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    mapping, version = await store.snapshot("u", "c")
    assert mapping == {"t": "v"} and version is not None
    await store.aclose()
