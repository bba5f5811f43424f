"""Finding the known originals of a session inside free text.

Every original the session has tokenized (at least ``min_length`` characters long) is searched for at once
with an Aho-Corasick automaton. A match must stand as a whole word on each side where the original itself
starts or ends with a word character, so ``root`` is not found inside ``rootkit`` and ``10.1.2.3`` not inside
``10.1.2.30``. The session's own tokens are searched for too and kept as they are, so that text which already
holds tokens (an earlier answer of the model, say) never has an original rewritten inside a token.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

import ahocorasick_rs

__all__ = ["FreeTextFinder", "Span"]

Span = tuple[int, int, str]  # start, end, replacement
_SEP = "\x00"  # joins texts searched in one call; no pattern may contain it
_FEW = 12


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class FreeTextFinder:
    """An immutable snapshot: originals -> their tokens, and tokens that must be left alone."""

    __slots__ = ("_ac", "_bounds", "_patterns", "_replacement", "_sep_ok")

    def __init__(self, originals: Iterable[tuple[str, str]], tokens: Iterable[str]) -> None:
        patterns: list[str] = []
        replacement: list[str] = []
        bounds: list[tuple[bool, bool]] = []
        seen: set[str] = set()
        for original, token in originals:
            if original and original not in seen:
                seen.add(original)
                patterns.append(original)
                replacement.append(token)
                bounds.append((_is_word(original[0]), _is_word(original[-1])))
        for token in tokens:
            if token and token not in seen:  # a token is kept as it is, wherever it stands
                seen.add(token)
                patterns.append(token)
                replacement.append(token)
                bounds.append((False, False))
        self._patterns = patterns
        self._replacement = replacement
        self._bounds = bounds
        self._sep_ok = not any(_SEP in p for p in patterns)
        self._ac: ahocorasick_rs.AhoCorasick | None = None
        if len(patterns) > _FEW:  # for a few patterns, str.find is cheaper than building an automaton
            try:
                self._ac = ahocorasick_rs.AhoCorasick(patterns)
            except UnicodeEncodeError:  # a lone surrogate in a pattern: use the slow path
                self._ac = None

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def spans(self, text: str) -> list[Span]:
        """Non-overlapping ``(start, end, replacement)`` in text order: leftmost first, then longest."""
        if not self._patterns or not text:
            return []
        return self._select(text, self._raw(text))

    def spans_many(self, texts: Sequence[str]) -> list[list[Span]]:
        """:meth:`spans` for many texts, searched in one call when possible."""
        if not self._patterns:
            return [[] for _ in texts]
        if len(texts) < 2 or not self._sep_ok or any(_SEP in t for t in texts):
            return [self.spans(t) for t in texts]
        joined = _SEP.join(texts)
        raw = self._raw(joined)
        out: list[list[Span]] = [[] for _ in texts]
        if not raw:
            return out
        starts = []
        pos = 0
        for t in texts:
            starts.append(pos)
            pos += len(t) + 1
        for start, end, rep in self._select(joined, raw):
            i = bisect_right(starts, start) - 1
            base = starts[i]
            out[i].append((start - base, end - base, rep))
        return out

    def _raw(self, text: str) -> list[tuple[int, int, int]]:
        if self._ac is not None:
            try:
                return self._ac.find_matches_as_indexes(text, overlapping=True)
            except UnicodeEncodeError:
                pass
        found: list[tuple[int, int, int]] = []
        for i, p in enumerate(self._patterns):
            at = text.find(p)
            while at != -1:
                found.append((i, at, at + len(p)))
                at = text.find(p, at + 1)
        return found

    def _select(self, text: str, raw: list[tuple[int, int, int]]) -> list[Span]:
        bounds = self._bounds
        n = len(text)
        ok: list[tuple[int, int, int]] = []
        for idx, start, end in raw:
            left, right = bounds[idx]
            if left and start > 0 and _is_word(text[start - 1]):
                continue
            if right and end < n and _is_word(text[end]):
                continue
            ok.append((start, -end, idx))
        if not ok:
            return []
        ok.sort()
        rep = self._replacement
        out: list[Span] = []
        last = 0
        for start, neg_end, idx in ok:
            if start >= last:
                out.append((start, -neg_end, rep[idx]))
                last = -neg_end
        return out
