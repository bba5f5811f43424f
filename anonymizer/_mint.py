"""Minting tokens for a session: the guarantees around a :class:`~anonymizer.tokens.TokenStrategy`.

Rule of this file: everything a session must check before it binds a new token lives here.

* A token is never bound to two originals, never equals its original, and never contains an original of
  ``MIN_RISKY`` characters or more that the conversation holds (or is about to hold: the session announces
  every original of a call with :meth:`Minter.expect` before the first token of the call is minted). Only
  originals made of characters the strategy's ``alphabet`` can produce can be inside a token; they are kept
  in sets by length, and only the runs of a candidate made of their characters are looked at, so the check
  costs O(len(token) x distinct lengths) at most, whatever the number of originals (checking every original
  against every new token made numeric user names quadratic).
* Numbers of placeholder labels go up by one per bound token; a refused candidate uses up no number.
* The conversation tag (placeholders) is drawn once, or taken from the first tagged token of a stored map.
* A strategy that cannot give a usable token raises :class:`~anonymizer.errors.TokenError`: never a silent
  give-up that binds a token containing an original.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import TokenError
from .tokens import (
    KeyedTokens,
    MaskTokens,
    TokenContext,
    TokenStrategy,
    UuidTokens,
    conversation_tag,
    new_tag,
    placeholder_parts,
)

__all__ = ["MAX_ATTEMPTS", "MIN_RISKY", "Minter"]

#: Tokens never contain an original of this many characters or more. Shorter ones cannot be excluded (every
#: UUIDv4 contains "-4"); they are also too short to be searched for in free text.
MIN_RISKY = 3
#: Calls of the strategy for one original before giving up with TokenError.
MAX_ATTEMPTS = 64
_UNTAGGED = (UuidTokens, KeyedTokens, MaskTokens)  # built-in strategies that never read context.tag
_MAX_CLASS = 512  # most characters in the class of Minter._gaps
_NO_GAPS = re.compile(r"(?!)")  # splits nothing


class Minter:
    """The minting state of one session: placeholder counters, the tag, the originals no token may contain.

    Not thread-safe on its own: the session calls it under its lock.
    """

    __slots__ = (
        "_alphabet",
        "_attempt",
        "_by_size",
        "_chars",
        "_counters",
        "_gaps",
        "_handed",
        "_original",
        "_replacements",
        "_strategy",
        "_tag",
        "_tagged",
        "checks",
    )

    def __init__(self, strategy: TokenStrategy) -> None:
        self._strategy = strategy
        self._alphabet = strategy.alphabet
        self._by_size: list[tuple[int, set[str]]] = []  # (length, originals of that length), by length
        self._chars: set[str] = set()  # every character of those originals
        self._gaps: re.Pattern[str] | None = None  # runs of other characters: no original crosses one
        self._counters: dict[str, int] = {}  # label -> highest number bound
        self._handed: dict[str, int] = {}  # label -> number handed out by ordinal() during the current attempt
        self._tag: str | None = None
        self._tagged = not isinstance(strategy, _UNTAGGED)
        # the mint in progress, for _usable() and _ordinal() (TokenContext.usable/.ordinal): set by mint()
        self._original = ""
        self._replacements: Mapping[str, str] = {}
        self._attempt = 0
        #: Substrings of candidate tokens looked up so far (a measure of work, for tests of linearity).
        self.checks = 0

    @property
    def tag(self) -> str | None:
        """The conversation tag (``None`` until a tagged token was bound or one was needed)."""
        return self._tag

    def expect(self, original: str) -> None:
        """Announce an original the conversation holds or is about to hold: no token minted from now on
        may contain it."""
        if len(original) < MIN_RISKY or (self._alphabet is not None and not self._alphabet.issuperset(original)):
            return
        if not self._chars.issuperset(original):
            self._chars.update(original)
            self._gaps = (
                re.compile("[^" + "".join(re.escape(c) for c in sorted(self._chars)) + "]+")
                if len(self._chars) <= _MAX_CLASS
                else _NO_GAPS  # (a strategy without an alphabet, originals in many scripts): every window
            )
        size = len(original)
        for length, bucket in self._by_size:
            if length == size:
                bucket.add(original)
                return
        self._by_size.append((size, {original}))
        self._by_size.sort(key=lambda item: item[0])

    def bound(self, token: str, original: str) -> None:
        """The session bound ``token`` to ``original`` (minted here, or from a stored map)."""
        self.expect(original)
        parts = placeholder_parts(token) if token[:1] == "<" else None
        if parts is not None:
            label, number, tag = parts
            if number > self._counters.get(label, 0):
                self._counters[label] = number
            if tag and self._tag is None:
                self._tag = conversation_tag(tag)  # a resumed session keeps its conversation's tag

    def contains_original(self, text: str) -> bool:
        """Whether ``text`` contains an announced original.

        Only the runs of ``text`` made of characters of the originals can hold one (a UUID holds few and short
        runs of digits): the windows of each original length are looked up in those runs only.
        """
        if self._gaps is None:
            return False
        by_size = self._by_size
        shortest = by_size[0][0]
        for run in self._gaps.split(text):
            n = len(run)
            if n < shortest:
                continue
            for size, bucket in by_size:
                if size > n:
                    break
                self.checks += n - size + 1
                for i in range(n - size + 1):
                    if run[i : i + size] in bucket:
                        return True
        return False

    def mint(
        self,
        original: str,
        field: str | None,
        entity_class: str | None,
        replacements: Mapping[str, str],
        json_value: bool = False,
    ) -> str:
        """A new token for ``original`` (the JSON text of a number, boolean or null when ``json_value``):
        unbound, not the original, containing no announced original.

        Raises :class:`~anonymizer.errors.TokenError` when the strategy returns something other than a
        non-empty string, or gives no usable token in ``MAX_ATTEMPTS`` calls (or the same unusable one twice).
        """
        strategy = self._strategy
        tag = self._current_tag() if self._tagged else ""
        self._original, self._replacements = original, replacements  # what usable() and ordinal() answer for
        usable = self._usable
        previous = None
        for attempt in range(MAX_ATTEMPTS):
            self._handed.clear()
            self._attempt = attempt
            context = TokenContext(field, entity_class, attempt, self._ordinal, tag, usable, json_value)
            token = strategy.mint(original, context)
            if not isinstance(token, str) or not token:
                raise TokenError(f"token strategy {strategy!r} returned an empty or non-string token", path=field)
            if usable(token):
                if self._handed and placeholder_parts(token) is None:  # (bound() reads a placeholder's number)
                    for label, number in self._handed.items():  # numbers handed to the token that is bound
                        if number > self._counters.get(label, 0):
                            self._counters[label] = number
                return token
            if token == previous:  # a deterministic strategy with nothing else to offer
                break
            previous = token
        where = f"field '{field}'" if field else f"a {entity_class or 'free-text'} finding"
        raise TokenError(
            f"token strategy {strategy!r} gave no usable token for an original of {where}: each one was bound "
            "already or contained an original of the conversation",
            path=field,
        )

    def _ordinal(self, label: str) -> int:
        """``TokenContext.ordinal`` of the mint in progress: the next free number of ``label`` (a retry gets the
        number ``attempt`` further on)."""
        number = self._counters.get(label, 0) + 1 + self._attempt
        self._handed[label] = number
        return number

    def _usable(self, token: str) -> bool:
        """``TokenContext.usable`` of the mint in progress: unbound, not the original, holding no original."""
        original = self._original
        return (
            token not in self._replacements
            and token != original
            and not (len(original) >= MIN_RISKY and original in token)
            and not self.contains_original(token)
        )

    def _current_tag(self) -> str:
        tag = self._tag
        if tag is None or self.contains_original(tag):  # a tag holding an original would be in every token
            tag = self._tag = new_tag()
        return tag
