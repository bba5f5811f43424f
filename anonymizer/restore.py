"""Restoring model output: tokens back to originals, in one literal pass.

A :class:`Restorer` is compiled once from a replacements map (token -> original) and then restores any number
of texts. Its cost is linear in the text and flat in the size of the map: every token is searched for at once
by one Aho-Corasick automaton, never one replace-all per token (Kibana's algorithm, whose cost grows with the
map and which re-scans what it already inserted).

What it restores:

* **exact tokens**, literally and case-sensitively, leftmost then longest, never re-scanning what it inserted;
* **altered tokens** whose change is unambiguous, for tokens of the shapes this library mints: a UUID whose
  case changed or whose hyphens were dropped, a placeholder ``<USER_NAME_1>`` whose brackets were lost,
  swapped for ``[...]``/``{...}`` or whose case changed, a mask ``HOST_NAME_<hex>`` whose case changed.
  Altered forms must stand as whole words (``user_name_10`` is not ``user_name_1``). If an altered form fits
  two tokens of the map it is left as it is and reported ``ambiguous``.

:meth:`Restorer.restore_with_report` also reports **unknown tokens**: strings of a token shape that are not in
the map (invented by the model, or from another conversation). They are left untouched. A report holds
positions, kinds and the token text as found, never an original.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate, chain, islice
from operator import itemgetter
from typing import Literal

from ._literal import LiteralMatcher, merge_spans
from ._literal import fold as _fold
from ._text import is_word as _is_word
from .errors import ArgumentTypeError
from .tokens import MASK_PATTERN, PLACEHOLDER_PATTERN, UUID_PATTERN

__all__ = [
    "EventKind",
    "Pieces",
    "RestoreReport",
    "Restored",
    "Restorer",
    "TokenEvent",
    "replace_literal",
    "token_shaped",
    "token_spans",
]

EventKind = Literal["restored", "altered", "ambiguous", "unknown"]
RawEvent = tuple[int, int, EventKind, str]  # a TokenEvent's fields, for callers that build events lazily

_UUID_RE = re.compile(UUID_PATTERN + r"\Z")
_PLACEHOLDER_RE = re.compile(r"<([A-Za-z][A-Za-z0-9_]*)>\Z")
_MASK_RE = re.compile(MASK_PATTERN + r"\Z")
_OPENERS = {"[": "]", "{": "}", "<": ">"}
_OPENER_ITEMS = frozenset([*_OPENERS, *"".join(_OPENERS).encode()])  # the openers, as str and as bytes' items
# Restorer._scan_placeholders(): placeholders as minted, the end of a name, the characters of a name
_CANONICAL_PLACEHOLDER = re.compile(PLACEHOLDER_PATTERN)
_NAME_TAIL = re.compile(r"_[0-9A-Za-z]*[0-9](?!\w)")  # a name ends in _<digits>, or in _<tag>, whose last is one
_NAME_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

# UUID-shaped tokens are found without an automaton: a UUID (or its 32-hex form) is a run of 32+ hex digits
# and hyphens, and such runs are rare in prose. The text is mapped to bytes ("x" for a hex digit or hyphen,
# " " for anything else, one byte per character), then decoded, and str.find skips ahead to every run of 32 "x".
_HEX_MAP = bytes(0x78 if chr(b) in "0123456789abcdefABCDEF-" else 0x20 for b in range(256))
_HEX_RUN = "x" * 32
_UUID_IN_RUN = re.compile(UUID_PATTERN)

# Hold-back memo (Restorer._memo): windows of a trailing run of at most _MEMO_RUN key characters (word
# endings such as "the", "ed" or "network" when letters are key characters) and the character before it; at most
# _MEMO_SIZE of them per restorer.
_MEMO_RUN = 12
_MEMO_SIZE = 4096
# Restorer._ends: the hold-backs of runs shorter than _ENDS, known by the last _ENDS characters of the piece (which
# then hold the window)
_ENDS = 5
_HEAD_SIZE = 4  # Restorer._hold() tests the start of a suffix against those of the keys before bisecting
_NO_KEY, _WHOLE_KEY, _LONGER_KEY = 0, 1, 2  # what Restorer._starts_key() answers

# Token-shaped strings, for the unknown-token report (token_spans()): placeholders start with a literal "<",
# which re skips to; UUIDs and masks each hold a run of 32 or more hex digits (and hyphens), so they are only
# searched around such runs (found in C through _HEX_MAP), not at every position of the text.
_PLACEHOLDER_SHAPE_RE = re.compile(PLACEHOLDER_PATTERN)
_HEX_SHAPES = (
    rf"(?<![0-9A-Za-z]){UUID_PATTERN}(?![0-9A-Za-z])",
    rf"(?<![0-9A-Za-z_]){MASK_PATTERN}(?![0-9A-Za-z_])",
)
_HEX_SHAPES_RE = re.compile("|".join(_HEX_SHAPES))
_MASK_SHAPE_RE = re.compile(_HEX_SHAPES[1])
_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")  # no UUID may touch these
_LABEL_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_")  # a mask's label, before its hex digits


# uuid_tokens(): lower-case hex digits to "x", hyphens kept, anything else (the "\n" between tokens too) to "?"
_UUID_SHAPE = bytes(0x78 if chr(b) in "0123456789abcdef" else 0x2D if b == 0x2D else 0x3F for b in range(256))
_BATCH = 512  # tokens checked per C-level pass (large temporaries cost page faults)
_UUID_BATCH = (b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx?" * _BATCH)[:-1]


def uuid_tokens(tokens: Collection[str]) -> bool:
    """Whether every token is a lower-case UUID (as the ``uuid`` and ``keyed`` strategies mint them).

    A few C-level passes over the joined tokens, no Python loop per token: a session resumed from a stored map
    of such tokens restores without building any index. Raises ``TypeError`` when a token is not a string.
    """
    it = iter(tokens)
    plain = bool(tokens)
    for _ in range(0, len(tokens), _BATCH):
        batch = "\n".join(islice(it, _BATCH))
        if plain:
            shape = batch.encode("utf-8", "surrogatepass").translate(_UUID_SHAPE)
            plain = shape == _UUID_BATCH if len(shape) == len(_UUID_BATCH) else shape == _UUID_BATCH[: len(shape)]
            plain = plain and shape[-1] != 0x3F
    return plain


def _bare_uuid_spans(text: str, start: int, end: int, open_left: bool, open_right: bool) -> list[tuple[int, int]]:
    """The pieces of ``text[start:end]`` (hex digits and hyphens) that are 32 hex digits between hyphens.

    A piece glued to a UUID (no hyphen between, ``open_left``/``open_right`` false at that end) is no
    candidate: whether it is one must not depend on what follows it, or a stream would decide differently.
    """
    spans = []
    pos = start
    pieces = text[start:end].split("-")
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        if len(piece) == 32 and (i or open_left) and (i < last or open_right):
            spans.append((pos, pos + 32))
        pos += len(piece) + 1
    return spans


def _lower_same_length(text: str) -> str:
    """``text.lower()``, keeping every character at its index (U+0130 lowers to two characters)."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One token seen while restoring: where (``start``/``end`` in the input text), what, and the text found.

    ``kind`` is ``restored`` (an exact token put back), ``altered`` (an altered token put back),
    ``ambiguous`` (an altered form that fits several tokens; left as is) or ``unknown`` (token-shaped but
    not in the map; left as is). ``found`` is the token text as it stood in the input, never an original.
    """

    start: int
    end: int
    kind: EventKind
    found: str


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore did: counts and positions of restored, altered and unknown tokens. Holds no original."""

    events: tuple[TokenEvent, ...] = ()

    def _count(self, *kinds: EventKind) -> int:
        return sum(1 for e in self.events if e.kind in kinds)

    @property
    def restored(self) -> int:
        """Tokens put back (exact or altered)."""
        return self._count("restored", "altered")

    @property
    def altered(self) -> int:
        """Altered tokens seen (restored or, when ambiguous, left as they were)."""
        return self._count("altered", "ambiguous")

    @property
    def ambiguous(self) -> int:
        """Altered tokens that fit several tokens of the map and were left as they were."""
        return self._count("ambiguous")

    @property
    def unknown(self) -> int:
        """Token-shaped strings that are not in the map (left as they were)."""
        return self._count("unknown")

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary (for logs and audits): counts plus ``[start, end, kind]`` triples."""
        return {
            "restored": self.restored,
            "altered": self.altered,
            "ambiguous": self.ambiguous,
            "unknown": self.unknown,
            "events": [[e.start, e.end, e.kind] for e in self.events],
        }


@dataclass(frozen=True, slots=True)
class Restored:
    """A restored text and the report of what was done to it."""

    text: str
    report: RestoreReport


class Covered:
    """Spans ``(start, end, ...)``, answering whether a span overlaps any of them in O(log n) (a report checks
    every token-shaped string against the tokens found, and a text may hold thousands of each)."""

    __slots__ = ("_reach", "_starts")

    def __init__(self, spans: Iterable[tuple[int, int, *tuple[object, ...]]]) -> None:
        ordered = sorted(spans)
        self._starts = [span[0] for span in ordered]
        self._reach = list(accumulate((span[1] for span in ordered), max))  # the furthest end so far

    def overlaps(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` overlaps one of the spans."""
        i = bisect_left(self._starts, end)  # the spans that start before ``end``
        return i > 0 and self._reach[i - 1] > start


def token_shaped(text: str) -> bool:
    """Whether ``text`` has the shape of a token this library mints (UUID, placeholder or mask)."""
    return bool(_UUID_RE.match(text) or _PLACEHOLDER_RE.match(text) or _MASK_RE.match(text))


def _uuid_shaped(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]``, a run of hex digits and hyphens, has a UUID's shape (hyphens in its places)."""
    return (
        end - start == 36
        and text[start + 8] == text[start + 13] == text[start + 18] == text[start + 23] == "-"
        and text.count("-", start, end) == 4
    )


def token_spans(text: str, pos: int = 0, *, uuids: bool = True) -> list[tuple[int, int]]:
    """The spans of the token-shaped strings (UUID, placeholder, mask) in ``text`` from ``pos``, in order.

    A shape stands as a whole word: a UUID or mask glued to letters or digits is none. ``uuids=False`` leaves
    UUIDs out. The time is linear in the text: most of it is passed over in C.

    >>> token_spans("<USER_NAME_1> on HOST_NAME_0123456789abcdef0123456789abcdef, not x<Y_2")
    [(0, 13), (17, 59)]
    """
    spans: list[tuple[int, int]] = []
    if "<" in text:
        spans = [m.span() for m in _PLACEHOLDER_SHAPE_RE.finditer(text, pos)]
    n = len(text)
    if n - pos < 32 or (text.find("-", pos) < 0 and text.find("_", pos) < 0):  # a UUID holds "-", a mask "_"
        return spans
    mapped = text.encode("ascii", "replace").translate(_HEX_MAP).decode()
    run = mapped.find(_HEX_RUN, pos)
    if run < 0:
        return spans
    pattern = _HEX_SHAPES_RE if uuids else _MASK_SHAPE_RE
    hexed: list[tuple[int, int]] = []
    done = pos  # where the last window ended: a window starts after it
    while run >= 0:
        end = mapped.find(" ", run + 32)
        if end < 0:
            end = n
        if (
            uuids
            and _uuid_shaped(text, run, end)
            and (not run or text[run - 1] not in _ALNUM)
            and (end == n or text[end] not in _ALNUM)
        ):  # the usual run: one UUID standing alone (the regex would find just that)
            hexed.append((run, end))
        # (a mask's hex digits follow the "_" that ends its label: without UUIDs, no other run need be searched)
        elif uuids or (run and text[run - 1] == "_"):
            start = run
            while start > done and text[start - 1] in _LABEL_CHARS:  # the label of a mask
                start -= 1
            hexed += [m.span() for m in pattern.finditer(text, start, min(end + 1, n))]
        done = end
        run = mapped.find(_HEX_RUN, end)
    if not spans:
        return hexed
    return sorted(spans + hexed)


def _altered_keys(token: str) -> tuple[str, ...]:
    """Lower-case forms under which an altered copy of ``token`` is recognized (empty: exact only)."""
    if _UUID_RE.match(token):
        low = token.lower()
        return (low, low.replace("-", ""))
    m = _PLACEHOLDER_RE.match(token)
    if m:
        return (m.group(1).lower(),)
    if _MASK_RE.match(token):
        return (token.lower(),)
    return ()


class Restorer:
    """A compiled, immutable snapshot of a replacements map that restores texts in one pass.

    >>> r = Restorer({"<USER_NAME_1>": "jdoe", "<HOST_NAME_1>": "srv-01"})
    >>> r.restore("<USER_NAME_1> logged on to [HOST_NAME_1]")
    'jdoe logged on to srv-01'

    ``altered=False`` restores exact tokens only (Kibana's literal semantics). Safe to share across threads.
    """

    __slots__ = (
        "_alphabet",
        "_altered",
        "_can_hold",
        "_ends",
        "_exact",
        "_heads",
        "_held_keys",
        "_hex_only",
        "_keys",
        "_lower",
        "_lower_targets",
        "_max_len",
        "_memo",
        "_originals",
        "_ph_len",
        "_placeholders",
        "_plain",
        "_ready",
        "_run",
        "_run_map",
        "_uuids",
    )

    def __init__(self, replacements: Mapping[str, str], *, altered: bool = True) -> None:
        if not isinstance(replacements, Mapping):
            raise ArgumentTypeError(
                f"replacements must be a mapping of token -> original, not {type(replacements).__name__}"
            )
        originals = dict(replacements)
        originals.pop("", None)
        self._init(originals, altered)

    @classmethod
    def _adopt(cls, originals: dict[str, str], plain: bool | None = None) -> Restorer:
        """A restorer that takes ``originals`` (no empty token) as its own map, without a copy: the caller never
        changes it again (:class:`~anonymizer.engine.Session` copies its map before binding more tokens).
        ``plain``: what :func:`uuid_tokens` says of the map, when the caller knows it."""
        self = cls.__new__(cls)
        self._init(originals, True)
        self._plain = plain
        return self

    def _init(self, originals: dict[str, str], altered: bool) -> None:
        # Only the map is kept now: everything else is derived when first needed (a session resumed from a
        # stored map, restoring one answer, pays about a dict build; see _uuid_only() and _compile()).
        self._originals = originals
        self._altered = altered
        self._plain: bool | None = None  # every token a lower-case UUID (None: not checked yet)
        self._placeholders: bool | None = None  # every token a placeholder as minted (None: not checked yet)
        self._ph_len = 0  # the longest placeholder name (when _placeholders)
        self._ready = False  # whether _compile() ran

    def _uuid_only(self) -> bool:
        """Whether every token is a lower-case UUID (checked in bulk, at C speed, once): such a map needs no
        compiled index at all, as _scan_hex() finds every candidate by its shape and looks it up."""
        plain = self._plain
        if plain is None:
            plain = self._plain = uuid_tokens(self._originals)
        return plain

    def _placeholders_only(self) -> bool:
        """Whether every token is a placeholder as :class:`~anonymizer.tokens.PlaceholderTokens` mints them
        (``<LABEL_N_TAG>`` or ``<LABEL_N>``, upper case): such a map needs no compiled index either (see
        _scan_placeholders())."""
        known = self._placeholders
        if known is None:
            tokens = self._originals
            known = bool(tokens) and all(map(_CANONICAL_PLACEHOLDER.fullmatch, tokens))
            self._ph_len = max(map(len, tokens)) - 2 if known else 0
            self._placeholders = known
        return known

    def _compile(self) -> None:
        """Build the automata and the stream hold-back tables (once, when first needed)."""
        if self._ready:
            return
        altered = self._altered
        foreign: list[str] = []  # tokens of no known shape: restored exactly, never in an altered form
        # key (a lower-case form) -> the tokens it may stand for
        targets: dict[str, list[str]] = {}
        searched: list[str] = []  # keys found by the automaton (UUID-shaped tokens are found by _scan_hex)
        held: Iterable[str]  # the keys a stream must see a character after (see _held_keys below)
        tokens = list(self._originals)
        # The maps a session mints (every token a UUID, or every one a placeholder) are found by their shape, never
        # by the automata: their keys are derived in bulk (C-level passes; a session resumed from a stored map of
        # 10,000 tokens streams its first answer without a per-token Python loop), as the loop below would.
        if altered and tokens and self._uuid_only():
            bare = [t.replace("-", "") for t in tokens]
            buckets = [[t] for t in tokens]  # (each token's one-element list, under both its keys)
            targets = dict(zip(tokens, buckets, strict=True))
            targets.update(zip(bare, buckets, strict=True))
            held = bare
            self._uuids = hex_only = True
        elif altered and tokens and self._placeholders_only():
            lower = [t.lower() for t in tokens]
            names = [t[1:-1] for t in lower]
            buckets = [[t] for t in tokens]
            targets = dict(zip(lower, buckets, strict=True))
            targets.update(zip(names, buckets, strict=True))
            held = names
            self._uuids = hex_only = False
        else:
            self._uuids = False
            for token in tokens:
                keys = _altered_keys(token) if altered else ()
                if not keys:
                    foreign.append(token)
                    continue
                is_uuid = _UUID_RE.match(token) is not None
                self._uuids = self._uuids or is_uuid
                for key in (token.lower(), *keys):
                    bucket = targets.get(key)
                    if bucket is None:
                        bucket = targets[key] = []
                        if not is_uuid:
                            searched.append(key)
                    if token not in bucket:
                        bucket.append(token)
            # A bare placeholder name can run on (user_name_1 -> user_name_10), so its altered form needs a
            # non-word character after it, and a stream waits for that character. Hex shapes have a fixed length.
            # The same holds for a UUID without its hyphens: 32 hex digits followed by more are not a token.
            held = [m.group(1).lower() for t in tokens if altered and (m := _PLACEHOLDER_RE.match(t))] + [
                t.lower().replace("-", "") for t in tokens if altered and _UUID_RE.match(t)
            ]
            hex_only = not searched and not foreign  # every token is a UUID: _scan_hex() finds them all
        self._lower_targets = targets
        self._lower = LiteralMatcher(searched)
        self._exact = LiteralMatcher(foreign)
        self._hex_only = hex_only
        self._max_len = max(map(len, tokens), default=0)
        # Stream hold-back: every searchable key (lower-case), sorted, to test "is this a prefix of a key".
        keys_sorted = sorted({*targets, *(_fold(t) for t in foreign)})
        self._keys: list[str] = keys_sorted
        self._held_keys = frozenset(held)
        # the first _HEAD_SIZE characters of every key, and each shorter start of one (built when first needed)
        self._heads: frozenset[str] | None = None
        self._can_hold = bool(keys_sorted) and self._max_len >= 2  # whether holdback() can be non-zero
        # holdback() of short ASCII windows, as str or as bytes (a cache, see _tail(); the map stays immutable)
        self._memo: dict[str | bytes, int] = {}
        # the same, by a piece's last _ENDS characters: what a stream looks up before it calls _tail() (see Pieces)
        self._ends: dict[str | bytes, int] = {}
        # Every character of every key: a suffix holding any other character is no key's prefix, so
        # holdback() only looks at the trailing run of these characters (str.rstrip finds it in C).
        self._alphabet = "".join(sorted(set("".join(keys_sorted))))
        # restore_prefix() fast path: any token (exact or altered) in a text is a run of at least _run
        # characters of the alphabet, in either case. _run_map maps those bytes (and "?", which stands for
        # any non-ASCII character after encode("ascii", "replace")) to "x" and all others to " ".
        shortest = min(min(map(len, keys_sorted), default=1), min(map(len, tokens), default=1))
        self._run = "x" * max(1, shortest)
        # When every token is a UUID, every hex digit is taken in (more than needed, which is allowed): _run_map
        # is then _HEX_MAP on ASCII text without "?", and _scan_hex() reuses what restore_prefix() mapped.
        # An opener that is no key character maps to "o": a piece whose mapped form ends in a space holds
        # nothing back (see Pieces), without a call to _tail().
        run_chars = self._alphabet + ("0123456789abcdef-" if self._hex_only else "")
        self._run_map = (
            bytes(
                0x78 if b == 0x3F or chr(b).lower() in run_chars else 0x6F if chr(b) in _OPENERS else 0x20
                for b in range(128)
            )
            + b"x" * 128
        )

        self._ready = True

    # ------------------------------------------------------------------ public

    @property
    def replacements(self) -> dict[str, str]:
        """The map this restorer was built from (a copy)."""
        return dict(self._originals)

    @property
    def max_token_length(self) -> int:
        """Length of the longest token in the map (0 for an empty map)."""
        self._compile()
        return self._max_len

    def __len__(self) -> int:
        return len(self._originals)

    def restore(self, text: str, *, before: str = "") -> str:
        """Replace every token of the map in ``text`` by its original, in one pass.

        ``before`` is the text that precedes ``text`` (only its last character is read), so that a text
        restored piece by piece gives the same result as restoring it whole.
        """
        if type(text) is not str and not isinstance(text, str):
            raise ArgumentTypeError(f"restore takes a string, not {type(text).__name__}")
        if not self._originals or not text:
            return text
        parts: list[str] = []
        pos = 0
        for start, end, original, _ in self._scan(text, before):
            parts.append(text[pos:start])
            parts.append(original)
            pos = end
        if pos == 0:
            return text
        parts.append(text[pos:])
        return "".join(parts)

    def restore_with_report(self, text: str, *, before: str = "") -> Restored:
        """Like :meth:`restore`, and also report restored, altered, ambiguous and unknown tokens."""
        if not isinstance(text, str):
            raise ArgumentTypeError(f"restore_with_report takes a string, not {type(text).__name__}")
        events: list[TokenEvent] = []
        parts: list[str] = []
        pos = 0
        for start, end, original, kind in self._scan(text, before, report=events):
            parts.append(text[pos:start])
            parts.append(original)
            pos = end
            events.append(TokenEvent(start, end, kind, text[start:end]))
        parts.append(text[pos:])
        seen = Covered((ev.start, ev.end) for ev in events)  # holds every covered span too
        for s, e in token_spans(text, uuids=False):  # (unknown UUIDs were reported by _scan_hex())
            if not seen.overlaps(s, e):
                events.append(TokenEvent(s, e, "unknown", text[s:e]))
        events.sort(key=lambda ev: ev.start)
        return Restored("".join(parts), RestoreReport(tuple(events)))

    def holdback(self, text: str) -> int:
        """How many trailing characters of ``text`` could still become (part of) a token with more input.

        A stream restorer emits ``text[:len(text) - holdback(text)]`` and keeps the rest. The result is
        always shorter than the longest token of the map.
        """
        self._compile()
        if not self._keys or not text or self._max_len < 2:
            return 0
        return self._hold(text, len(text))

    def _hold(self, text: str, run: int) -> int:
        """:meth:`holdback` of a non-empty ``text`` (when the map has a key), whose last ``run`` characters (or
        fewer) are the only ones that may be key characters (``len(text)``: not known)."""
        window = text[-(self._max_len - 1) :]
        low = _fold(window)
        keys = self._keys
        heads = self._heads
        if heads is None:
            longest = set(map(itemgetter(slice(0, _HEAD_SIZE)), keys))  # (few: keys share their starts)
            heads = self._heads = frozenset(
                chain(longest, (h[:size] for h in longest for size in range(1, min(len(h), _HEAD_SIZE))))
            )
        n = len(low)
        # a suffix holding a character of no key is no key's prefix: only the trailing run of key characters
        # is tried (from where the caller says it may start, or found here)
        for i in range(n - run if run < n else len(low.rstrip(self._alphabet)), n):
            if low[i : i + _HEAD_SIZE] not in heads:  # no key starts like low[i:] (cheaper than bisecting)
                continue
            suffix = low[i:]
            starts = self._starts_key(suffix)
            if starts == _NO_KEY:
                continue
            if starts == _WHOLE_KEY and (window[i:] in self._originals or suffix not in self._held_keys):
                continue  # a complete token: nothing more can change it
            held = n - i
            if i > 0 and window[i - 1] in _OPENERS:  # keep a bracket that may belong to the token
                held += 1
            return held
        return 1 if window[-1] in _OPENERS else 0

    def restore_prefix(self, text: str, *, before: str = "") -> tuple[str, int]:
        """Restore the part of ``text`` that no further input can change; for stream restorers.

        Returns ``(restored, consumed)``: the restored form of ``text[:consumed]``. The caller keeps
        ``text[consumed:]`` and puts the next input after it. Restoring a text piece by piece this way (and
        the last piece with :meth:`restore`, passing ``before``) gives exactly :meth:`restore` of the whole.
        """
        self._compile()
        return self._prefix(text, before, None, 0, False)

    def pieces(self) -> Pieces:
        """The interface of stream restorers (:mod:`anonymizer.stream`) to this restorer; see :class:`Pieces`."""
        self._compile()
        return Pieces(self)

    def _prefix(
        self,
        text: str,
        before: str,
        events: list[RawEvent] | None,
        offset: int,
        final: bool,
        mapped: str | None = None,
    ) -> tuple[str, int]:
        """:meth:`restore_prefix` (or, when ``final``, :meth:`restore` as ``(restored, len(text))``).

        With ``events``, also append ``(start + offset, end + offset, kind, found)`` for every token restored,
        altered or ambiguous in ``text[:consumed]`` (unknown tokens are left to the caller). ``mapped`` is
        ``text`` through ``_run_map`` (as str), when the caller has it already.
        """
        n = len(text)
        if not n or not self._originals:
            return text, n
        if mapped is None:  # one character per character; searched as str (`bytes in bytes` is slower)
            mapped = text.encode("ascii", "replace").translate(self._run_map).decode()
        if final or not self._can_hold or mapped[-1] == " ":
            cut = n
        else:
            held = self._ends.get(text[-_ENDS:])
            cut = n - (self._tail(text, mapped) if held is None else held)
        if self._run not in mapped:  # no token can be in text: nothing to restore
            return (text, n) if cut == n else (text[:cut], cut)
        # The usual piece of a stream holds one run long enough for a token, and it is exactly a token of the map:
        # every match lies within such a run, and no match can beat the run's own exact token there.
        run = self._run
        p = mapped.find(run)
        if p >= cut:  # every match lies in such a run: none starts before the cut (a token the stream holds back)
            return text[:cut], cut
        e = mapped.find(" ", p + len(run))  # the end of that run: a space or an opener ("o")
        if e < 0:
            e = n
        if "o" in mapped:
            o = mapped.find("o", p, e)
            e = e if o < 0 else o
        if e < cut and mapped.find(run, e) == -1:
            token = text[p:e]
            original = self._originals.get(token)
            if original is not None:
                if events is not None:
                    events.append((p + offset, e + offset, "restored", token))
                return f"{text[:p]}{original}{text[e:cut]}", cut
        found_events: list[TokenEvent] | None = [] if events is not None else None
        parts: list[str] = []
        pos = 0
        if self._hex_only:
            # _run_map is _HEX_MAP there, but for "?" (non-ASCII) and openers ("o")
            hex_mapped = mapped if text.isascii() and "?" not in text and "o" not in mapped else None
            found = self._scan_hex(text, before, found_events, hex_mapped)
        else:
            found = self._scan(text, before, found_events)
        for start, end, original, kind in found:
            if start >= cut:
                break
            parts.append(text[pos:start])
            parts.append(original)
            if events is not None:
                events.append((start + offset, end + offset, kind, text[start:end]))
            pos = end
            if end > cut:  # a complete token straddles the cut: it is final, so emit it whole
                rest = text[end:]
                cut = len(text) - self.holdback(rest) if rest else end
        parts.append(text[pos:cut])
        if found_events:
            assert events is not None
            ambiguous = [
                (e.start + offset, e.end + offset, e.kind, e.found)
                for e in found_events
                if e.kind == "ambiguous" and e.start < cut
            ]
            events.extend(ambiguous)
        return "".join(parts), cut

    # ----------------------------------------------------------------- private

    def _tail(self, piece: str | bytes, mapped: str) -> int:
        """How many trailing characters of ``piece`` to hold back, when it holds no token (``mapped``, the piece
        through ``_run_map``, has no ``_run``): every stream's hold-back decision, in this one place.

        ``piece`` is text, or ASCII text as bytes (a stream fed ASCII need not decode it). Only the trailing run
        of characters that lower into the key alphabet (or are not ASCII) can start a token, and a bracket
        before it may belong to one. The same few word endings come back again and again: the hold-back of an
        ASCII window of at most ``_MEMO_RUN`` such characters and the one before them is memoized (an ASCII
        window lowers as it does inside a longer text, so its hold-back is the text's). A run of ``_ENDS`` or more
        characters is first tried whole as the start of a key (one bisect): a token cut short, mostly, which seldom
        comes back and is not memoized; _hold() searches its shorter suffixes only when it is not.
        """
        n = len(piece)
        run = n - len(mapped.rstrip("x"))
        if not run:
            return 1 if piece[-1] in _OPENER_ITEMS else 0
        if _ENDS <= run < self._max_len - 1:  # a longer run: a token cut short, mostly
            low = piece[-run:].lower()
            if isinstance(low, bytes):
                low = low.decode()
            # (lowered alike in any text) the whole run a proper prefix of a key: the longest suffix _hold() would find
            if low.isascii() and self._starts_key(low) == _LONGER_KEY:
                return run + 1 if run < n and piece[-run - 1] in _OPENER_ITEMS else run
        if run <= _MEMO_RUN:
            window = piece[-run - 1 :]
            held = self._memo.get(window)
            if held is None and run + 1 < self._max_len and window.isascii():
                held = self._hold(window if isinstance(window, str) else window.decode(), run + 1)
                if len(self._memo) < _MEMO_SIZE:
                    self._memo[window] = held
            if held is not None:
                # (the last _ENDS characters hold the window)
                if run < _ENDS and n >= _ENDS and len(self._ends) < _MEMO_SIZE:
                    self._ends[piece[-_ENDS:]] = held
                return held
        text = piece if isinstance(piece, str) else piece[-self._max_len :].decode()
        return self._hold(text, run)

    def _starts_key(self, low: str) -> int:
        """Whether keys start with ``low`` (lower-case): ``_NO_KEY``, ``_WHOLE_KEY`` (it is a key, and no longer key
        starts with it) or ``_LONGER_KEY`` (a longer key does)."""
        keys = self._keys
        j = bisect_left(keys, low)
        if j == len(keys) or not keys[j].startswith(low):
            return _NO_KEY
        if keys[j] != low or (j + 1 < len(keys) and keys[j + 1].startswith(low)):
            return _LONGER_KEY
        return _WHOLE_KEY

    def _scan(
        self, text: str, before: str, report: list[TokenEvent] | None = None
    ) -> list[tuple[int, int, str, EventKind]]:
        """Matches to replace: ``(start, end, original, kind)``, non-overlapping, in text order."""
        # no index needed when every candidate is found by its shape (and none is faster, compiled or not)
        if self._uuid_only():
            return self._scan_hex(text, before, report)
        if self._placeholders_only():
            by_shape = self._scan_placeholders(text, before, report)
            if report is not None and len(text) >= 32:  # unknown UUIDs
                return merge_spans(self._scan_hex(text, before, report), by_shape)
            return by_shape
        self._compile()
        found: list[tuple[int, int, str, EventKind]] = []
        if self._uuids or (report is not None and len(text) >= 32):
            found = self._scan_hex(text, before, report)
            if self._hex_only:
                return found
        if self._lower.patterns:
            keys = self._lower.patterns
            last_end = 0
            shaped: list[tuple[int, int, str, EventKind]] = []
            for idx, start, end in self._lower.find(_lower_same_length(text)):
                hit = self._resolve(text, before, keys[idx], start, end, report)
                if hit is not None and hit[0] >= last_end:
                    shaped.append(hit)
                    last_end = hit[1]
            found = merge_spans(found, shaped)
        if self._exact.patterns:
            exact: list[tuple[int, int, str, EventKind]] = [
                (s, e, self._originals[self._exact.patterns[i]], "restored") for i, s, e in self._exact.find(text)
            ]
            found = merge_spans(found, exact)
        return found

    def _scan_hex(
        self, text: str, before: str, report: list[TokenEvent] | None, mapped: str | None = None
    ) -> list[tuple[int, int, str, EventKind]]:
        """UUID-shaped tokens: exact ones, altered ones (case changed, hyphens dropped) and, for a report,
        unknown ones. ``mapped``: ``text`` through ``_HEX_MAP`` (as str), when the caller has it."""
        found: list[tuple[int, int, str, EventKind]] = []
        originals = self._originals
        # every run of 32 or more hex digits and hyphens: "x" runs in the text mapped one character per character
        # (searched as str: `bytes in bytes` and bytes.find are slower)
        if mapped is None:
            mapped = text.encode("ascii", "replace").translate(_HEX_MAP).decode()
        find = mapped.find
        pos = find(_HEX_RUN)
        while pos != -1:
            end = find(" ", pos + 32)
            if end == -1:
                end = len(mapped)
            start = pos
            pos = find(_HEX_RUN, end)
            while text[start] == "-":
                start += 1
            while text[end - 1] == "-":
                end -= 1
            size = end - start
            if size < 32:
                continue
            run = text[start:end]
            original = originals.get(run) if size in (36, 32) else None
            if original is not None:  # the usual case: the run is one token (and holds no other UUID)
                found.append((start, end, original, "restored"))
                continue
            if _uuid_shaped(text, start, end) or (
                size == 32 and "-" not in run
            ):  # the run is one UUID (or one UUID without its hyphens)
                spans: list[tuple[int, int]] = [(start, end)]
            else:  # several UUIDs, or UUIDs glued to other hex: the UUIDs, and 32-hex pieces between hyphens
                spans = []
                last = start
                for m in _UUID_IN_RUN.finditer(run):
                    spans += _bare_uuid_spans(text, last, start + m.start(), last == start, False)
                    spans.append((start + m.start(), start + m.end()))
                    last = start + m.end()
                spans += _bare_uuid_spans(text, last, end, last == start, True)
            for s, e in spans:
                candidate = text[s:e]
                original = originals.get(candidate)
                if original is not None:
                    found.append((s, e, original, "restored"))
                    continue
                tokens = self._uuid_targets(candidate) if self._altered else None
                prev = text[s - 1] if s > 0 else (before[-1] if before else "")
                standalone = not (prev and _is_word(prev))
                if tokens and standalone and len(tokens) == 1:
                    found.append((s, e, originals[tokens[0]], "altered"))
                elif report is not None and standalone and (tokens or e - s == 36):
                    report.append(TokenEvent(s, e, "ambiguous" if tokens else "unknown", candidate))
        return found

    def _scan_placeholders(
        self, text: str, before: str, report: list[TokenEvent] | None
    ) -> list[tuple[int, int, str, EventKind]]:
        """Placeholder tokens, exact and altered, found by shape (a name ending in a digit after ``_``) and looked up,
        when every token of the map is a placeholder as minted: the same matches _scan() finds with automata."""
        found: list[tuple[int, int, str, EventKind]] = []
        originals = self._originals
        altered = self._altered
        window = self._ph_len
        n = len(text)
        last = 0
        for m in _NAME_TAIL.finditer(text):
            tail, end = m.span()
            low = max(0, tail - window)
            head = text[low:tail]
            p = tail - (len(head) - len(head.rstrip(_NAME_CHARS)))
            prev = text[p - 1] if p else (before[-1] if before else "")
            if (p == low and low > 0 and _is_word(prev)) or not ("A" <= text[p] <= "Z" or "a" <= text[p] <= "z"):
                continue  # longer than any token, or a name that cannot start here
            bracketed = prev == "<" and end < n and text[end] == ">"
            if bracketed:
                original = originals.get(text[p - 1 : end + 1])
                if original is not None:  # an exact token
                    if p - 1 >= last:
                        found.append((p - 1, end + 1, original, "restored"))
                        last = end + 1
                    continue
            if not altered:
                continue
            name = text[p:end]
            original = originals.get(f"<{name.upper()}>")
            if original is None or not name.isascii():
                continue
            start, stop = (p - 1, end + 1) if bracketed else (p, end)
            if bracketed:
                prev = text[start - 1] if start else (before[-1] if before else "")
            if prev and _is_word(prev):  # an altered form must stand alone
                continue
            nxt = text[stop] if stop < n else ""
            if not bracketed and prev in _OPENERS and nxt == _OPENERS[prev]:  # [USER_NAME_1] / {..} around a name
                start -= 1
                stop += 1
            if start >= last:
                found.append((start, stop, original, "altered"))
                last = stop
        return found

    def _uuid_targets(self, candidate: str) -> list[str] | None:
        """The tokens an altered UUID (case changed, hyphens dropped) may stand for."""
        if self._ready:
            return self._lower_targets.get(candidate.lower())
        # every token is a lower-case UUID (_uuid_only()): the candidate's canonical form is the only one
        key = candidate.lower()
        if len(key) == 32:
            key = f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:]}"
        return [key] if key in self._originals else None

    def _resolve(
        self,
        text: str,
        before: str,
        key: str,
        start: int,
        end: int,
        report: list[TokenEvent] | None,
    ) -> tuple[int, int, str, EventKind] | None:
        found = text[start:end]
        original = self._originals.get(found)
        if original is not None:
            return (start, end, original, "restored")
        candidates = self._lower_targets[key]
        if not candidates or not found.isascii():
            return None
        # An altered form must stand alone: no word character glued before it (nor after a bare name).
        prev = text[start - 1] if start > 0 else (before[-1] if before else "")
        nxt = text[end] if end < len(text) else ""
        if (prev and _is_word(prev)) or (nxt and _is_word(nxt) and key in self._held_keys):
            return None
        # [USER_NAME_1] / {..} / <..> around a bare placeholder name: the brackets were the token's. Around
        # any other token (a mask has no brackets of its own) they are the text's and stay.
        bare = found[0] not in _OPENERS
        if bare and prev in _OPENERS and nxt == _OPENERS[prev] and _PLACEHOLDER_RE.match(candidates[0]):
            start -= 1
            end += 1
        if len(candidates) > 1:
            if report is not None:
                report.append(TokenEvent(start, end, "ambiguous", text[start:end]))
            return None
        return (start, end, self._originals[candidates[0]], "altered")


class Pieces:
    """How a stream restorer restores a text that arrives in pieces, bound once from a :class:`Restorer`.

    The interface between :mod:`anonymizer.stream` (which owns framing, buffers and the report's bookkeeping)
    and the restorer (which owns every decision about tokens)::

        mapped = piece.translate(pieces.run_map).decode()   # piece: bytes of ASCII text; str: encode first
        if pieces.run in mapped:                            # the piece may hold a token
            restored, consumed = pieces.prefix(text, before, events, offset, False, mapped)
        elif mapped[-1] != " ":                             # it holds none: only its end may start one
            held = pieces.ends.get(piece[-pieces.end:])     # known by its last characters, or
            if held is None:
                held = pieces.tail(piece, mapped)           # emit piece[:len(piece) - held], keep the rest

    ``run_map`` maps every byte of a character a token may hold to ``x`` (and every non-ASCII byte too, as
    ``encode("ascii", "replace")`` gives ``?``), a bracket that may open a token to ``o``, every other byte to
    a space. A token is a run of at least ``len(run)`` ``x`` (``run`` is ``""`` when nothing can ever be held:
    every piece takes ``prefix``); a piece without one whose mapped form ends in a space holds nothing back.
    ``prefix`` is :meth:`Restorer.restore_prefix` that also appends the events of the tokens it restores
    (``final=True``: the end of the text, nothing held). ``tail`` is the hold-back of a piece without a token;
    ``ends`` holds those it found for short word endings, by the piece's last ``end`` characters (a dictionary
    lookup costs a fraction of a call; ``tail`` fills it).
    ``restore`` is :meth:`Restorer.restore` (a held tail, once the text has ended). ``originals`` is the map
    (token to original), ``keys`` every key lower-case and sorted, ``longest`` the longest token's length, ``memo``
    the hold-backs ``tail`` found for trailing runs of at most ``memo_run`` characters, by the run and the character
    before it, all read only, by the compiled fast path (``anonymizer._speedups``): it restores the usual piece, one
    run that is exactly a token, as ``prefix`` does, and holds a token cut short (one bisect of ``keys``) or a word
    ending seen before (``memo``) as ``tail`` does.
    """

    __slots__ = (
        "end",
        "ends",
        "keys",
        "longest",
        "memo",
        "memo_run",
        "originals",
        "prefix",
        "restore",
        "run",
        "run_map",
        "tail",
    )

    def __init__(self, restorer: Restorer) -> None:
        self.memo: dict[str | bytes, int] = restorer._memo
        self.memo_run = _MEMO_RUN
        self.originals: Mapping[str, str] = restorer._originals
        self.keys: list[str] = restorer._keys
        self.longest: int = restorer._max_len
        self.ends: dict[str | bytes, int] = restorer._ends
        self.end = _ENDS
        self.run_map: bytes = restorer._run_map
        self.run: str = restorer._run if restorer._can_hold else ""
        self.tail = restorer._tail
        self.prefix = restorer._prefix
        self.restore = restorer.restore


def replace_literal(text: str, mapping: Mapping[str, str]) -> str:
    """Replace every key of ``mapping`` found in ``text`` by its value: one pass, leftmost then longest.

    Literal and case-sensitive; what is inserted is never searched again; empty keys are ignored.

    >>> replace_literal("foobar foo", {"foo": "1", "foobar": "2"})
    '2 1'
    """
    keys = [k for k in mapping if k]
    if not keys or not text:
        return text
    matcher = LiteralMatcher(keys)
    parts: list[str] = []
    pos = 0
    for idx, start, end in matcher.find(text):
        parts.append(text[pos:start])
        parts.append(mapping[keys[idx]])
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
