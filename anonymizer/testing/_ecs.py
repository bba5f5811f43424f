"""ECS ``data`` for security chat messages: realistic field names and values, in every shape ECS allows.

A field (``user.name``) may stand flat (``{"user.name": x}``), nested (``{"user": {"name": x}}``), mixed
(``{"user": {"target.name": x}}``), inside a list of objects (``{"host": [{"name": a}, {"name": b}]}``), and hold a
scalar or a list of scalars (``{"related": {"user": ["a", "b"]}}``). :func:`ecs_data` draws each field's shape
on its own, simplest first (flat, one scalar), so a failing example shrinks to ``{"user.name": "Qaaa"}``.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "ANONYMIZED_FIELDS",
    "KEPT_FIELDS",
    "NAMEABLE_FIELDS",
    "ecs_data",
    "filler_text",
    "original_values",
]

#: Fields Kibana's default policy allows and anonymizes (they hold originals).
ANONYMIZED_FIELDS: tuple[str, ...] = ("user.name", "host.name", "user.target.name", "entity.name")
#: Fields Kibana's default policy allows and passes through (they hold realistic, non-secret values).
KEPT_FIELDS: tuple[str, ...] = (
    "host.os.name",
    "event.category",
    "process.pid",
    "process.args",
    "file.path",
    "@timestamp",
    "event.outcome",
    "network.protocol",
    "kibana.alert.severity",
    "kibana.alert.risk_score",
    "kibana.alert.rule.name",
    "threat.tactic.name",
    "threat.technique.id",
    "file.hash.sha256",
    "process.code_signature.trusted",
    "host.risk.calculated_score_norm",
    "message",
)
#: Allowed-only fields that a message's ``fields_to_anonymize`` may name (then they hold originals).
NAMEABLE_FIELDS: tuple[str, ...] = ("source.ip", "destination.ip", "user.domain", "process.name")

WORD = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
"""A filler word: lowercase letters and digits (never an original, whose first letter is ``Q``)."""


def original_values() -> st.SearchStrategy[str]:
    """Secrets: ``Q`` then 3 to 9 lowercase letters.

    No wire key, role, token (UUID, placeholder, mask) or filler word of this toolkit can contain one, so
    ``original not in text`` is an exact no-leak check, and the engine's free-text guard (whole words, at
    least 3 characters) never spares one.

    >>> original_values().example()  # doctest: +SKIP
    'Qxkcd'
    """
    return st.text(string.ascii_lowercase, min_size=3, max_size=9).map(lambda s: "Q" + s)


def filler_text(originals: Sequence[str] = (), *, max_words: int = 8) -> st.SearchStrategy[str]:
    """Free text: lowercase words and punctuation, with some of ``originals`` mixed in as whole words.

    >>> filler_text(["Qalice"], max_words=3).example()  # doctest: +SKIP
    'ab, Qalice. 7\\n'
    """
    words = st.one_of(WORD, st.sampled_from(list(originals))) if originals else WORD
    seps = st.sampled_from([" ", ", ", ". ", "\n", " - "])
    return st.lists(st.tuples(words, seps), max_size=max_words).map(lambda ws: "".join(w + s for w, s in ws))


def _hex(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=size, max_size=size)


# Realistic values of the kept fields. None holds a capital Q, so no kept value can contain an original.
_KEPT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "host.os.name": st.sampled_from(["macOS", "Windows", "Ubuntu", "Debian GNU/Linux", "Amazon Linux"]),
    "event.category": st.sampled_from(["process", "authentication", "network", "file", "malware", "iam"]),
    "process.pid": st.integers(1, 2**22),
    "process.args": st.sampled_from(["/usr/bin/ssh", "-i", "--verbose", "-p", "22", "cmd.exe", "/c", "whoami"]),
    "file.path": st.sampled_from(["/var/log/auth.log", "/tmp/x.sh", "C:\\Windows\\System32\\cmd.exe", "/etc/passwd"]),
    "@timestamp": st.integers(0, 3599).map(lambda s: f"2025-06-25T23:{s // 60:02d}:{s % 60:02d}.000Z"),
    "event.outcome": st.sampled_from(["success", "failure", "unknown"]),
    "network.protocol": st.sampled_from(["tcp", "udp", "dns", "http", "tls"]),
    "kibana.alert.severity": st.sampled_from(["low", "medium", "high", "critical"]),
    "kibana.alert.risk_score": st.integers(0, 100),
    "kibana.alert.rule.name": st.sampled_from(["Unusual Login Activity", "Suspicious PowerShell Script"]),
    "threat.tactic.name": st.sampled_from(["Execution", "Persistence", "Credential Access", "Lateral Movement"]),
    "threat.technique.id": st.sampled_from(["T1059", "T1078", "T1021.001"]),
    "file.hash.sha256": _hex(64),  # looks like a token to a careless restorer
    "process.code_signature.trusted": st.booleans(),
    "host.risk.calculated_score_norm": st.floats(0, 100, allow_nan=False),
    "message": filler_text(max_words=5),
}

Values = st.SearchStrategy[Any] | Callable[[str], st.SearchStrategy[Any]]


def _segments(parts: list[str], splits: list[bool], max_depth: int) -> list[str]:
    """The keys a dotted field is stored under: ``splits[i]`` nests at the i-th dot (else the dot stays)."""
    segments = [parts[0]]
    for part, split in zip(parts[1:], splits, strict=True):
        if split and len(segments) <= max_depth:
            segments.append(part)
        else:
            segments[-1] += "." + part
    return segments


def _insert(node: dict[str, Any], segments: list[str], objects_at: int | None, values: list[Any]) -> bool:
    """Store a field's value(s) under ``segments``; ``False`` (nothing changed) when the place is taken."""
    for i, key in enumerate(segments[:-1]):
        existing = node.get(key)
        if existing is None:
            if i == objects_at:  # a list of objects, one per value
                items: list[dict[str, Any]] = [{} for _ in values]
                node[key] = items
                for item, value in zip(items, values, strict=True):
                    _insert(item, segments[i + 1 :], None, [value])
                return True
            child: dict[str, Any] = {}
            node[key] = child
            node = child
        elif isinstance(existing, dict):
            node = existing
        elif isinstance(existing, list) and existing and isinstance(existing[0], dict):
            node = existing[0]
        else:
            return False
    if segments[-1] in node:
        return False
    node[segments[-1]] = values[0]
    return True


@st.composite
def ecs_data(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    anonymized: Sequence[str] = ANONYMIZED_FIELDS,
    kept: Sequence[str] = KEPT_FIELDS,
    named: Sequence[str] = (),
    fields: Sequence[str] | st.SearchStrategy[str] | None = None,
    values: Values | None = None,
    min_fields: int = 0,
    max_fields: int = 6,
    max_depth: int = 4,
    empty: bool = False,
) -> dict[str, Any]:
    """ECS ``data`` of a security chat message: flat, nested, mixed, lists of scalars and lists of objects.

    >>> from anonymizer.testing import ecs_data
    >>> ecs_data(["Qalice"]).example()  # doctest: +SKIP
    {'user': [{'name': 'Qalice'}], 'process.pid': 4242, 'event': {'category': ['process', 'iam']}}

    By default the fields are ``anonymized`` and ``named`` ones (each value drawn from ``originals``, or from
    :func:`original_values` when none are given) and ``kept`` ones (realistic values: OS names, pids, paths,
    timestamps, hashes...). All of them are allowed by Kibana's default policy, so nothing is dropped and
    ``restore(anonymize(data)) == data`` holds.

    Options (keyword-only):

    * ``fields``: the field names to draw from instead (a sequence, or a strategy of dotted names);
    * ``values``: the leaf values instead (a strategy, or a function ``field -> strategy``);
    * ``min_fields``/``max_fields``: how many fields; ``max_depth``: how deep objects may nest;
    * ``empty=True``: lists and objects may also be empty (``[]``, ``{}``), which a policy may drop.

    Each field's shape is drawn on its own and shrinks to the flat form with a single scalar.
    """
    pool = list(originals) if originals else [draw(original_values())]
    secret = set(anonymized) | set(named)
    if fields is None:
        names = list(dict.fromkeys([*anonymized, *named, *kept]))
        if not names:
            return {}
        field_names: st.SearchStrategy[str] = st.sampled_from(names)
    elif isinstance(fields, st.SearchStrategy):
        field_names = fields
    else:
        field_names = st.sampled_from(list(fields))

    def leaf(field: str) -> st.SearchStrategy[Any]:
        if values is not None:
            return values if isinstance(values, st.SearchStrategy) else values(field)
        if field in secret:
            return st.sampled_from(pool)
        return _KEPT_VALUES.get(field, WORD)

    data: dict[str, Any] = {}
    for field in draw(st.lists(field_names, unique=True, min_size=min_fields, max_size=max_fields)):
        parts = field.split(".")
        splits = [draw(st.booleans()) for _ in parts[1:]]
        segments = _segments(parts, splits, max_depth)
        objects_at = None
        if len(segments) > 1 and len(segments) <= max_depth:
            objects_at = draw(st.none() | st.integers(0, len(segments) - 2))
        value = leaf(field)
        shaped = st.one_of(value, st.lists(value, min_size=0 if empty else 1, max_size=3))
        if empty:
            shaped = shaped | st.just({})
        n = draw(st.integers(1, 2)) if objects_at is not None else 1
        _insert(data, segments, objects_at, [draw(shaped) for _ in range(n)])
    return data
