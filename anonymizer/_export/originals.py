"""Every original known anywhere in an export, found in any text of it.

An export is one trust boundary: an original in one conversation's replacements must be hidden in every other
conversation of the export too, even one whose own map does not name it. A first pass collects the originals
(:meth:`ExportOriginals.add_record`); :meth:`ExportOriginals.found_in` then finds them in the strings of one
conversation with the engine's own free-text finder and rule (whole words where the original starts or
ends with a word character, in any case; originals shorter than the engine's ``min_length`` are not searched for
in text).

Memory: the originals themselves and the finder's index (about 430 bytes per original), in proportion to the
number of *distinct* originals of the export (a deployment's users, hosts and addresses), not to the number of
records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from anonymizer._freetext import FreeTextFinder, build
from anonymizer.engine import DEFAULT_MIN_LENGTH

from .formats import conversations_in, loads, replacements_of, string_leaves

__all__ = ["ExportOriginals"]


class ExportOriginals:
    """A set of originals (the union of an export's replacements maps) and a finder for them.

    Picklable (to ship to workers; it holds originals, so treat a pickle of it like the export itself). Its repr
    gives a count, never an original. ``tag`` names this set in per-process caches.
    """

    __slots__ = ("_finder", "_originals", "min_length", "tag")

    def __init__(self, originals: Iterable[str] = (), *, min_length: int = DEFAULT_MIN_LENGTH) -> None:
        self.min_length = min_length
        self._originals: dict[str, str] = {}  # original -> a token another conversation gave it ("" if unknown)
        self._finder: FreeTextFinder | None = None
        self.tag = uuid.uuid4().hex
        self.update(originals)

    def update(self, originals: Iterable[str]) -> None:
        """Add originals (those shorter than ``min_length`` are not kept: they are never searched for in text)."""
        minimum = self.min_length
        for o in originals:
            if isinstance(o, str) and len(o) >= minimum:
                self._originals.setdefault(o, "")
        self._finder = None
        self.tag = uuid.uuid4().hex

    def add_map(self, replacements: dict[str, Any]) -> None:
        """Add the originals of one replacements map (token -> original), remembering a token of each."""
        minimum = self.min_length
        for token, o in replacements.items():
            if isinstance(o, str) and len(o) >= minimum and not self._originals.get(o):
                self._originals[o] = token
        self._finder = None

    def token_of(self, original: str) -> str:
        """A token some conversation of the export gave ``original`` (``""`` when it was added without one)."""
        return self._originals.get(original, "")

    def add_record(self, raw: bytes | str) -> None:
        """Add the originals of every conversation of one record (a record that cannot be read adds nothing)."""
        self.update(originals_of_record(raw))

    def __len__(self) -> int:
        return len(self._originals)

    def __iter__(self) -> Iterator[str]:
        return iter(self._originals)

    def __contains__(self, original: object) -> bool:
        return original in self._originals

    def __repr__(self) -> str:
        return f"<ExportOriginals: {len(self._originals)} originals>"

    def __getstate__(self) -> dict[str, Any]:
        return {"originals": self._originals, "min_length": self.min_length, "tag": self.tag}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.min_length = state["min_length"]
        self._originals = dict(state["originals"])
        self._finder = None
        self.tag = state["tag"]

    def found_in(self, value: Any) -> set[str]:
        """The originals of this set that occur in the strings of a JSON value (as the engine would find them)."""
        if not self._originals:
            return set()
        texts = [text for _, text in string_leaves(value) if len(text) >= self.min_length]
        if not texts:
            return set()
        if self._finder is None:
            self._finder = build(_Identity(self._originals), {}, self.min_length)
        found = self._finder.spans_many(texts, _canonical)
        return {original for spans in found for _, _, original in spans}


class _Identity(Mapping[str, str]):
    """The originals, each standing for itself (what the finder gives back for an exact match)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = keys

    def __getitem__(self, key: str) -> str:
        if key in self._keys:
            return key
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _canonical(found: str, original: str) -> str:
    """A case variant found (``LCHEN``) stands for its original (``lchen``): the session then finds the variants."""
    return original


def originals_of_record(raw: bytes | str) -> Iterator[str]:
    """The originals named by the replacements of each conversation of a raw record (none if it is unreadable)."""
    try:
        convs = conversations_in(loads(raw))
    except (ValueError, RecursionError):
        return
    for _, conv, _ in convs:
        try:
            mapping = replacements_of(conv)[0]
        except ValueError:
            continue
        yield from (o for o in mapping.values() if isinstance(o, str))
