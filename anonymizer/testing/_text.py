"""Model output and byte streams: :func:`llm_outputs`, :func:`llm_outputs_with_expected`, :func:`chunkings`,
:func:`stream_bodies`.

What a restorer must do with each form of a token is the documented behaviour of :mod:`anonymizer.restore`,
written down again here on its own (so the expectation is not the implementation under test):

* an exact token is restored;
* an altered token (a UUID with its case changed or its hyphens dropped, a placeholder ``<USER_NAME_1>`` with its
  case changed, its brackets lost or swapped for ``[]``/``{}``, a mask ``CLASS_<hex>`` with its case changed) is
  restored when it stands alone and its altered form fits one token of the map only; else it is left as it is;
* a token cut in two by a line break, and a token-shaped string that is not in the map, are left as they are.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from anonymizer.errors import ConfigError

__all__ = ["chunkings", "llm_outputs", "llm_outputs_with_expected", "stream_bodies"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_]*)>\Z")
_MASK = re.compile(r"[A-Z][A-Z0-9_]*_(?:[0-9a-f]{32}|[0-9a-f]{40})\Z")
_UUID_ANYWHERE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_RUN = re.compile(r"[0-9a-fA-F-]{32,}")
_HEXISH = frozenset("0123456789abcdefABCDEF-")

# Words and separators of model-like prose. Separators hold no word character, no hex digit, no hyphen next to
# a token and no bracket, so a token next to one stands alone.
_WORDS = (
    "the",
    "user",
    "host",
    "logged",
    "on",
    "from",
    "alert",
    "suspicious",
    "process",
    "was",
    "seen",
    "isolate",
    "investigate",
    "recommend",
    "Summary",
    "1.",
    "2.",
)
_SEPARATORS = (" ", ", ", ". ", "\n", ": ", " (", ") ", '"', "**", "`", "; ", "! ", "? ", "\n\n", "\n- ")

Piece = tuple[str, str, bool]  # (text, expected restoration, whether it holds a token that is restored)


def _lower(text: str) -> str:
    """``text.lower()`` keeping every character at its index (as the restorer does)."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low


class _Map:
    """The replacements map seen through the documented restore rules."""

    def __init__(self, replacements: Mapping[str, str]) -> None:
        self.originals = {t: o for t, o in replacements.items() if t}
        self.targets: dict[str, set[str]] = {}  # lower-case key -> the tokens it may stand for
        self.shaped: list[str] = []
        self.foreign: list[str] = []
        for token in self.originals:
            keys = self.keys(token)
            (self.shaped if keys else self.foreign).append(token)
            for key in (token.lower(), *keys):
                self.targets.setdefault(key, set()).add(token)
        self.all_keys = sorted({*self.targets, *(t.lower() for t in self.foreign)}, key=len, reverse=True)

    @staticmethod
    def keys(token: str) -> tuple[str, ...]:
        if _UUID.match(token):
            low = token.lower()
            return (low, low.replace("-", ""))
        m = _PLACEHOLDER.match(token)
        if m:
            return (m.group(1).lower(),)
        if _MASK.match(token):
            return (token.lower(),)
        return ()

    def restore_altered(self, form: str, key: str) -> str:
        """What an altered form found under ``key`` comes back as."""
        if form in self.originals:
            return self.originals[form]
        tokens = self.targets.get(key, set())
        return self.originals[next(iter(tokens))] if len(tokens) == 1 else form

    def variants(self, token: str) -> list[tuple[str, str]]:
        """``(altered form, key)`` pairs for a token of a known shape."""
        swapped = token.swapcase()
        if _UUID.match(token):
            low = token.lower()
            return [
                (swapped, low),
                (token.replace("-", ""), low.replace("-", "")),
                (swapped.replace("-", ""), low.replace("-", "")),
            ]
        m = _PLACEHOLDER.match(token)
        if m:
            name = m.group(1)
            key = name.lower()
            return [(swapped, token.lower()), (name, key), ("[" + name + "]", key), ("{" + name + "}", key)]
        return [(swapped, token.lower())] if _MASK.match(token) else []


def _exact(m: _Map, token: str) -> Piece:
    return (token, m.originals[token], True)


def _altered(m: _Map, token: str, choice: int) -> Piece:
    forms = m.variants(token)
    if not forms:
        return _exact(m, token)
    form, key = forms[choice % len(forms)]
    restored = m.restore_altered(form, key)
    return (form, restored, restored != form)


def _split(m: _Map, token: str, at: int) -> Piece:
    """The token cut by a line break strictly inside it (never next to a bracket): left as it is."""
    inner = range(2, len(token) - 1) if _PLACEHOLDER.match(token) else range(1, len(token))
    if len(inner) == 0:
        return ("\n", "\n", False)
    cut = inner[at % len(inner)]
    text = token[:cut] + "\n" + token[cut:]
    return (text, text, False)


def _glued(m: _Map, first: str, second: str) -> Piece:
    """Two exact tokens with nothing between them (no hex digit against hex digit)."""
    if first[-1] in _HEXISH and second[0] in _HEXISH:
        return (first + " " + second, m.originals[first] + " " + m.originals[second], True)
    return (first + second, m.originals[first] + m.originals[second], True)


def _punctuated(m: _Map, token: str, marks: tuple[str, str]) -> Piece:
    return (marks[0] + token + marks[1], marks[0] + m.originals[token] + marks[1], True)


_MARKS = (("(", ")"), ('"', '",'), ("`", "`"), ("**", "**."), ("'", "'s"), ("", ":"), ("", "."), ("", "?!"))
_LABELS = ("USER_NAME", "HOST_NAME", "IP_ADDRESS", "EMAIL")


def _unknown_shapes() -> st.SearchStrategy[str]:
    """Token-shaped strings: a uuid4, a placeholder, a mask (maybe in the map: checked by the caller)."""
    return st.one_of(
        st.uuids(version=4).map(str),
        st.builds(lambda label, n: f"<{label}_{n}>", st.sampled_from(_LABELS), st.integers(900, 999)),
        st.builds(
            lambda label, h: f"{label}_{h}",
            st.sampled_from(_LABELS),
            st.text("0123456789abcdef", min_size=40, max_size=40),
        ),
    )


def _pieces(m: _Map, *, noise: bool) -> st.SearchStrategy[Piece]:
    word: st.SearchStrategy[Piece] = st.sampled_from(_WORDS).map(lambda w: (w, w, False))
    options: list[st.SearchStrategy[Piece]] = [word]
    if m.originals:
        tokens = list(m.originals)
        token = st.sampled_from(tokens)
        options.append(token.map(lambda t: _exact(m, t)))
        options.append(st.builds(lambda t, marks: _punctuated(m, t, marks), token, st.sampled_from(_MARKS)))
        options.append(st.builds(lambda t, i: _altered(m, t, i), token, st.integers(0, 3)))
        options.append(st.builds(lambda a, b: _glued(m, a, b), token, token))
        options.append(st.builds(lambda t, i: _split(m, t, i), token, st.integers(0, 64)))
    options.append(_unknown_shapes().filter(lambda s: not _holds_key(m, s)).map(lambda s: (s, s, False)))
    if noise:
        options.append(st.text(max_size=4).filter(lambda s: not _holds_key(m, s)).map(lambda s: (s, s, False)))
    return st.one_of(*options)


def _holds_key(m: _Map, text: str) -> bool:
    low = _lower(text)
    return any(k in low for k in m.all_keys)


def _consistent(m: _Map, text: str, spans: list[tuple[int, int, bool]]) -> bool:
    """Every key occurrence lies inside a piece that restores it, and every hex run inside one piece."""
    low = _lower(text)
    for key in m.all_keys:
        at = low.find(key)
        while at != -1:
            end = at + len(key)
            if not any(s <= at and end <= e and restores for s, e, restores in spans):
                return False
            at = low.find(key, at + 1)
    for run in itertools.chain(_HEX_RUN.finditer(text), _UUID_ANYWHERE.finditer(text)):
        if not any(s <= run.start() and run.end() <= e for s, e, _ in spans):
            return False
    return True


@st.composite
def llm_outputs_with_expected(
    draw: st.DrawFn,
    replacements: Mapping[str, str],
    *,
    max_pieces: int = 12,
    noise: bool = True,
) -> tuple[str, str]:
    """``(text, expected)``: a model-like answer quoting the map's tokens, and what restoring it must give.

    >>> from anonymizer.testing import llm_outputs_with_expected
    >>> llm_outputs_with_expected({"<USER_NAME_1>": "jdoe"}).example()  # doctest: +SKIP
    ('isolate [USER_NAME_1], <USER_N\\nAME_1>', 'isolate jdoe, <USER_N\\nAME_1>')

    The text mixes prose with tokens of ``replacements`` (token -> original): exact ones, ones next to
    punctuation and glued to each other, altered ones (case changed, UUID hyphens dropped, placeholder brackets
    lost or swapped), ones cut by a line break (never restored), and token-shaped strings that are not in the
    map (left as they are). ``noise=True`` adds short arbitrary Unicode strings between the words.
    ``expected`` follows the documented restore rules (module docstring), computed independently of
    :class:`~anonymizer.restore.Restorer`, so ``session.deanonymize(text) == expected`` is a real check. Maps
    whose tokens are not of the shapes this library mints are quoted exactly only.
    """
    m = _Map(replacements)
    pieces = draw(st.lists(_pieces(m, noise=noise), max_size=max_pieces))
    text_parts: list[str] = []
    expected_parts: list[str] = []
    spans: list[tuple[int, int, bool]] = []
    pos = 0
    for i, (text, expected, restores) in enumerate(pieces):
        if i:
            sep = draw(st.sampled_from(_SEPARATORS))
            text_parts.append(sep)
            expected_parts.append(sep)
            pos += len(sep)
        text_parts.append(text)
        expected_parts.append(expected)
        spans.append((pos, pos + len(text), restores))
        pos += len(text)
    text = "".join(text_parts)
    assume(_consistent(m, text, spans))
    return text, "".join(expected_parts)


def llm_outputs(replacements: Mapping[str, str], *, max_pieces: int = 12, noise: bool = True) -> st.SearchStrategy[str]:
    """A model-like answer that quotes the tokens of ``replacements`` (token -> original), exact and altered.

    >>> from anonymizer.testing import llm_outputs
    >>> llm_outputs({"<USER_NAME_1>": "jdoe"}).example()  # doctest: +SKIP
    'the <user_name_1> logged on (<USER_NAME_1>) <USER_NAME_1><USER_NAME_1>. 3f2b...-...'

    The text of :func:`llm_outputs_with_expected` (see there for every form a token takes).
    """
    return llm_outputs_with_expected(replacements, max_pieces=max_pieces, noise=noise).map(lambda pair: pair[0])


@st.composite
def chunkings(draw: st.DrawFn, body: bytes, *, max_cuts: int = 16, empty_chunks: bool = False) -> list[bytes]:
    """Ways to cut ``body`` into chunks: the chunks, whose concatenation is ``body``.

    >>> from anonymizer.testing import chunkings
    >>> chunkings("zoë".encode()).example()  # doctest: +SKIP
    [b'zo\\xc3', b'\\xab']

    Simplest first (one chunk, so a failure shrinks to the least cutting that shows it), then chunks of a fixed
    size down to one byte, cuts inside multi-byte UTF-8 characters, and up to ``max_cuts`` cuts anywhere.
    ``empty_chunks=True`` also slips empty chunks in (a server may send them).
    """
    if not body:
        return [b""] if empty_chunks and draw(st.booleans()) else []
    n = len(body)
    how = draw(st.sampled_from(["whole", "size", "inside", "anywhere"]))
    if how == "whole":
        cuts: list[int] = []
    elif how == "size":
        size = draw(st.integers(1, n))
        cuts = list(range(size, n, size))
    elif how == "inside":
        inside = [i for i in range(1, n) if 0x80 <= body[i] < 0xC0]  # before a continuation byte
        cuts = sorted(draw(st.sets(st.sampled_from(inside), max_size=max_cuts))) if inside else []
    else:
        cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=max_cuts))) if n > 1 else []
    edges = [0, *cuts, n]
    chunks = [body[a:b] for a, b in itertools.pairwise(edges)]
    if empty_chunks:
        for at in sorted(draw(st.lists(st.integers(0, len(chunks)), max_size=3)), reverse=True):
            chunks.insert(at, b"")
    return chunks


def _split_text(draw: st.DrawFn, text: str, max_parts: int) -> list[str]:
    if not text:
        return []
    points = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=max_parts - 1)))
    edges = [0, *[p for p in points if 0 < p < len(text)], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


def _line(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass") + b"\n"


@st.composite
def stream_bodies(draw: st.DrawFn, text: str, *, fmt: str, max_parts: int = 6) -> bytes:
    """The wire body of a model answer ``text`` in a stream format of :mod:`anonymizer.stream`.

    >>> from anonymizer.testing import stream_bodies
    >>> stream_bodies("hi <USER_NAME_1>", fmt="security.ndjson").example()  # doctest: +SKIP
    b'{"payload":"hi <US","type":"content"}\\n{"payload":"ER_NAME_1>","type":"content"}\\n'

    The text is cut into up to ``max_parts`` pieces (tokens may be cut too):

    * ``text``: the UTF-8 text;
    * ``security.ndjson``: one ``{"payload", "type": "content"}`` line per piece;
    * ``observability.ndjson``: ``chatCompletionChunk`` events, then ``chatCompletionMessage`` and ``messageAdd``
      with the whole message;
    * ``openai.sse``: ``chat.completion.chunk`` events (``delta.content``), the last with ``finish_reason``,
      then ``data: [DONE]``.
    """
    if fmt == "text":
        return text.encode("utf-8", "surrogatepass")
    parts = _split_text(draw, text, max_parts)
    if fmt == "security.ndjson":
        return b"".join(_line({"payload": p, "type": "content"}) for p in parts)
    if fmt == "observability.ndjson":
        out = b"".join(_line({"type": "chatCompletionChunk", "id": "m1", "message": {"content": p}}) for p in parts)
        out += _line({"type": "chatCompletionMessage", "id": "m1", "message": {"content": text, "role": "assistant"}})
        message = {"@timestamp": "2025-06-25T23:45:00.000Z", "message": {"content": text, "role": "assistant"}}
        return out + _line({"type": "messageAdd", "id": "m1", "message": message})
    if fmt == "openai.sse":
        out = b""
        pieces = parts or [""]
        for i, p in enumerate(pieces):
            finish = "stop" if i == len(pieces) - 1 else None
            event = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": finish}],
            }
            out += b"data: " + _line(event)[:-1] + b"\n\n"
        return out + b"data: [DONE]\n\n"
    raise ConfigError(f"unknown stream format {fmt!r}")
