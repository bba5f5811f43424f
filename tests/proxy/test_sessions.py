"""The proxy's compiled-session cache and per-conversation locks."""

from __future__ import annotations

import asyncio

import pytest

from anonymizer import Anonymizer, Session
from anonymizer.errors import ConfigError
from anonymizer.proxy._sessions import KeyedLocks, SessionCache

ENGINE = Anonymizer()


def session_of(tokens: int) -> Session:
    return ENGINE.session({f"tok-{i}": f"orig-{i}" for i in range(tokens)})


def test_hit_only_at_the_same_version() -> None:
    """A cached session is returned only for the map version it was built from."""
    cache = SessionCache(4)
    s = session_of(2)
    cache.put(("u", "c"), "v1", s)
    assert cache.get(("u", "c"), "v1") is s
    assert cache.get(("u", "c"), "v2") is None
    assert cache.get(("u", "other"), "v1") is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_least_recently_used_evicted_by_count_and_by_tokens() -> None:
    """The cache keeps at most `size` sessions and `max_tokens` tokens, evicting the least recently used."""
    cache = SessionCache(2, max_tokens=10)
    a, b, c = session_of(3), session_of(3), session_of(3)
    cache.put(("u", "a"), "v", a)
    cache.put(("u", "b"), "v", b)
    assert cache.get(("u", "a"), "v") is a  # a is now the most recent
    cache.put(("u", "c"), "v", c)
    assert cache.get(("u", "b"), "v") is None and len(cache) == 2
    cache.put(("u", "big"), "v", session_of(8))  # 3 + 3 + 8 > 10: the older ones go
    assert len(cache) == 1 and cache.get(("u", "big"), "v") is not None
    cache.put(("u", "huge"), "v", session_of(11))  # larger than the whole budget: not kept
    assert cache.get(("u", "huge"), "v") is None


def test_drop_and_size_zero() -> None:
    """drop() forgets one conversation; a cache of size 0 keeps nothing; a negative size is refused."""
    cache = SessionCache(3)
    cache.put(("u", "c"), "v", session_of(1))
    cache.drop(("u", "c"))
    cache.drop(("u", "never"))
    assert len(cache) == 0
    off = SessionCache(0)
    off.put(("u", "c"), "v", session_of(1))
    assert off.get(("u", "c"), "v") is None
    with pytest.raises(ConfigError):
        SessionCache(-1)


async def test_keyed_locks_serialize_one_key_and_are_freed() -> None:
    """Holders of one key take turns; other keys do not wait; no lock outlives its last holder."""
    locks = KeyedLocks()
    inside: list[str] = []
    order: list[str] = []

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            inside.append(name)
            assert inside.count(name) == 1 and sum(n.startswith(key) for n in inside) == 1
            await asyncio.sleep(0)
            order.append(name)
            inside.remove(name)

    await asyncio.gather(*(hold("a", f"a{i}") for i in range(5)), *(hold("b", f"b{i}") for i in range(5)))
    assert [n for n in order if n.startswith("a")] == [f"a{i}" for i in range(5)]
    assert len(locks) == 0
