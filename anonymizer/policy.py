"""Field policy: which ECS fields of message ``data`` are dropped, passed through, or tokenized.

A policy is built from Kibana's anonymization fields (``{"field", "allowed", "anonymized"}``): a field that is
not allowed is dropped, allowed and anonymized is tokenized, allowed only is passed through. As in Kibana the
first entry for a field decides and a missing flag counts as false.

Fields are addressed by their dotted ECS name whatever the shape of ``data``: flat (``{"user.name": x}``),
nested (``{"user": {"name": x}}``), mixed (``{"user": {"target.name": x}}``), and through lists, of scalars
(``{"process": {"args": [...]}}``) or of objects (``{"threat": [{"technique": {"id": ...}}]}``): list indices
are not part of the name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from ._kibana_fields import default_anonymization_fields
from .errors import PolicyError

__all__ = ["Action", "FieldPolicy", "FieldRule", "Unknown"]

Unknown = Literal["drop", "keep", "anonymize"]


class Action(IntEnum):
    """What happens to the value of a field."""

    DROP = 0
    KEEP = 1
    ANONYMIZE = 2


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One anonymization field: ``allowed`` fields reach the model; ``anonymized`` ones as tokens."""

    field: str
    allowed: bool = False
    anonymized: bool = False

    @property
    def action(self) -> Action:
        """The action this rule gives (``anonymized`` without ``allowed`` drops, as in Kibana)."""
        if not self.allowed:
            return Action.DROP
        return Action.ANONYMIZE if self.anonymized else Action.KEEP

    def as_dict(self) -> dict[str, object]:
        """Kibana's wire form ``{"field", "allowed", "anonymized"}``."""
        return {"field": self.field, "allowed": self.allowed, "anonymized": self.anonymized}


_UNKNOWN_ACTIONS: dict[str, Action] = {
    "drop": Action.DROP,
    "keep": Action.KEEP,
    "anonymize": Action.ANONYMIZE,
}


class FieldPolicy:
    """An immutable field policy. Share it freely across threads and sessions.

    >>> policy = FieldPolicy.from_fields([
    ...     {"field": "user.name", "allowed": True, "anonymized": True},
    ...     {"field": "host.os.name", "allowed": True},
    ... ])
    >>> policy.action("user.name"), policy.action("host.os.name"), policy.action("password")
    (<Action.ANONYMIZE: 2>, <Action.KEEP: 1>, <Action.DROP: 0>)

    ``unknown`` says what happens to a field the policy does not list: ``"drop"`` (Kibana's behaviour, the
    default), ``"keep"`` or ``"anonymize"``.
    """

    __slots__ = ("_actions", "_rules", "_unknown", "_unknown_action")

    def __init__(self, rules: Iterable[FieldRule] = (), *, unknown: Unknown = "drop") -> None:
        if unknown not in _UNKNOWN_ACTIONS:
            raise PolicyError("unknown must be 'drop', 'keep' or 'anonymize'", path="unknown")
        kept: dict[str, FieldRule] = {}
        for rule in rules:
            kept.setdefault(rule.field, rule)  # the first entry for a field decides
        self._rules: tuple[FieldRule, ...] = tuple(kept.values())
        self._actions: dict[str, Action] = {r.field: r.action for r in self._rules}
        self._unknown: Unknown = unknown
        self._unknown_action = _UNKNOWN_ACTIONS[unknown]

    # ------------------------------------------------------------ construction

    @classmethod
    def from_fields(cls, fields: Iterable[Any] | Mapping[str, Any], *, unknown: Unknown = "drop") -> FieldPolicy:
        """Build a policy from Kibana anonymization fields.

        Accepts a list of dicts or objects with ``field``/``allowed``/``anonymized``, or a ``_find`` response
        of the anonymization-fields API (``{"data": [...]}``, with ``all`` preferred when present).
        Malformed entries raise :class:`~anonymizer.errors.PolicyError` naming their JSON path.
        """
        items: Iterable[Any]
        root = "$"
        if isinstance(fields, Mapping):
            key = "all" if isinstance(fields.get("all"), list) else "data"
            if not isinstance(fields.get(key), list):
                raise PolicyError(
                    "$: expected a list of anonymization fields or a _find response with 'data'", path="$"
                )
            items, root = fields[key], f"$.{key}"
        elif isinstance(fields, str | bytes):
            raise PolicyError("$: expected a list of anonymization fields, got a string", path="$")
        elif not isinstance(fields, Iterable):
            raise PolicyError(f"$: expected a list of anonymization fields, got {type(fields).__name__}", path="$")
        else:
            items = fields
        rules = [_rule_from(entry, f"{root}[{i}]") for i, entry in enumerate(items)]
        return cls(rules, unknown=unknown)

    @classmethod
    def kibana_default(cls, *, unknown: Unknown = "drop") -> FieldPolicy:
        """Kibana's latest default anonymization fields (114 fields, all allowed; five anonymized)."""
        return cls.from_fields(default_anonymization_fields(), unknown=unknown)

    @classmethod
    def anonymize_all(cls) -> FieldPolicy:
        """A policy that tokenizes every field (nothing listed, unknown fields anonymized)."""
        return cls((), unknown="anonymize")

    def with_anonymized(self, fields: Iterable[str]) -> FieldPolicy:
        """A copy where ``fields`` are allowed and anonymized (``fields_to_anonymize``), listed or not.

        Unlike Kibana, a field the policy does not list is added rather than silently ignored.
        """
        wanted = [f for f in dict.fromkeys(fields) if self._actions.get(f) is not Action.ANONYMIZE]
        if not wanted:
            return self
        flipped = {f: FieldRule(f, True, True) for f in wanted}
        rules = [flipped.pop(r.field, r) for r in self._rules]
        return FieldPolicy([*rules, *flipped.values()], unknown=self._unknown)

    # ------------------------------------------------------------------ queries

    def action(self, field: str) -> Action:
        """The action for the dotted field name ``field``."""
        return self._actions.get(field, self._unknown_action)

    @property
    def rules(self) -> tuple[FieldRule, ...]:
        """The rules, one per field, in the order given."""
        return self._rules

    @property
    def unknown(self) -> Unknown:
        """What happens to fields the policy does not list."""
        return self._unknown

    @property
    def actions(self) -> Mapping[str, Action]:
        """Field name -> action, for the listed fields (read-only view)."""
        return self._actions.copy()

    def anonymized_fields(self) -> list[str]:
        """The fields whose values are tokenized."""
        return [r.field for r in self._rules if r.action is Action.ANONYMIZE]

    def to_fields(self) -> list[dict[str, object]]:
        """The policy in Kibana's anonymization-field wire form."""
        return [r.as_dict() for r in self._rules]

    def __len__(self) -> int:
        return len(self._rules)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldPolicy):
            return NotImplemented
        return self._rules == other._rules and self._unknown == other._unknown

    def __hash__(self) -> int:
        return hash((self._rules, self._unknown))

    def __repr__(self) -> str:
        anonymized = len(self.anonymized_fields())
        return f"FieldPolicy({len(self._rules)} fields, {anonymized} anonymized, unknown={self._unknown!r})"


def _rule_from(entry: Any, path: str) -> FieldRule:
    if isinstance(entry, FieldRule):
        return entry
    if isinstance(entry, Mapping):
        get = entry.get
    else:

        def get(name: str, default: object = None) -> object:
            return getattr(entry, name, default)

    field = get("field")
    if not isinstance(field, str) or not field:
        raise PolicyError(f"{path}.field: expected a non-empty string", path=f"{path}.field")
    flags = {}
    for flag in ("allowed", "anonymized"):
        value = get(flag, None)
        if value is not None and not isinstance(value, bool):
            raise PolicyError(f"{path}.{flag}: expected a boolean", path=f"{path}.{flag}")
        flags[flag] = bool(value)
    return FieldRule(field, flags["allowed"], flags["anonymized"])
