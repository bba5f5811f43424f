"""Walk a JSON value against a kind's rules: the strings to transform, in document order."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from anonymizer.errors import Issue, PayloadError
from anonymizer.payloads._rules import Rule
from anonymizer.payloads._validation import MAX_DEPTH

__all__ = ["Path", "StringSlot", "string_slots"]

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class StringSlot:
    """One string to transform: where it is (``container[key]``, at JSON ``path``) and whether it is a JSON text."""

    container: Any
    key: str | int
    path: Path
    json: bool

    @property
    def value(self) -> str:
        """The string in the slot now."""
        text: str = self.container[self.key]
        return text

    def put(self, text: str) -> None:
        """Replace the string in the slot."""
        self.container[self.key] = text


def string_slots(
    value: Any,
    rules: Mapping[str, Rule],
    *,
    json_paths: Collection[Path] = (),
    skip: Collection[str] = (),
    base: Path = (),
) -> list[StringSlot]:
    """Every string of ``value`` that no :attr:`Rule.KEEP`, :attr:`Rule.DATA` or :attr:`Rule.MAP` rule (nor a
    pattern in ``skip``) covers, in document order. Strings under a :attr:`Rule.JSON` rule, and those at one of
    ``json_paths``, are marked as JSON texts. Paths start at ``base`` (where ``value`` sits in a larger payload).
    """
    out: list[StringSlot] = []
    walker = _Walker(rules, frozenset(json_paths), frozenset(skip), out)
    walker.node(value, "", base, 0)
    return out


class _Walker:
    def __init__(
        self, rules: Mapping[str, Rule], json_paths: frozenset[Path], skip: frozenset[str], out: list[StringSlot]
    ) -> None:
        self.rules = rules
        self.json_paths = json_paths
        self.skip = skip
        self.out = out

    def node(self, node: Any, pattern: str, path: Path, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise PayloadError([Issue(path, f"JSON nested deeper than {MAX_DEPTH} levels")])
        if isinstance(node, dict):
            for key, child in node.items():
                self.child(node, key, child, f"{pattern}.{key}" if pattern else str(key), (*path, key), depth)
        elif isinstance(node, list):
            item = f"{pattern}[]"
            for i, child in enumerate(node):
                self.child(node, i, child, item, (*path, i), depth)

    def child(self, container: Any, key: str | int, value: Any, pattern: str, path: Path, depth: int) -> None:
        rule = self.rules.get(pattern)
        if (rule is not None and rule is not Rule.JSON) or pattern in self.skip:
            return
        if isinstance(value, str):
            if value:
                is_json = rule is Rule.JSON or path in self.json_paths
                self.out.append(StringSlot(container, key, path, is_json))
        elif isinstance(value, dict | list):
            self.node(value, pattern, path, depth + 1)
