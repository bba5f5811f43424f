"""Multi-pattern literal search: leftmost-longest, non-overlapping, in one pass.

Built on an Aho-Corasick automaton (``ahocorasick_rs``), so the cost of a search is linear in the text and
does not grow with the number of patterns. The automaton cannot take strings with lone surrogates (they have no
UTF-8 form); for those a longest-first alternation of the escaped patterns (Python ``re``) gives the same
leftmost-longest answer, more slowly. Either way the result is the same list of ``(pattern, start, end)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

import ahocorasick_rs

__all__ = ["LiteralMatcher", "fold", "merge_spans"]

Match = tuple[int, int, int]  # (index into patterns, start, end) in str indices


class LiteralMatcher:
    """Find non-overlapping occurrences of ``patterns`` in a text, leftmost first, then longest.

    >>> LiteralMatcher(["foo", "foobar"]).find("foobar foo")
    [(1, 0, 6), (0, 7, 10)]

    Patterns must be non-empty and distinct. Immutable and safe to share across threads.
    """

    __slots__ = ("_ac", "_index", "_patterns", "_regex")

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns: tuple[str, ...] = tuple(patterns)
        if any(not p for p in self._patterns):
            raise ValueError("empty patterns cannot be searched for")
        self._index = {p: i for i, p in enumerate(self._patterns)}
        self._regex: re.Pattern[str] | None = None
        self._ac: ahocorasick_rs.AhoCorasick | None = None
        if self._patterns:
            try:
                self._ac = ahocorasick_rs.AhoCorasick(
                    list(self._patterns), matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
                )
            except UnicodeEncodeError:  # a pattern holds a lone surrogate
                self._ac = None

    @property
    def patterns(self) -> tuple[str, ...]:
        """The patterns, in the order their indices refer to."""
        return self._patterns

    def find(self, text: str) -> list[Match]:
        """Every match as ``(pattern index, start, end)``, in text order."""
        if not self._patterns or not text:
            return []
        if self._ac is not None:
            try:
                return self._ac.find_matches_as_indexes(text)
            except UnicodeEncodeError:  # the text holds a lone surrogate
                pass
        return self._find_slow(text)

    def _find_slow(self, text: str) -> list[Match]:
        if self._regex is None:
            # Longest first: Python's alternation takes the first branch that matches at a position.
            ordered = sorted(self._patterns, key=len, reverse=True)
            self._regex = re.compile("|".join(re.escape(p) for p in ordered))
        index = self._index
        return [(index[m.group()], m.start(), m.end()) for m in self._regex.finditer(text)]


def fold(text: str) -> str:
    """Lower case, one character at a time: every character keeps its index, and no character's case depends
    on its neighbours (``str.lower`` turns a final Σ into ς), so a text and its pieces fold alike."""
    if text.isascii():
        return text.lower()
    return "".join(c if len(low := c.lower()) != 1 else low for c in text)


_S = TypeVar("_S", bound=tuple[int, int, *tuple[object, ...]])


def merge_spans(a: list[_S], b: list[_S]) -> list[_S]:
    """Merge two lists of ``(start, end, ...)`` spans: leftmost first, then longest; drop whatever overlaps a kept
    span. (One list empty: the other is returned as it is.)

    >>> merge_spans([(0, 3, "a"), (5, 6, "b")], [(1, 9, "c"), (6, 8, "d")])
    [(0, 3, 'a'), (5, 6, 'b'), (6, 8, 'd')]
    """
    if not a:
        return b
    if not b:
        return a
    out: list[_S] = []
    last = -1
    for span in sorted(a + b, key=lambda s: (s[0], s[0] - s[1])):
        if span[0] >= last:
            out.append(span)
            last = span[1]
    return out
