"""Finding the known originals of a session inside free text.

A match must stand as a whole word on each side where the original itself starts or ends with a word character
(``str.isalnum()`` or ``_``): ``root`` is not found inside ``rootkit``, nor ``10.1.2.3`` inside ``10.1.2.30``.
Originals are found in any case (``JDOE`` is a case variant of ``jdoe``); the caller decides what a variant
becomes (the session gives it a token of its own, so restoring gives back the text as it was).

How, and why it stays cheap as the conversation grows:

* every original is indexed by its lower-cased text, and by its *first part*: its leading run of word
  characters, or its first character when that is not a word character. Adding one is a few dictionary and set
  insertions; nothing is ever rebuilt, so a conversation that binds tokens message after message pays the same
  per message at its end as at its start;
* a search lower-cases the text, splits it into its runs of word characters in C (``bytes.translate`` then
  ``split``), and intersects them with the set of first parts: only first parts that occur as whole runs are
  looked for (``str.find``, skipping to the next run when an occurrence is inside a longer one), and the
  non-word first characters that occur. At each such position, the text of each length an original of that
  first part has is looked up, longest first;
* the kept matches are leftmost, then longest, never overlapping, and nothing is collected per overlap: twenty
  originals ``aaa...`` against a megabyte of ``a`` is one run that is no first part. The work is linear in the
  text (when many first parts occur, every run is visited once instead of searching each).

The session's own tokens are indexed too and kept as they are (in any case), so text that already holds tokens
(an earlier answer of the model, say) never has an original rewritten inside a token.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate

from ._literal import fold
from ._text import is_word

__all__ = ["FreeTextFinder", "Span", "build"]

Span = tuple[int, int, str]  # start, end, replacement
_SEP = "\x00"  # joins texts searched in one call; no original may contain it
_TOKEN = ""  # the base of an index entry that is a token (kept as it is, in any case)
_LEADING_RUN = re.compile(r"\w+")  # \w is str.isalnum() or "_", as the whole-word rule has it
_NOT_WORD = re.compile(r"\W")
# ASCII word characters stay, every other byte becomes a space: bytes.split() then gives the runs of word characters
_RUNS_MAP = bytes(b if (chr(b).isalnum() or b == 0x5F) and b < 128 else 0x20 for b in range(256))
_FIRSTS = re.compile(_SEP + r"(\w+|[^\w" + _SEP + "])").findall  # the first part of each text joined with _SEP
_OTHER_FIRSTS = re.compile(_SEP + r"([^\w" + _SEP + "])").findall
_FEW = 16  # first parts up to which each is looked for in a text, rather than splitting the text into runs
_PLUS_ONE = (1).__add__
_SCAN_ALL = 32  # first parts present in a text above which every run is visited once rather than searched for


class FreeTextFinder:
    """The originals and tokens of one session, found in free text; grows with the session, never rebuilt.

    Not thread-safe on its own: the session calls it under its lock.
    """

    __slots__ = ("_index", "_lengths", "_originals", "_others", "_sep_ok", "_tokens", "_words")

    def __init__(self, originals: Mapping[str, str], tokens: Mapping[str, str]) -> None:
        # The session's own maps (not copies): original -> its token, and token -> original. Only what add()
        # indexes is searched for; these say what an exact text found stands for.
        self._originals = originals
        self._tokens = tokens
        self._index: dict[str, str] = {}  # folded text -> the first original bound under it (_TOKEN: a token)
        # first part -> length of the indexed texts it starts (several: a tuple, longest first)
        self._lengths: dict[str, int | tuple[int, ...]] = {}
        self._words: set[str] = set()  # first parts that are runs of word characters
        self._others: set[str] = set()  # first parts that are one other character
        self._sep_ok = True  # no indexed text holds _SEP

    def __bool__(self) -> bool:
        return bool(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def retarget(self, tokens: Mapping[str, str]) -> None:
        """The session's token map is now ``tokens`` (it copied its map)."""
        self._tokens = tokens

    def add(self, text: str, *, token: bool = False) -> None:
        """Search for ``text`` (an original of the session, or with ``token=True`` a token, kept as it is)."""
        if not text:
            return
        key = text.lower() if text.isascii() else fold(text)
        index = self._index
        if key in index:
            if token:
                index[key] = _TOKEN
            return
        index[key] = _TOKEN if token else text
        m = _LEADING_RUN.match(key)
        first = m.group() if m else key[0]
        known = self._lengths.get(first)
        size = len(key)
        if known is None:
            self._lengths[first] = size
            (self._words if is_word(first[0]) else self._others).add(first)
        elif isinstance(known, int):
            if known != size:
                self._lengths[first] = (size, known) if size > known else (known, size)
        elif size not in known:
            self._lengths[first] = tuple(sorted((*known, size), reverse=True))
        if _SEP in text:
            self._sep_ok = False

    def spans(self, text: str, variant: Callable[[str, str], str]) -> list[Span]:
        """Non-overlapping ``(start, end, replacement)`` in text order: leftmost first, then longest.

        ``variant(found, original)`` gives the replacement of ``found``, a case variant of the indexed
        ``original`` (it may add ``found`` to this finder).
        """
        if not self._index or not text:
            return []
        return self._find(text, variant)

    def spans_many(self, texts: Sequence[str], variant: Callable[[str, str], str]) -> list[list[Span]]:
        """:meth:`spans` for many texts, searched in one call when possible."""
        out: list[list[Span]] = [[] for _ in texts]
        for i, spans in self.spans_by_text(texts, variant).items():
            out[i] = spans
        return out

    def spans_by_text(self, texts: Sequence[str], variant: Callable[[str, str], str]) -> dict[int, list[Span]]:
        """:meth:`spans` for many texts, searched in one call when possible: ``{index: spans}`` of the texts
        that have any."""
        if not self._index:
            return {}
        joined = _SEP.join(texts)
        if len(texts) < 2 or not self._sep_ok or joined.count(_SEP) != len(texts) - 1:
            return {i: found for i, t in enumerate(texts) if (found := self.spans(t, variant))}
        found = self._find(joined, variant)
        if not found:
            return {}
        starts = list(accumulate(map(_PLUS_ONE, map(len, texts)), initial=0))
        out: dict[int, list[Span]] = {}
        for start, end, rep in found:
            i = bisect_right(starts, start) - 1
            base = starts[i]
            spans = out.get(i)
            if spans is None:
                spans = out[i] = []
            spans.append((start - base, end - base, rep))
        return out

    def _candidates(self, folded: str) -> list[tuple[int, str]]:
        """Every position where an indexed text may start, with its first part, in text order."""
        words = self._words
        if len(words) <= _FEW:  # a few first parts: test each (in C), no need to split the text
            present = {w for w in words if w in folded}
        elif folded.isascii():
            present = words.intersection(folded.encode().translate(_RUNS_MAP).decode().split())
        else:
            present = words.intersection(_LEADING_RUN.findall(folded))
        found: list[tuple[int, str]] = []
        n = len(folded)
        if len(present) > _SCAN_ALL:  # many first parts occur: visit every run once
            for m in _LEADING_RUN.finditer(folded):
                if m.group() in present:
                    found.append((m.start(), m.group()))
        else:
            find = folded.find
            for first in present:
                size = len(first)
                at = find(first)
                while at != -1:
                    end = at + size
                    if (at == 0 or not is_word(folded[at - 1])) and (end == n or not is_word(folded[end])):
                        found.append((at, first))
                        at = find(first, end)
                    else:  # inside a longer run: go on after it
                        gap = _NOT_WORD.search(folded, end)
                        if gap is None:
                            break
                        at = find(first, gap.start())
        for first in self._others:
            if first in folded:
                at = folded.find(first)
                while at != -1:
                    found.append((at, first))
                    at = folded.find(first, at + 1)
        found.sort()
        return found

    def _find(self, text: str, variant: Callable[[str, str], str]) -> list[Span]:
        folded = fold(text)
        candidates = self._candidates(folded)
        if not candidates:
            return []
        index = self._index
        originals = self._originals
        tokens = self._tokens
        lengths = self._lengths
        n = len(folded)
        out: list[Span] = []
        after = 0  # the end of the last match
        for start, first in candidates:
            if start < after:
                continue
            known = lengths[first]
            for size in (known,) if isinstance(known, int) else known:  # longest first: the first one found wins
                end = start + size
                if end > n:
                    continue
                base = index.get(folded[start:end])
                if base is None:
                    continue
                if end < n and is_word(folded[end]) and is_word(folded[end - 1]):
                    continue  # not a whole word on the right
                found = text[start:end]
                rep = originals.get(found)
                if rep is None:  # a token, or an original in another case
                    rep = found if not base or found in tokens else variant(found, base)
                out.append((start, end, rep))
                after = end
                break
        return out


def build(originals: Mapping[str, str], tokens: Mapping[str, str], min_length: int) -> FreeTextFinder:
    """A finder of the session maps ``originals`` (original -> token: those of ``min_length`` characters or
    more are searched for) and ``tokens`` (token -> original: kept as they are). :meth:`FreeTextFinder.add` of
    each, done in a few C-level passes (and no container per entry) when every text is ASCII."""
    finder = FreeTextFinder(originals, tokens)
    searched = [o for o in originals if len(o) >= min_length]
    kept = [t for t in tokens if t not in originals]  # a token that is also an original is indexed as one
    texts = [*searched, *kept]
    joined = _SEP.join(texts)
    if not texts or not joined.isascii() or joined.count(_SEP) != len(texts) - 1:
        for original in searched:
            finder.add(original)
        for token in kept:
            finder.add(token, token=True)
        return finder
    folded = joined.lower()
    keys = folded.split(_SEP)
    cut = len(searched)
    index = dict(zip(reversed(keys[:cut]), reversed(searched), strict=True))  # the first original under a key wins
    index.update(dict.fromkeys(keys[cut:], _TOKEN))
    finder._index = index
    firsts = _FIRSTS(_SEP + folded)
    sizes = list(map(len, keys))
    lengths: dict[str, int | tuple[int, ...]] = dict(zip(firsts, sizes, strict=True))
    if len(lengths) != len(firsts):  # some first parts start several texts: collect their lengths
        several: dict[str, set[int]] = {}
        for first, size in zip(firsts, sizes, strict=True):
            several.setdefault(first, set()).add(size)
        for first, known in several.items():
            if len(known) > 1:
                lengths[first] = tuple(sorted(known, reverse=True))
    finder._lengths = lengths
    others = set(_OTHER_FIRSTS(_SEP + folded))
    finder._others = others
    finder._words = set(lengths).difference(others)
    return finder
