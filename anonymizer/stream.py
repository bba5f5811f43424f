"""Sans-IO stream restorers: model output streamed in chunks cut anywhere, restored as early as is safe.

A stream restorer is fed bytes and returns bytes; it does no I/O of its own (like h11), so it fits any server,
client or test. Chunks may be cut anywhere: inside a multi-byte UTF-8 character, a line, a JSON string escape
or a token. Each :meth:`~StreamRestorer.feed` returns what can no longer change; only a tail that could still
become a token (shorter than the longest token of the map), an incomplete character or an incomplete
line/event is held back. :meth:`~StreamRestorer.close` returns the rest. Parsed, the concatenated output equals
restoring the whole body at once.

Formats (``restorer_for(restorer, fmt)`` or ``session.stream(fmt)``):

``text``
    Plain UTF-8 text. Invalid bytes pass through unchanged.
``security.ndjson``
    Kibana's security chat/complete stream: ``{"payload": "<text>", "type": "content"}`` lines. The payloads are
    one text, restored across lines; each content line is re-emitted in the same format with its restored
    share of the text. A content line whose whole payload is held back is deferred (not emitted) when it
    carries nothing but ``payload`` and ``type``, else emitted with an empty payload. The held tail goes out
    at :meth:`~StreamRestorer.close` as one more content line (or inside the last line, when the stream ends
    without a final newline).
``observability.ndjson``
    The Observability AI Assistant's events, one per line. ``message.content`` and
    ``message.function_call.arguments`` are restored across consecutive ``chatCompletionChunk`` events (one
    hold buffer each); a held tail is flushed as one more ``chatCompletionChunk`` with the id of the last chunk
    before the event that ends the message (``chatCompletionMessage``, ``messageAdd``,
    ``chatCompletionError``) or at close. Kibana's inference path gives every chunk a fresh id, so by default a
    change of id does not end a message; ``ObservabilityNdjsonRestorer(restorer, split_on_id=True)`` makes it.
    Events that carry texts whole are restored whole: the message of ``chatCompletionMessage`` and ``messageAdd``
    (``content``, ``function_call.arguments``, ``data``), ``chatCompletionError``'s ``error.message``,
    ``conversationCreate``/``conversationUpdate``'s ``conversation.title``, ``confirmationRequired``'s
    ``functionCallArguments`` and ``confirmationConfig.message`` (``deanonymized_input``/``deanonymized_output``
    are left as they are). Other events pass through untouched.
``openai.sse``
    ``data: {chat.completion.chunk}`` events, ``data: [DONE]`` and ``data: {"error": ...}``. Each ``data:`` line
    is read on its own, whether events are separated by blank lines or follow each other on single newlines, and
    goes out as soon as it is complete. ``choices[i].delta.content``, ``delta.refusal`` (and the
    ``reasoning_content``/``reasoning`` text some compatible servers add), ``delta.function_call.arguments`` and
    ``delta.tool_calls[j].function.arguments`` are restored per choice (and tool call). Held tails go into the
    choice's ``finish_reason`` chunk, or out as one extra chunk (``id``/``object``/``created``/``model`` copied
    from the last chunk) before ``[DONE]``, an error or the end of the stream: an event of its own, or one more
    data line when events are framed by single newlines. Comments, ``event:``/``id:`` lines and CRLF line
    endings pass through. ``logprobs`` are left as they are (per-token pieces of the answer in token form).

Function-call arguments, ``data`` and a function's answer are JSON texts: the originals restored in them go in
JSON-escaped, so an original holding ``"`` or ``\\`` keeps them valid JSON. Every emitted JSON line is valid JSON.

Malformed input (a line or event that is not JSON, an event of an unknown shape, a stream that ends mid-line)
never raises and never drops bytes: it is passed through (restored as plain text when it is not JSON) and
counted in :attr:`~StreamRestorer.malformed`.

The :attr:`~StreamRestorer.report` lists restored, altered, ambiguous and unknown tokens. Positions are
character offsets into the *input* text of the field the token was found in: the whole stream for ``text``,
the concatenated payloads for ``security.ndjson``, the concatenated chunks of one field of one message (or one
whole field) for the event formats. The report does not depend on how the body is cut into chunks. Its
restored, altered and ambiguous tokens are those a whole-text
:meth:`~anonymizer.restore.Restorer.restore_with_report` finds; its unknown tokens are the whole-word
token-shaped strings (up to about 90 characters) that overlap no token of the map.

The text stream's per-chunk fast path runs compiled (``anonymizer._speedups``, built at install when there is a C
compiler; :data:`SPEEDUPS` says whether it was) or in Python (:func:`_feed_bytes`, the reference): the same
output, held text and report, feed by feed.
"""

from __future__ import annotations

import json
import os
import re
import string
import warnings
from codecs import utf_8_decode as _utf8_decode
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from types import MemberDescriptorType, MethodType
from typing import TYPE_CHECKING, Any, Final, NoReturn

import orjson

from ._text import LONE_SURROGATE as _SURROGATE_RE
from ._text import surrogate_escape as _escape_surrogate
from .errors import ArgumentTypeError, StreamError
from .restore import (
    Covered,
    RawEvent,
    Restorer,
    RestoreReport,
    TokenEvent,
    token_spans,
)

__all__ = [
    "FORMATS",
    "ObservabilityNdjsonRestorer",
    "OpenAISseRestorer",
    "SPEEDUPS",
    "SecurityNdjsonRestorer",
    "StreamRestorer",
    "TextStreamRestorer",
    "error_event",
    "restore_aiter",
    "restore_iter",
    "restorer_for",
]

FORMATS: Final = ("text", "security.ndjson", "observability.ndjson", "openai.sse")
"""The stream formats :func:`restorer_for` knows."""

_INVALID: Final = object()  # what _loads returns for a line that is not JSON
_SCAN_KEEP = 96  # input characters kept to find token-shaped strings that straddle two pieces
_SCAN_BACK = 64  # how far before a new piece an unfinished token shape may start
_SCAN_BATCH = 8192  # input characters restored between two searches for unknown token shapes (see _Hold._scan)


# --------------------------------------------------------------------------------------------- JSON


def _start(event: RawEvent) -> int:
    return event[0]


# _Hold._blank(): how a token is written over, by its first and last characters: an ASCII letter or digit reads
# "z" (to a token shape beside it, they are the same), a bracket stays (no shape starts or ends beside one)
_EDGES = {c: c if c in "<>[]{}" else "z" for c in "<>[]{}" + string.digits + string.ascii_letters}
_FILLS: dict[str, tuple[str, bytes]] = {}  # token -> what it is written over with, as str and bytes (a cache)


def _fill(token: str) -> tuple[str, bytes] | None:
    """What _Hold._blank() writes ``token`` over with (``None``: a token it cannot write over)."""
    first = _EDGES.get(token[0])
    last = _EDGES.get(token[-1])
    if first is None or last is None or len(token) < 3:
        return None
    fill = first + "z" * (len(token) - 2) + last
    if len(_FILLS) < 16384:
        _FILLS[token] = (fill, fill.encode())
    return fill, fill.encode()


def _last_char(piece: bytes) -> str:
    """The last character of a piece of input kept as UTF-8 bytes (see _joined())."""
    last = piece[-1]
    if last < 0x80:
        return chr(last)
    start = len(piece) - 1
    while start > 0 and piece[start] & 0xC0 == 0x80:  # back to the first byte of the character
        start -= 1
    return piece[start:].decode("utf-8", "surrogatepass")


def _joined(pieces: list[bytes]) -> str:
    """Pieces of input text kept as UTF-8 bytes, as one string (a lone surrogate, the escaped byte of input that is
    no UTF-8, is kept as its three bytes: ``surrogatepass``)."""
    return b"".join(pieces).decode("utf-8", "surrogatepass")


def _loads(data: bytes) -> Any:
    """Parse one JSON text, or return ``_INVALID``. Lone-surrogate escapes are accepted (as JavaScript does)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _INVALID


def _dumps(obj: Any) -> bytes:
    """Serialize like JavaScript's ``JSON.stringify``: compact, non-ASCII kept, lone surrogates escaped."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # a lone surrogate (no UTF-8 form) or an integer beyond 64 bits
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        return _SURROGATE_RE.sub(_escape_surrogate, text).encode("utf-8")


def _encode(text: str) -> bytes:
    """UTF-8 bytes of restored text; undecodable input bytes (surrogate escapes) come back as they were."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # an original holding a lone surrogate that is no escaped byte
        return b"".join(_encode_char(c) for c in text)


def _encode_out(text: str) -> bytes:
    """:func:`_encode`, for text that is nearly always encoded at the first try."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _encode(text)


def _encode_char(c: str) -> bytes:
    try:
        return c.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return c.encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------------------------------- hold buffer


class _PyHoldBase:
    """The fields of a hold that its fast path (:func:`_feed_bytes`) reads and writes: the base of :class:`_Hold`
    when the compiled ``anonymizer._speedups.HoldBase`` (the same fields, and the same fast path) is not there."""

    __slots__ = (
        "_before",
        "_due",
        "_end",
        "_ends",
        "_events",
        "_keys",
        "_log",
        "_longest",
        "_memo",
        "_memo_run",
        "_originals",
        "_run",
        "_run_map",
        "_tail",
        "offset",
        "text",
    )


def _hold_base() -> type[_PyHoldBase]:
    """The compiled base of :class:`_Hold`, unless it was not built, was built from another version of the source
    (a checkout updated without reinstalling: a warning) or ``ANONYMIZER_PURE_PYTHON`` is set."""
    if os.environ.get("ANONYMIZER_PURE_PYTHON", "") not in ("", "0"):
        return _PyHoldBase
    try:
        from ._speedups import HoldBase
    except ImportError:
        return _PyHoldBase
    if not _same_fields(HoldBase):
        warnings.warn(
            "anonymizer._speedups was built from another version of anonymizer (reinstall the package); "
            "the text stream runs its Python fast path",
            RuntimeWarning,
            stacklevel=2,
        )
        return _PyHoldBase
    return HoldBase  # type: ignore[return-value]


def _same_fields(base: type) -> bool:
    """Whether a compiled hold base has exactly the fields of :class:`_PyHoldBase` (its C struct's members)."""
    members = {name for name, value in vars(base).items() if isinstance(value, MemberDescriptorType)}
    return members == set(_PyHoldBase.__slots__)


if TYPE_CHECKING:
    from ._speedups import HoldBase as _HoldBase
else:
    _HoldBase = _hold_base()

SPEEDUPS: Final = _HoldBase.__module__ == "anonymizer._speedups"
"""Whether the text stream's per-chunk fast path runs compiled (``anonymizer._speedups``; see the README)."""


class _Hold(_HoldBase):
    """One restored text arriving in pieces (a stream, a field across chunks) and its held-back tail."""

    __slots__ = ("_from", "_prefix", "_restore", "_seen", "_spans")

    def __init__(self, restorer: Restorer, events: list[RawEvent] | None) -> None:
        pieces = restorer.pieces()  # what this hold needs of the restorer, bound once (see Pieces)
        self._run_map = pieces.run_map
        self._run = pieces.run
        self._tail = pieces.tail
        self._ends = pieces.ends
        self._end = pieces.end
        self._prefix = pieces.prefix
        self._originals = pieces.originals  # (read by the compiled fast path only)
        self._keys = pieces.keys  # (read by the compiled fast path only)
        self._longest = pieces.longest  # (read by the compiled fast path only)
        self._memo = pieces.memo  # (read by the compiled fast path only)
        self._memo_run = pieces.memo_run  # (read by the compiled fast path only)
        self._restore = pieces.restore
        self._events = events  # None: no report kept
        self._reset()

    def _reset(self) -> None:
        # held input, not yet restored (bytes: ASCII held by the text stream's fast path, which reads it as bytes)
        self.text: str | bytes = ""
        # without a report: the last input character restored (for whole-word checks), or the last piece of input
        # restored as bytes (with a report, the last piece of _log is read instead: see _last())
        self._before: str | bytes = ""
        self.offset = 0  # input characters restored so far (counted when a report is kept)
        # With a report, the input restored since the last search for unknown token shapes, as UTF-8 (see _joined())
        # (ASCII input as it came, not decoded), after the last _SCAN_KEEP characters searched before
        # (look-behind, and shapes that may be unfinished). No piece is empty. The search runs on batches of
        # _SCAN_BATCH characters (see _scan()).
        self._log: list[bytes] = []
        self._from = 0  # the offset from which the next search starts, at the latest
        self._due = _SCAN_BATCH  # the offset from which the next search is due
        self._seen = 0  # token shapes that start before this offset are settled
        self._spans: list[RawEvent] = []  # tokens found that _blank() could not write over (a shape must miss them)

    def push(self, text: str) -> str:
        """Add input text; return the restored text that no further input can change."""
        tail = self.text
        if tail:
            text = (tail if isinstance(tail, str) else tail.decode()) + text
        elif not text:
            return ""
        # The usual piece holds no token (see Pieces); bytes are mapped in C, then searched as str (`bytes in
        # bytes` is several times slower)
        mapped = text.encode("ascii", "replace").translate(self._run_map).decode()
        if self._run in mapped:
            return self._push(text, mapped)
        n = len(text)
        held = 0 if mapped[-1] == " " else self._ends.get(text[-self._end :])
        if held is None:
            held = self._tail(text, mapped)
        if held:
            if held == n:
                self.text = text
                return ""
            self.text = text[n - held :]
            text = text[: n - held]
        elif self.text:
            self.text = ""
        if self._events is None:
            self._before = text  # (only its last character is read)
            return text
        self._log.append(text.encode("utf-8", "surrogatepass"))  # what _book() does, inline
        self.offset += len(text)
        if self.offset >= self._due:
            self._scan(False)
        return text

    def _push_ascii(self, data: bytes, mapped: str) -> bytes:
        """:meth:`_push` of a piece of ASCII bytes, restored as UTF-8 (the fast path's call for a piece that may
        hold a token)."""
        return _encode_out(self._push(data.decode(), mapped, data))

    def _push_text(self, text: str, mapped: str) -> bytes:
        """:meth:`_push` of a piece of text, restored as UTF-8 (the compiled fast path's call for a piece that is
        not ASCII and may hold a token)."""
        return _encode_out(self._push(text, mapped))

    def _push(self, text: str, mapped: str, data: bytes | None = None) -> str:
        """push() of a piece that may hold a token (``mapped``: the piece through the restorer's run map;
        ``data``: the piece as ASCII bytes, when it came so)."""
        events = self._events
        if events is None:
            before = self._before
            if isinstance(before, bytes):  # the last piece of input, as bytes (see _feed_bytes)
                before = _last_char(before)
            restored, consumed = self._prefix(text, before, None, 0, False, mapped)
            if consumed:
                self.text = text[consumed:] if consumed < len(text) else ""
                self._before = text[consumed - 1]
            else:
                self.text = text
            return restored
        known = len(events)
        start = self.offset
        restored, consumed = self._prefix(text, self._last(), events, start, False, mapped)
        if not consumed:
            self.text = text
            return restored
        piece: str | bytes = text if data is None else data  # the input restored, as it came
        if consumed < len(text):
            self.text = text[consumed:]
            piece = piece[:consumed]
        else:
            self.text = ""
        self._book(piece, known, start, False)
        return restored

    def finish(self) -> str:
        """Restore and return the held tail, and start over (the next push begins a new text)."""
        held = self.text
        text = held if isinstance(held, str) else held.decode()
        events = self._events
        if events is None:
            before = self._before
            if isinstance(before, bytes):  # the last piece of input, as bytes (see _feed_bytes)
                before = _last_char(before)
            restored = self._restore(text, before=before) if text else ""
        else:
            known = len(events)
            start = self.offset
            restored = self._prefix(text, self._last(), events, start, True)[0]
            self._book(text, known, start, True)
        self._reset()
        return restored

    def _book(self, piece: str | bytes, known: int, start: int, final: bool) -> None:
        """Account for a piece of input restored from offset ``start`` (with a report; the tokens found in it
        are ``events[known:]``), and search for unknown token shapes when a batch is due (or at the end)."""
        events = self._events
        assert events is not None
        found = len(events) - known
        if found == 1:  # the usual piece: one token, written over here (see _blank())
            s, e, kind, token = events[known]
            fill = _FILLS.get(token) or _fill(token)
            if fill is not None and s >= start and e - start <= len(piece):
                piece = piece[: s - start] + fill[isinstance(piece, bytes)] + piece[e - start :]  # type: ignore[operator]
            else:
                self._spans.append((s, e, kind, token))
        elif found:
            piece = self._blank(piece, events, known, start)
        if piece:
            self._log.append(piece.encode("utf-8", "surrogatepass") if isinstance(piece, str) else piece)
        self.offset = start + len(piece)
        if final or self.offset >= self._due:
            self._scan(final)

    def _blank(self, piece: str | bytes, events: list[RawEvent], known: int, start: int) -> str | bytes:
        """``piece`` (input from offset ``start``) with the tokens found in it (``events[known:]``) written over,
        for the search of unknown token shapes, which must miss them: no shape can hold a ``z``, so each token's
        characters become ``z`` (its first and last stay when they are brackets: a shape beside it sees the same
        neighbours). A token of another kind (short, or at an edge a character no shape reads like a ``z``) is kept
        in ``_spans``."""
        size = len(piece)
        parts: list[str | bytes] = []
        pos = 0
        for s, e, kind, token in sorted(events[known:]):
            fill = _FILLS.get(token) or _fill(token)
            a = s - start
            b = e - start
            if fill is None or a < pos or b > size:  # (or overlapping: an ambiguous form)
                self._spans.append((s, e, kind, token))
                continue
            parts += (piece[pos:a], fill[isinstance(piece, bytes)])
            pos = b
        if not parts:
            return piece
        parts.append(piece[pos:])
        return "".join(parts) if isinstance(piece, str) else b"".join(parts)  # type: ignore[arg-type]

    def _last(self) -> str:
        """The last input character restored (with a report), or ``""`` (a token's last letter or digit may
        read ``z``: see _blank())."""
        log = self._log
        if not log:
            return ""
        return _last_char(log[-1])

    def catch_up(self) -> None:
        """Search what was restored since the last search for unknown token shapes now (the report is read)."""
        if self._events is not None and self._due - self.offset < _SCAN_BATCH:
            self._scan(False)

    def _scan(self, final: bool) -> None:
        """Report token-shaped strings that are not tokens of the map (as a whole-text report would).

        The shapes are searched in batches of input restored (``_log``), not piece by piece: one search of a few
        thousand characters costs about what one of a few dozen does, so the search costs about what a
        whole-text report's does. Each batch is searched from ``_SCAN_BACK`` characters before it (a shape may
        have been unfinished there), after the last shape settled; a shape that reaches the end of the input
        restored so far may go on, and is left to the next search (which starts again before it).
        """
        events = self._events
        assert events is not None
        log = self._log
        buf = _joined(log)
        end = len(buf)
        base = self.offset - end  # offset of buf[0]
        pos = max(self._from - base, 0)
        resume = -1  # where a shape that may go on starts
        spans = self._spans  # tokens not blanked (seldom any)
        known = Covered(spans) if len(spans) > 8 else None  # a batch may hold thousands of tokens
        for s, e in token_spans(buf, pos):
            if e == end and not final:  # more input may extend it (or make it no token at all)
                resume = base + s
                break
            found = buf[s:e]
            s += base
            e += base
            if not spans or not (known.overlaps(s, e) if known else any(s < sp[1] and sp[0] < e for sp in spans)):
                events.append((s, e, "unknown", found))
            self._seen = e
        kept = buf[-_SCAN_KEEP:]
        log[:] = [kept.encode("utf-8", "surrogatepass")] if kept else []
        # the next search starts before the shape that may go on, or where an unfinished one may start
        self._from = resume if resume >= 0 else max(self._seen, self.offset - _SCAN_BACK)
        self._due = self.offset + _SCAN_BATCH
        edge = self.offset - len(kept)
        if spans and spans[0][1] <= edge:
            spans[:] = [sp for sp in spans if sp[1] > edge]


def _feed_bytes(h: _Hold, chunk: bytes) -> bytes | None:
    """The text stream's fast path: restore a chunk of ASCII bytes (``None``: the chunk is empty or not ASCII, or
    the held text is not ASCII: the caller takes the general path).

    The usual chunk holds no token: it is restored as bytes, without decoding nor encoding, by what
    _Hold.push() does (see Pieces); a piece that may hold a token goes to _Hold._push_ascii(). This is the
    reference for ``anonymizer._speedups.HoldBase.feed_bytes``, which does the same compiled, and does itself what
    the Python code does for the usual pieces this hands on: a piece that holds one token, one that ends in a token
    cut short (as Restorer._prefix() and _tail() decide for them) and a piece of UTF-8 text that is not ASCII (as
    _Hold.push() restores it); the tests compare the two feed by feed.
    """
    if not chunk or not chunk.isascii():
        return None
    held = h.text
    if held:
        if isinstance(held, str):  # text held by _Hold._push()
            if not held.isascii():
                return None
            held = held.encode()
        data = held + chunk
    else:
        data = chunk
    # (bytes mapped in C, then searched as str: `bytes in bytes` is several times slower)
    mapped = data.translate(h._run_map).decode()
    if h._run in mapped:  # the piece may hold a token
        return h._push_ascii(data, mapped)
    keep: int | None = 0
    if mapped[-1] != " ":
        keep = h._ends.get(data[-h._end :])
        if keep is None:
            keep = h._tail(data, mapped)
    if keep:
        n = len(data)
        if keep == n:
            h.text = data
            return b""
        h.text = data[n - keep :]
        data = data[: n - keep]
    elif held:
        h.text = ""
    if h._events is None:
        h._before = data  # its last character, when it is needed
        return data
    h._log.append(data)  # what _Hold._book() does, inline
    h.offset += len(data)
    if h.offset >= h._due:
        h._scan(False)
    return data


# -------------------------------------------------------------------------------------------- protocol


class StreamRestorer:
    """The stream-restorer protocol: ``feed(chunk) -> bytes``, ``close() -> bytes``, plus state to inspect.

    Feed it the body's bytes as they arrive and send on whatever it returns; call :meth:`close` once at the
    end. It does no I/O and holds no lock: one restorer per stream, used from one task at a time.
    """

    __slots__ = ("_closed", "_events", "_holds", "_json_restorer", "_restorer", "malformed", "passed")

    def __init__(self, restorer: Restorer, *, report: bool = True) -> None:
        self._restorer = restorer
        self._closed = False
        self._events: list[RawEvent] | None = [] if report else None  # TokenEvent fields, built when read
        self._holds: dict[object, _Hold] = {}
        self._json_restorer: Restorer | None = None  # originals JSON-escaped, built when first needed
        self.malformed = 0
        """Lines or events that could not be parsed or had an unknown shape (passed through)."""
        self.passed = 0
        """Well-formed lines or events of other types, passed through untouched."""

    def feed(self, chunk: bytes, /) -> bytes:
        """Take the next chunk of the body; return the restored bytes that are now final (maybe ``b""``)."""
        raise NotImplementedError

    def __reduce__(self) -> NoReturn:
        raise ArgumentTypeError(
            f"a {type(self).__name__} cannot be pickled or copied: it holds the originals it restores and its place in "
            "one response (make one per response, from the session)"
        )

    def close(self) -> bytes:
        """End of the body: return everything still held, restored. The restorer cannot be fed again."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def held(self) -> int:
        """Characters of text held back now because they could still become (part of) a token."""
        return sum(len(h.text) for h in self._holds.values())

    @property
    def pending(self) -> int:
        """Bytes held back now because they are an incomplete character, line or event."""
        return 0

    @property
    def report(self) -> RestoreReport:
        """Tokens restored, altered, ambiguous and unknown so far (positions: see the module docstring).

        Empty when the restorer was built with ``report=False`` (which saves about a quarter of the cost of a feed).
        Unknown tokens are searched for in batches as the text is restored; reading the report searches the rest
        of what was restored so far (a shape that may still go on is reported once it cannot).
        """
        for h in self._holds.values():  # each hold searches for unknown token shapes in batches: catch up
            h.catch_up()
        events = sorted(self._events or (), key=_start)
        return RestoreReport(tuple(TokenEvent(s, e, kind, found) for s, e, kind, found in events))

    def _hold(self, key: object) -> _Hold:
        h = self._holds.get(key)
        if h is None:
            h = self._holds[key] = _Hold(self._restorer, self._events)
        return h

    def _json_hold(self, key: object) -> _Hold:
        """A hold for a JSON text arriving in pieces (function arguments): originals go in JSON-escaped, so a
        ``"`` or ``\\`` in an original keeps the text valid JSON (tokens stand inside its string literals)."""
        h = self._holds.get(key)
        if h is None:
            h = self._holds[key] = _Hold(self._json_escaping(), self._events)
        return h

    def _json_escaping(self) -> Restorer:
        """The restorer for JSON texts: the same map with every original JSON-escaped (the restorer itself when
        no original needs escaping, the usual case)."""
        r = self._json_restorer
        if r is None:
            originals = self._restorer.replacements
            if any(_NEEDS_ESCAPE.search(o) for o in originals.values()):
                r = Restorer({t: _json_escape(o) for t, o in originals.items()})
            else:
                r = self._restorer
            self._json_restorer = r
        return r

    def _check_open(self) -> None:
        if self._closed:
            raise StreamError("the stream restorer was fed after close()")

    def _restore_bytes(self, data: bytes) -> bytes:
        """Restore malformed input as plain text (on its own), keeping every byte that has no token."""
        text = data.decode("utf-8", "surrogateescape")
        restored = self._restorer.restore(text)
        return data if restored == text else _encode(restored)


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _json_escape(original: str) -> str:
    """``original`` as it stands inside a JSON string literal."""
    return json.dumps(original, ensure_ascii=False)[1:-1]


def _as_bytes(chunk: object) -> bytes:
    """A chunk fed as a bytes-like object, as bytes; anything else (a ``str`` above all) is refused."""
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    raise ArgumentTypeError(f"feed() takes bytes, not {type(chunk).__name__} (encode text as UTF-8 first)")


# ------------------------------------------------------------------------------------------------ text


class TextStreamRestorer(StreamRestorer):
    """Plain UTF-8 text (``fmt="text"``). Invalid bytes pass through unchanged."""

    __slots__ = ("_fast", "_slow", "_text", "_undecoded")

    def __init__(self, restorer: Restorer, *, report: bool = True) -> None:
        super().__init__(restorer, report=report)
        self._text = self._hold("text")
        self._undecoded = b""  # the bytes of an incomplete UTF-8 character at the end of the last chunk
        self._slow = False  # whether feed() must take _feed_other(): closed, or _undecoded holds bytes
        # the fast path for a chunk of ASCII bytes: compiled, or _feed_bytes() (bound once: a call costs as much
        # as the rest of it)
        self._fast: Callable[[bytes], bytes | None] = (
            self._text.feed_bytes if SPEEDUPS else MethodType(_feed_bytes, self._text)
        )

    def feed(self, chunk: bytes, /) -> bytes:
        """Take the next chunk; return the restored text that is final, as UTF-8."""
        if self._slow or type(chunk) is not bytes:
            return self._feed_other(chunk)
        out = self._fast(chunk)
        return self._feed_text(chunk) if out is None else out

    def _feed_other(self, chunk: bytes) -> bytes:
        """feed() of a chunk that is not bytes, or after an incomplete character or close()."""
        if type(chunk) is not bytes:
            chunk = _as_bytes(chunk)
        self._check_open()
        if self._undecoded or not chunk.isascii():
            return self._feed_text(chunk)
        return self.feed(chunk) if chunk else b""

    def _feed_text(self, chunk: bytes) -> bytes:
        """feed() of a chunk that is not ASCII, or follows an incomplete character, or held text that is not."""
        if self._undecoded:
            chunk = self._undecoded + chunk
            self._undecoded = b""
            self._slow = False
        # what codecs' incremental decoder does, without its Python-level wrapper
        text, used = _utf8_decode(chunk, "surrogateescape", False)
        if used != len(chunk):
            self._undecoded = chunk[used:]
            self._slow = True
        return _encode_out(self._text.push(text)) if text else b""

    def close(self) -> bytes:
        """Return the held tail (and any incomplete character's bytes), restored."""
        self._check_open()
        self._closed = self._slow = True
        tail = _utf8_decode(self._undecoded, "surrogateescape", True)[0]  # an incomplete character: escaped bytes
        self._undecoded = b""
        out = self._text.push(tail) if tail else ""
        return _encode(out + self._text.finish())

    @property
    def pending(self) -> int:
        """Bytes of an incomplete UTF-8 character."""
        return len(self._undecoded)


# --------------------------------------------------------------------------------------------- lines


class _LineStreamRestorer(StreamRestorer):
    """Split the body into ``\\n``-terminated lines; subclasses handle one line at a time."""

    __slots__ = ("_partial",)

    def __init__(self, restorer: Restorer, *, report: bool = True) -> None:
        super().__init__(restorer, report=report)
        self._partial = bytearray()  # an incomplete line: grows in place (a 1 MB line in 64-byte chunks is linear)

    def feed(self, chunk: bytes, /) -> bytes:
        """Take the next chunk; return the restored lines that are now complete."""
        if type(chunk) is not bytes:
            chunk = _as_bytes(chunk)
        self._check_open()
        cut = chunk.rfind(b"\n")  # only the new bytes are searched
        if cut < 0:
            self._partial += chunk
            return b""
        if self._partial:
            self._partial += chunk
            data = bytes(self._partial)
            cut += len(data) - len(chunk)
        else:
            data = chunk
        self._partial = bytearray(data[cut + 1 :])
        out = bytearray()
        for line in data[:cut].split(b"\n"):
            if line.endswith(b"\r"):
                self._line(line[:-1], b"\r\n", out)
            else:
                self._line(line, b"\n", out)
        return bytes(out)

    def close(self) -> bytes:
        """Return the restored rest: an unterminated last line (counted as malformed) and the held tails."""
        self._check_open()
        self._closed = True
        out = bytearray()
        partial, self._partial = bytes(self._partial), bytearray()
        self._end(partial, out)
        return bytes(out)

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line."""
        return len(self._partial)

    def _line(self, line: bytes, term: bytes, out: bytearray) -> None:
        raise NotImplementedError

    def _end(self, partial: bytes, out: bytearray) -> None:
        raise NotImplementedError

    def _malformed(self, line: bytes, term: bytes, out: bytearray) -> None:
        self.malformed += 1
        out += self._restore_bytes(line)
        out += term


class SecurityNdjsonRestorer(_LineStreamRestorer):
    """Kibana's security chat/complete stream (``fmt="security.ndjson"``): payloads restored as one text."""

    __slots__ = ("_payload",)

    def __init__(self, restorer: Restorer, *, report: bool = True) -> None:
        super().__init__(restorer, report=report)
        self._payload = self._hold("payload")

    def _parse(self, line: bytes) -> Any:
        """The parsed line when it is a content line; ``None`` for other JSON; ``_INVALID`` when not JSON."""
        obj = _loads(line)
        if obj is _INVALID:
            return obj
        if isinstance(obj, dict) and obj.get("type") == "content" and isinstance(obj.get("payload"), str):
            return obj
        return None

    def _line(self, line: bytes, term: bytes, out: bytearray) -> None:
        if not line.strip():
            out += line + term
            return
        obj = self._parse(line)
        if obj is _INVALID:
            self._malformed(line, term, out)
        elif obj is None:
            self.passed += 1
            out += line + term
        elif obj["payload"]:
            restored = self._payload.push(obj["payload"])
            if restored or obj.keys() != {"payload", "type"}:  # a bare content line is deferred
                obj["payload"] = restored
                out += _dumps(obj) + term
        else:
            out += line + term

    def _end(self, partial: bytes, out: bytearray) -> None:
        obj = self._parse(partial) if partial.strip() else None
        if partial:
            self.malformed += 1  # the stream ended mid-line
        if isinstance(obj, dict) and obj is not _INVALID:  # the last line, unterminated: the tail joins it
            obj["payload"] = self._payload.push(obj["payload"]) + self._payload.finish()
            out += _dumps(obj)
            return
        tail = self._payload.finish()
        if tail:
            out += _dumps({"payload": tail, "type": "content"}) + b"\n"
        out += self._restore_bytes(partial) if obj is _INVALID else partial


class ObservabilityNdjsonRestorer(_LineStreamRestorer):
    """The Observability AI Assistant's NDJSON events (``fmt="observability.ndjson"``).

    ``split_on_id=True`` ends a message when a chunk of another id arrives (off by default: Kibana's inference
    path gives every chunk of one message a fresh id).
    """

    __slots__ = ("_content", "_last_id", "_open", "_split_on_id")

    _ENDS_MESSAGE: Final = frozenset({"chatCompletionMessage", "messageAdd", "chatCompletionError"})
    _WHOLE: Final = frozenset(
        {
            "chatCompletionMessage",
            "messageAdd",
            "chatCompletionError",
            "conversationCreate",
            "conversationUpdate",
            "confirmationRequired",
        }
    )

    def __init__(self, restorer: Restorer, *, report: bool = True, split_on_id: bool = False) -> None:
        super().__init__(restorer, report=report)
        self._split_on_id = split_on_id
        self._content = self._hold("content")
        self._last_id: Any = None
        self._open = False

    def _line(self, line: bytes, term: bytes, out: bytearray) -> None:
        if not line.strip():
            out += line + term
            return
        obj = _loads(line)
        if obj is _INVALID:
            self._malformed(line, term, out)
            return
        kind = obj.get("type") if isinstance(obj, dict) else None
        message = obj.get("message") if isinstance(obj, dict) else None
        if kind == "chatCompletionChunk" and isinstance(message, dict):
            if self._open and self._split_on_id and obj.get("id") != self._last_id:
                self._end_message(out, term)
            self._chunk(message)
            self._open, self._last_id = True, obj.get("id")
            out += _dumps(obj) + term
            return
        if kind in self._ENDS_MESSAGE:
            self._end_message(out, term)
        if kind in self._WHOLE:
            out += _dumps(obj) + term if self._whole(kind, obj) else line + term
            return
        if isinstance(kind, str):
            self.passed += 1
        else:
            self.malformed += 1  # JSON, but not an event
        out += line + term

    def _chunk(self, message: dict[str, Any]) -> None:
        content = message.get("content")
        if isinstance(content, str) and content:
            message["content"] = self._content.push(content)
        call = message.get("function_call")
        if isinstance(call, dict):
            args = call.get("arguments")
            if isinstance(args, str) and args:
                call["arguments"] = self._json_hold("arguments").push(args)

    def _whole(self, kind: str, event: dict[str, Any]) -> bool:
        """Restore the texts of an event that carries them whole, in place; whether anything changed."""
        if kind == "messageAdd":
            added = event.get("message")
            return isinstance(added, dict) and self._message(added.get("message"))
        if kind == "chatCompletionMessage":
            return self._message(event.get("message"))
        if kind == "chatCompletionError":
            return self._field(event.get("error"), "message", json=False)
        if kind == "confirmationRequired":
            changed = self._field(event, "functionCallArguments", json=True)
            return self._field(event.get("confirmationConfig"), "message", json=False) or changed
        return self._field(event.get("conversation"), "title", json=False)  # conversationCreate/-Update

    def _message(self, message: Any) -> bool:
        """A whole message: ``content`` (a JSON text in a function's answer), ``function_call.arguments`` and
        ``data`` (JSON texts)."""
        if not isinstance(message, dict):
            return False
        role = message.get("role")
        answer = role == "function" or (role == "user" and "name" in message)
        changed = self._field(message, "content", json=answer)
        changed = self._field(message.get("function_call"), "arguments", json=True) or changed
        return self._field(message, "data", json=True) or changed

    def _field(self, container: Any, key: str, *, json: bool) -> bool:
        """Restore ``container[key]`` when it is a non-empty string; whether it changed."""
        text = container.get(key) if isinstance(container, dict) else None
        if not isinstance(text, str) or not text:
            return False
        restorer = self._restorer
        if json and restorer.restore(text) != text:
            restorer = self._json_escaping()
        h = _Hold(restorer, self._events)
        restored = h.push(text) + h.finish()
        container[key] = restored
        return restored != text

    def _end_message(self, out: bytearray, term: bytes) -> None:
        if not self._open:
            return
        self._open = False
        held = self._holds.get("arguments")
        content, args = self._content.finish(), held.finish() if held else ""
        if not content and not args:
            return
        message: dict[str, Any] = {}
        if content:
            message["content"] = content
        if args:
            message["function_call"] = {"arguments": args}
        out += _dumps({"type": "chatCompletionChunk", "id": self._last_id, "message": message}) + term

    def _end(self, partial: bytes, out: bytearray) -> None:
        if partial:
            counted = self.malformed
            self._line(partial, b"", out)
            self.malformed = counted + 1  # the stream ended mid-line (counted once)
            if self._open and (self._content.text or self.held):
                out += b"\n"
        self._end_message(out, b"\n")


class OpenAISseRestorer(_LineStreamRestorer):
    """OpenAI-compatible server-sent events (``fmt="openai.sse"``): chunk deltas restored per choice.

    Each ``data:`` line is an event's data on its own, whether events are separated by blank lines (the SSE
    norm) or follow each other on single newlines (as some of Kibana's own fixtures write them): every line is
    restored and emitted as soon as it is complete, and every restored ``data:`` line is valid JSON.
    """

    __slots__ = ("_data_lines", "_event", "_last", "_newline", "_single")

    def __init__(self, restorer: Restorer, *, report: bool = True) -> None:
        super().__init__(restorer, report=report)
        self._event: list[tuple[bytes, bytes]] = []  # field lines (event:, id:, comments) before a data line
        self._data_lines = 0  # data lines of the current event so far
        self._single = False  # whether events follow each other on single newlines (several data lines in one)
        self._last: dict[str, Any] | None = None  # the last chunk (its id, model, ... go on flush events)
        self._newline = b"\n"

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line, or of field lines waiting for their event's data."""
        return len(self._partial) + sum(len(line) + len(t) for line, t in self._event)

    def _line(self, line: bytes, term: bytes, out: bytearray) -> None:
        if not line:  # the end of an event
            self._newline = term
            _write(self._event, out)
            self._event, self._data_lines = [], 0
            out += term
        elif not _sse_field(line):  # not SSE: restored as text
            self.malformed += 1
            self._event.append((self._restore_bytes(line), term))
        elif line.startswith(b"data:"):
            self._data(line, term, out)
        else:
            self._event.append((line, term))

    def _data(self, line: bytes, term: bytes, out: bytearray) -> None:
        """One ``data:`` line, restored; held tails go out before a ``[DONE]`` or an error."""
        value = line[6:] if line.startswith(b"data: ") else line[5:]
        self._single = self._single or self._data_lines > 0
        if value.strip() == b"[DONE]":
            self._flush(out)
        else:
            obj = _loads(value)
            if obj is _INVALID:
                self.malformed += 1
                line = self._restore_bytes(line)
            elif isinstance(obj, dict) and isinstance(obj.get("choices"), list):
                self._chunk(obj)
                line = line[: len(line) - len(value)] + _dumps(obj)
            elif isinstance(obj, dict) and "error" in obj:
                self.passed += 1
                self._flush(out)
            else:
                self.malformed += 1  # JSON of an unknown shape
        self._event.append((line, term))
        _write(self._event, out)
        self._event = []
        self._data_lines += 1

    def _chunk(self, obj: dict[str, Any]) -> None:
        self._last = obj
        for n, choice in enumerate(obj["choices"]):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", n)
            if not isinstance(index, int | str):
                index = n
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(index, delta)
            if choice.get("finish_reason") is not None:
                if not isinstance(delta, dict):
                    delta = choice["delta"] = {}
                self._finish_choice(index, delta)

    def _delta(self, index: Any, delta: dict[str, Any]) -> None:
        for field in _DELTA_TEXTS:
            text = delta.get(field)
            if isinstance(text, str) and text:
                delta[field] = self._hold((index, field)).push(text)
        call = delta.get("function_call")
        if isinstance(call, dict):
            args = call.get("arguments")
            if isinstance(args, str) and args:
                call["arguments"] = self._json_hold((index, "function_call")).push(args)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for m, tool in enumerate(calls):
                fn = tool.get("function") if isinstance(tool, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str) and fn["arguments"]:
                    at = tool.get("index", m)
                    key = (index, "tool_calls", at if isinstance(at, int | str) else m)
                    fn["arguments"] = self._json_hold(key).push(fn["arguments"])

    def _tails(self, index: Any) -> dict[str, Any]:
        """Finish every hold of one choice; the tails as a delta (empty when nothing was held)."""
        delta: dict[str, Any] = {}
        for key in [k for k in self._holds if isinstance(k, tuple) and k[0] == index]:
            tail = self._holds.pop(key).finish()
            if not tail:
                continue
            if key[1] == "function_call":
                delta["function_call"] = {"arguments": tail}
            elif key[1] == "tool_calls":
                delta.setdefault("tool_calls", []).append({"index": key[2], "function": {"arguments": tail}})
            else:
                delta[key[1]] = tail
        return delta

    def _finish_choice(self, index: Any, delta: dict[str, Any]) -> None:
        """The choice ends in this chunk: its held tails go into this delta."""
        tails = self._tails(index)
        for field in _DELTA_TEXTS:
            if field in tails:
                before = delta.get(field)
                delta[field] = (before if isinstance(before, str) else "") + tails[field]
        if "function_call" in tails:
            call = delta.get("function_call")
            if not isinstance(call, dict):
                call = delta["function_call"] = {}
            call["arguments"] = (call.get("arguments") or "") + tails["function_call"]["arguments"]
        for tool in tails.get("tool_calls", ()):
            calls = delta.get("tool_calls")
            if not isinstance(calls, list):
                calls = delta["tool_calls"] = []
            calls.append(tool)

    def _flush(self, out: bytearray) -> None:
        """Held tails of every choice go out as one extra chunk: as one more data line of the current event when
        events are framed by single newlines, else as an event of its own."""
        indices = list(dict.fromkeys(k[0] for k in self._holds if isinstance(k, tuple)))
        choices = [{"index": i, "delta": d, "finish_reason": None} for i in indices if (d := self._tails(i))]
        if not choices:
            return
        last = self._last or {}
        event = {k: (choices if k == "choices" else last[k]) for k in last if k in _FLUSH_KEYS}
        event.setdefault("choices", choices)
        nl = self._newline
        if self._single and self._data_lines:
            out += b"data: " + _dumps(event) + nl
        else:
            out += (nl if self._data_lines else b"") + b"data: " + _dumps(event) + nl + nl

    def _end(self, partial: bytes, out: bytearray) -> None:
        if partial:
            counted = self.malformed
            self._line(partial, b"", out)
            self.malformed = counted + 1  # the stream ended mid-line
        _write(self._event, out)
        self._event = []
        flush = bytearray()
        self._flush(flush)
        if flush:
            out += (self._newline if partial else b"") + flush


#: The text fields of a chunk's ``delta`` restored as streams of their own (besides function and tool call
#: arguments): OpenAI's ``content`` and ``refusal``, and the reasoning text some compatible servers add.
_DELTA_TEXTS: Final = ("content", "refusal", "reasoning_content", "reasoning")
_FLUSH_KEYS: Final = frozenset({"id", "object", "created", "model", "choices"})
_SSE_FIELDS: Final = frozenset({b"data", b"event", b"id", b"retry", b""})  # b"": a comment


def _sse_field(line: bytes) -> bool:
    """Whether ``line`` is an SSE field this format knows (or a comment)."""
    return line.partition(b":")[0] in _SSE_FIELDS


def _write(lines: list[tuple[bytes, bytes]], out: bytearray) -> None:
    for line, term in lines:
        out += line
        out += term


# ------------------------------------------------------------------------------------------ factories


_CLASSES: Final[dict[str, Callable[..., StreamRestorer]]] = {
    "text": TextStreamRestorer,
    "security.ndjson": SecurityNdjsonRestorer,
    "observability.ndjson": ObservabilityNdjsonRestorer,
    "openai.sse": OpenAISseRestorer,
}


def restorer_for(restorer: Restorer, fmt: str, *, report: bool = True) -> StreamRestorer:
    """A new stream restorer for ``fmt`` (one of :data:`FORMATS`) using ``restorer``'s map.

    ``report=False`` keeps no :attr:`~StreamRestorer.report` (a proxy that does not log it feeds faster).

    >>> r = restorer_for(Restorer({"<USER_NAME_1>": "jdoe"}), "text")
    >>> r.feed(b"hello <USER_"), r.feed(b"NAME_1>, bye"), r.close()
    (b'hello ', b'jdoe, bye', b'')

    Raises :class:`~anonymizer.errors.StreamError` for an unknown format.
    """
    cls = _CLASSES.get(fmt)
    if cls is None:
        raise StreamError(f"unknown stream format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return cls(restorer, report=report)


def error_event(fmt: str, flushed: bytes, message: str) -> bytes:
    """What a stream of ``fmt`` says when it fails mid-way, in Kibana's own words, to append after ``flushed``
    (the last bytes sent): ``chatCompletionError`` for observability NDJSON, an ``error`` event then ``[DONE]``
    for OpenAI SSE, nothing for the formats that have no error event (security NDJSON, text).

    >>> error_event("observability.ndjson", b"", "cut")
    b'{"error":{"message":"cut","code":"internalError"},"type":"chatCompletionError"}\\n'
    """
    sep = b"" if not flushed or flushed.endswith(b"\n") else b"\n"
    if fmt == "observability.ndjson":
        event = {"error": {"message": message, "code": "internalError"}, "type": "chatCompletionError"}
        return sep + orjson.dumps(event) + b"\n"
    if fmt == "openai.sse":
        return sep + b"\ndata: " + orjson.dumps({"error": {"message": message}}) + b"\n\ndata: [DONE]\n\n"
    return b""


def restore_iter(stream: StreamRestorer, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Restore a sync iterable of chunks (a WSGI body, ``httpx.Response.iter_bytes()``); no empty chunks.

    >>> r = restorer_for(Restorer({"<USER_NAME_1>": "jdoe"}), "text")
    >>> b"".join(restore_iter(r, [b"hi <USER_NAME", b"_1>"]))
    b'hi jdoe'
    """
    feed = stream.feed
    for chunk in chunks:
        out = feed(chunk)
        if out:
            yield out
    out = stream.close()
    if out:
        yield out


async def restore_aiter(stream: StreamRestorer, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Restore an async iterable of chunks (an ASGI body, ``httpx.Response.aiter_bytes()``); no empty chunks."""
    feed = stream.feed
    async for chunk in chunks:
        out = feed(chunk)
        if out:
            yield out
    out = stream.close()
    if out:
        yield out
