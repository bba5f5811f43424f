"""The compiled fast path of the text stream (``anonymizer._speedups``) against its Python reference.

Every feed of the compiled path must give what ``stream._feed_bytes`` (the Python fast path, which the package runs
when the extension was not built) gives: the same bytes out, the same text held back, the same report.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tracemalloc
from types import MethodType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anonymizer import Restorer, stream
from anonymizer.stream import TextStreamRestorer, restorer_for

from .test_report import FILLER, OTHER, PROFILE, RESTORERS, UNKNOWN_SHAPES, chunked, model_text

compiled = pytest.mark.skipif(not stream.SPEEDUPS, reason="anonymizer._speedups was not built here")


def pure(restorer: Restorer, *, report: bool = True) -> TextStreamRestorer:
    """A text stream restorer on the Python fast path, whatever the package runs."""
    s = restorer_for(restorer, "text", report=report)
    assert isinstance(s, TextStreamRestorer)
    s._fast = MethodType(stream._feed_bytes, s._text)
    return s


@st.composite
def prose(draw: st.DrawFn, restorer: Restorer) -> str:
    """Model-like text: words, whole tokens of the map and of another map, token shapes, altered and cut tokens."""
    tokens = list(restorer.replacements)
    words = st.sampled_from(["the", "host", "user", "deadbeef", "cafe-0123", "was", "seen", "x86-64", "a", "\n"])
    part = st.one_of(
        words,
        words,
        st.sampled_from(tokens),
        st.sampled_from(tokens).map(str.upper),
        st.sampled_from(tokens).map(lambda t: t[: len(t) // 2]),
        st.sampled_from(list(OTHER.replacements)),
        st.sampled_from(UNKNOWN_SHAPES),
        FILLER,
        model_text(restorer),
    )
    sep = st.sampled_from([" ", " ", "", ", ", "(", ")", "-", "é "])
    return "".join(draw(part) + draw(sep) for _ in range(draw(st.integers(0, 40))))


@compiled
@PROFILE
@given(st.sampled_from(sorted(RESTORERS)), st.booleans(), st.data())
def test_compiled_feed_is_the_python_feed(name: str, report: bool, data: st.DataObject) -> None:
    """Feed by feed, the compiled path returns the same bytes, holds the same text back and keeps the same report
    as the Python path, whatever the map, the text (ASCII or not, tokens cut anywhere) and the chunking."""
    restorer = RESTORERS[name]
    body = data.draw(prose(restorer)).encode()
    if data.draw(st.booleans()):
        body = data.draw(st.sampled_from([b"\xff", b"\xe2\x82", b"\xc3"])) + body
    fast = restorer_for(restorer, "text", report=report)
    slow = pure(restorer, report=report)
    if data.draw(st.booleans()):
        chunks = data.draw(chunked(body))
    else:  # as a model's stream comes: pieces of about one token's size (most hold one token or none)
        size = data.draw(st.integers(8, 96))
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
    for chunk in chunks:
        assert fast.feed(chunk) == slow.feed(chunk)
        assert fast.held == slow.held
        assert fast.pending == slow.pending
        if report and data.draw(st.integers(0, 9)) == 0:  # read mid-stream now and then
            assert fast.report == slow.report
    assert fast.close() == slow.close()
    assert fast.report == slow.report


@compiled
@pytest.mark.parametrize("size", [1, 7, 64, 4096])
@pytest.mark.parametrize("name", sorted(RESTORERS))
def test_compiled_stream_of_a_long_answer_is_the_whole_restore(name: str, size: int) -> None:
    """A 40 KB answer with a token in ~3% of its words, in fixed-size chunks: both paths give the whole-text
    restore and the same report (the batches of the report's search, every 8 K characters, are crossed)."""
    restorer = RESTORERS[name]
    rng = random.Random(size)
    tokens = list(restorer.replacements)
    words = ["the", "host", "was", "seen", "after", "deadbeef", "alert", "fired", "x86-64", "re-run"]
    text = " ".join(rng.choice(tokens) if rng.random() < 0.03 else rng.choice(words) for _ in range(8000))
    body = text.encode()
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    fast = restorer_for(restorer, "text")
    slow = pure(restorer)
    out = b"".join(fast.feed(c) for c in chunks) + fast.close()
    assert out == b"".join(slow.feed(c) for c in chunks) + slow.close()
    assert out == restorer.restore(text).encode()
    assert fast.report == slow.report
    whole = restorer.restore_with_report(text).report
    assert [e for e in fast.report.events if e.kind != "unknown"] == [e for e in whole.events if e.kind != "unknown"]


@compiled
def test_compiled_feed_frees_what_it_allocates() -> None:
    """No reference leaks in the compiled path: feeding the same stream again allocates no new memory blocks
    (a leak of one object per feed would leave thousands)."""
    restorer = RESTORERS["uuid"]
    tokens = list(restorer.replacements)
    text = " ".join(tokens[i % len(tokens)] if i % 9 == 0 else "the-host was seen" for i in range(600))
    body = text.encode()
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)] + [body[i : i + 5] for i in range(0, 4000, 5)]

    def run() -> None:
        for report in (True, False):
            s = restorer_for(restorer, "text", report=report)
            for c in chunks:
                s.feed(c)
            s.close()
            _ = s.report

    run()  # fill the caches (hold-backs by word ending, written-over tokens)
    tracemalloc.start()
    try:
        run()
        first = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            run()
        assert tracemalloc.get_traced_memory()[0] - first < 4096
    finally:
        tracemalloc.stop()


@compiled
def test_compiled_hold_rejects_what_it_cannot_read() -> None:
    """The compiled type raises a clear TypeError on a chunk that is not bytes or on state it cannot use,
    instead of reading it wrong."""
    from anonymizer._speedups import HoldBase

    with pytest.raises(TypeError, match="not set up"):
        HoldBase().feed_bytes(b"abc")
    s = restorer_for(RESTORERS["uuid"], "text")
    assert isinstance(s, TextStreamRestorer)
    with pytest.raises(TypeError, match="takes bytes"):
        s._text.feed_bytes("abc")  # type: ignore[arg-type]
    s._text.text = 3  # type: ignore[assignment]
    with pytest.raises(TypeError, match="neither str nor bytes"):
        s._text.feed_bytes(b"abc")


def test_without_the_extension_the_package_runs_as_pure_python() -> None:
    """ANONYMIZER_PURE_PYTHON=1 turns the compiled path off (and a machine without a compiler gets the same):
    the stream still restores, on the Python fast path."""
    code = (
        "from anonymizer import Anonymizer, stream\n"
        "assert not stream.SPEEDUPS\n"
        "s = Anonymizer(tokens='uuid').session()\n"
        "t = s.token_for('jdoe', field='user.name')\n"
        "r = s.stream('text')\n"
        "body = f'user {t} logged on'.encode()\n"
        "out = b''.join(r.feed(body[i:i + 3]) for i in range(0, len(body), 3)) + r.close()\n"
        "assert out == b'user jdoe logged on', out\n"
        "assert [e.kind for e in r.report.events] == ['restored']\n"
    )
    env = {**os.environ, "ANONYMIZER_PURE_PYTHON": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


@compiled
@pytest.mark.parametrize(
    "chunks",
    [
        ["abc Σ".encode(), b"x done"],  # a token of no known shape, its first character not ASCII, held back
        ["é Σ".encode(), b"x"],
        ["Zoë Σ".encode(), "x é".encode(), "Σx".encode()],
        ["İ Σ".encode(), "x\u212a Σ".encode(), b"x"],  # case mappings that change length or leave ASCII
        ["emoji 😀 <USER_".encode(), b"NAME_1> done"],
    ],
)
def test_compiled_text_pieces_hold_back_whole_characters(chunks: list[bytes]) -> None:
    """A piece of text that is not ASCII, whose end may start a token, is cut between characters: the bytes sent
    and the text held back are those of the Python path."""
    restorer = RESTORERS["mixed"]
    fast = restorer_for(restorer, "text")
    slow = pure(restorer)
    for chunk in chunks:
        assert fast.feed(chunk) == slow.feed(chunk)
        assert fast.held == slow.held
    assert fast.close() == slow.close()
    assert fast.report == slow.report


def test_a_compiled_base_built_from_another_source_is_not_used() -> None:
    """A module built before the hold's fields changed (a checkout updated without reinstalling) is told apart by its
    fields, and the Python fast path runs instead of reading state it does not have."""

    class Stale:
        __slots__ = ("_before", "_due", "_events", "_log", "_run", "_run_map", "_tail", "offset", "text")

    assert not stream._same_fields(Stale)
    assert stream._same_fields(stream._PyHoldBase)
    if stream.SPEEDUPS:
        from anonymizer._speedups import HoldBase

        assert stream._same_fields(HoldBase)
