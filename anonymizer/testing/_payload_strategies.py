"""Hypothesis strategies for every payload kind of :mod:`anonymizer.payloads`.

Generated payloads are valid by default. Values that must be hidden ("originals") are drawn from
:func:`original_values`: a capital ``Q`` then at least three lowercase letters, so an original can never occur
by accident inside a wire key, a role, a token, or the lowercase filler text around it. That makes the no-leak
property exact: ``original not in json_text`` for every original, despite the engine's free-text guard (whole
words, at least ``min_length`` characters).

Each strategy takes ``originals`` (a strategy of strings) to draw its secrets from, and ``invalid=True`` where it
makes sense to break one required property (see :func:`break_payload`).
"""

from __future__ import annotations

import json
import string
import uuid
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "ANONYMIZED_FIELDS",
    "KEPT_FIELDS",
    "NAMEABLE_FIELDS",
    "break_payload",
    "chat_complete_requests",
    "conversations",
    "ecs_data",
    "filler_text",
    "find_responses",
    "observability_requests",
    "original_values",
    "security_messages",
]

#: Fields Kibana's default policy allows and anonymizes.
ANONYMIZED_FIELDS: tuple[str, ...] = ("user.name", "host.name", "user.target.name", "entity.name")
#: Fields Kibana's default policy allows and passes through.
KEPT_FIELDS: tuple[str, ...] = ("host.os.name", "event.category", "process.pid", "process.args", "file.path")
#: Allowed-only fields that a message's ``fields_to_anonymize`` may name (then they hold originals).
NAMEABLE_FIELDS: tuple[str, ...] = ("source.ip", "destination.ip", "user.domain", "process.name")

_WORD = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)


def original_values() -> st.SearchStrategy[str]:
    """Secrets: ``Q`` and 3 to 9 lowercase letters (never inside filler, keys, roles or tokens)."""
    return st.text(string.ascii_lowercase, min_size=3, max_size=9).map(lambda s: "Q" + s)


def filler_text(originals: Sequence[str] = (), *, max_words: int = 8) -> st.SearchStrategy[str]:
    """Free text of lowercase words and punctuation, with some of ``originals`` mixed in as whole words."""
    words = st.one_of(_WORD, st.sampled_from(originals)) if originals else _WORD
    seps = st.sampled_from([" ", ", ", ". ", "\n", " - "])
    return st.lists(st.tuples(words, seps), max_size=max_words).map(lambda ws: "".join(w + s for w, s in ws))


def _kept_value(field: str) -> st.SearchStrategy[Any]:
    if field == "process.pid":
        return st.integers(0, 2**31)
    if field == "process.args":
        return st.lists(_WORD, max_size=3)
    return _WORD


def _place(data: dict[str, Any], field: str, value: Any, nested: bool) -> None:
    if not nested:
        data[field] = value
        return
    head, _, rest = field.partition(".")
    node = data.setdefault(head, {})
    if not isinstance(node, dict) or not rest:
        data[field] = value
        return
    _place(node, rest, value, nested="." in rest)


@st.composite
def ecs_data(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    anonymized: Sequence[str] = ANONYMIZED_FIELDS,
    kept: Sequence[str] = KEPT_FIELDS,
    named: Sequence[str] = (),
) -> dict[str, Any]:
    """ECS ``data``: ``anonymized`` and ``named`` fields hold originals, ``kept`` fields filler; flat or nested."""
    pool = list(originals) if originals else [draw(original_values())]
    data: dict[str, Any] = {}
    secret_fields = list(dict.fromkeys([*anonymized, *named]))
    chosen = draw(st.lists(st.sampled_from(secret_fields), unique=True, max_size=3)) if secret_fields else []
    for field in chosen:
        _place(data, field, draw(st.sampled_from(pool)), draw(st.booleans()))
    plain = [f for f in kept if f not in secret_fields]
    for field in draw(st.lists(st.sampled_from(plain), unique=True, max_size=3)) if plain else []:
        _place(data, field, draw(_kept_value(field)), draw(st.booleans()))
    return data


@st.composite
def security_messages(
    draw: st.DrawFn, originals: Sequence[str] | None = None, *, named: Sequence[str] = ()
) -> dict[str, Any]:
    """One security chat message; its ``data`` hides some of ``originals``, its ``content`` mentions them."""
    pool = list(originals) if originals else draw(st.lists(original_values(), min_size=1, max_size=4))
    message: dict[str, Any] = {"role": draw(st.sampled_from(["system", "user", "assistant"]))}
    if draw(st.booleans()):
        message["data"] = draw(ecs_data(pool, named=named))
    mentioned = _values(message.get("data", {}))
    if draw(st.booleans()):
        message["content"] = draw(filler_text(sorted(set(pool) & mentioned)))
    return message


def _values(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set().union(*(_values(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(_values(v) for v in data)) if data else set()
    return {data} if isinstance(data, str) else set()


@st.composite
def chat_complete_requests(
    draw: st.DrawFn, originals: Sequence[str] | None = None, *, invalid: bool = False
) -> dict[str, Any]:
    """A ``security.chat_complete`` request. Content only mentions originals already hidden in some ``data``."""
    pool = list(originals) if originals else draw(st.lists(original_values(), min_size=1, max_size=5, unique=True))
    named: list[str] = []
    known: set[str] = set()
    messages = []
    for _ in range(draw(st.integers(1, 4))):
        message: dict[str, Any] = {"role": draw(st.sampled_from(["system", "user", "assistant"]))}
        new_names: list[str] = draw(st.lists(st.sampled_from(NAMEABLE_FIELDS), unique=True, max_size=2))
        with_data: bool = bool(new_names) or draw(st.booleans())
        if with_data:
            named.extend(f for f in new_names if f not in named)
            message["data"] = draw(ecs_data(pool, named=named))
            if new_names:
                message["fields_to_anonymize"] = new_names
            known |= _values(message["data"]) & set(pool)
        if draw(st.booleans()):
            message["content"] = draw(filler_text(sorted(known)))
        messages.append(message)
    body: dict[str, Any] = {
        "connectorId": draw(_WORD),
        "persist": draw(st.booleans()),
        "messages": messages,
    }
    optional = ["conversationId", "isStream", "model", "promptId", "responseLanguage"]
    for key in draw(st.lists(st.sampled_from(optional), unique=True)):
        body[key] = draw(st.booleans()) if key == "isStream" else draw(_WORD)
    return draw(break_payload(body, "security.chat_complete")) if invalid else body


def _json_text(value: Any, indent: int | None, ensure_ascii: bool) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


@st.composite
def _embedded_json(draw: st.DrawFn, pool: Sequence[str]) -> str:
    leaves = st.one_of(filler_text(pool, max_words=3), st.integers(), st.booleans(), st.none())
    value = draw(
        st.recursive(
            st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=6), leaves, max_size=3),
            lambda inner: (
                st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=6), inner, max_size=3)
                | st.lists(inner, max_size=3)
            ),
            max_leaves=8,
        )
    )
    if draw(st.integers(0, 9)) == 0:  # sometimes not JSON at all: handled as text
        return draw(filler_text(pool))
    return _json_text(value, draw(st.sampled_from([None, 2, 4])), draw(st.booleans()))


@st.composite
def observability_requests(
    draw: st.DrawFn, originals: Sequence[str] | None = None, *, invalid: bool = False
) -> dict[str, Any]:
    """An ``observability.chat_complete`` request: text, function calls and function responses.

    Originals here are hidden only if the session already knows them (earlier turns) or a detector finds them.
    """
    pool = list(originals) if originals else draw(st.lists(original_values(), min_size=1, max_size=5, unique=True))
    messages = []
    for i in range(draw(st.integers(1, 5))):
        shape = draw(st.sampled_from(["text", "call", "response", "function", "system"]))
        message: dict[str, Any]
        if shape == "call":
            call = {"name": draw(_WORD), "trigger": draw(st.sampled_from(["assistant", "user", "elastic"]))}
            if draw(st.booleans()):
                call["arguments"] = draw(_embedded_json(pool))
            message = {"role": "assistant", "content": "", "function_call": call}
        elif shape in ("response", "function"):
            message = {"role": "user" if shape == "response" else "function", "name": draw(_WORD)}
            message["content"] = draw(_embedded_json(pool))
            if draw(st.booleans()):
                message["data"] = draw(_embedded_json(pool))
        else:
            message = {"role": draw(st.sampled_from(["user", "assistant", "elastic"])) if shape == "text" else "system"}
            message["content"] = draw(filler_text(pool))
        messages.append({"@timestamp": f"2025-06-25T23:45:{i:02d}.000Z", "message": message})
    body: dict[str, Any] = {"connectorId": draw(_WORD), "persist": draw(st.booleans()), "messages": messages}
    if draw(st.booleans()):
        body["instructions"] = draw(
            st.lists(
                st.one_of(
                    filler_text(pool),
                    st.builds(lambda t, i: {"id": i, "text": t}, filler_text(pool), _WORD),
                ),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        body["disableFunctions"] = draw(st.booleans())
    if draw(st.booleans()):
        body["actions"] = [
            {"name": "get_cluster_health", "description": "Fetch health.", "parameters": {"type": "object"}}
        ]
    return draw(break_payload(body, "observability.chat_complete")) if invalid else body


def _token() -> st.SearchStrategy[str]:
    return st.uuids(version=4).map(str)


@st.composite
def conversations(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    kind: str = "conversation",
    invalid: bool = False,
) -> dict[str, Any]:
    """A conversation payload: ``kind`` is ``conversation`` (a response), ``conversation.create`` or ``.update``.

    Its ``replacements`` bind every original its text mentions, as a stored conversation's map does.
    """
    pool = list(originals) if originals else draw(st.lists(original_values(), min_size=1, max_size=4, unique=True))
    tokens = draw(st.lists(_token(), min_size=len(pool), max_size=len(pool), unique=True))
    conv: dict[str, Any] = {}
    if kind != "conversation.create" or draw(st.booleans()):
        conv["id"] = str(uuid.UUID(int=draw(st.integers(1, 2**64))))
    if kind != "conversation.update" or draw(st.booleans()):
        conv["title"] = draw(filler_text(pool, max_words=4))
    if draw(st.booleans()) or kind == "conversation":
        conv["messages"] = [
            {
                "role": draw(st.sampled_from(["system", "user", "assistant"])),
                "content": draw(filler_text(pool)),
                "timestamp": "2024-08-02T07:19:08.124Z",
            }
            for _ in range(draw(st.integers(0, 3)))
        ]
    if kind != "conversation.update" and draw(st.booleans()):
        conv["category"] = "assistant"
    if kind == "conversation":
        conv["namespace"] = "default"
        conv["users"] = [{"id": "u_1", "name": "elastic"}]
        if draw(st.booleans()):
            conv["summary"] = {"content": draw(filler_text(pool)), "confidence": "low"}
    conv["replacements"] = dict(zip(tokens, pool, strict=True))
    return draw(break_payload(conv, kind)) if invalid else conv


@st.composite
def find_responses(draw: st.DrawFn, originals: Sequence[str] | None = None) -> dict[str, Any]:
    """A ``conversation.find`` page of conversations, each with its own replacements."""
    data = draw(st.lists(conversations(originals), max_size=3))
    return {"page": 1, "perPage": 20, "total": len(data), "data": data}


_REQUIRED: dict[str, tuple[tuple[str | int, ...], ...]] = {
    "security.chat_complete": (("connectorId",), ("persist",), ("messages",), ("messages", 0, "role")),
    "observability.chat_complete": (
        ("connectorId",),
        ("persist",),
        ("messages",),
        ("messages", 0, "@timestamp"),
        ("messages", 0, "message"),
        ("messages", 0, "message", "role"),
    ),
    "conversation.create": (("title",),),
    "conversation.update": (("id",),),
    "conversation": (("id",),),
}

#: A wrong value for each required property, by kind (a value of the wrong type or outside the enum).
_WRONG: tuple[Any, ...] = (None, 42, True, [], {}, "not-a-role")


@st.composite
def break_payload(draw: st.DrawFn, payload: dict[str, Any], kind: str) -> dict[str, Any]:
    """``payload`` with one required property of ``kind`` removed or given a value of the wrong type."""
    candidates = [p for p in _REQUIRED[kind] if _get(payload, p) is not _MISSING]
    path = draw(st.sampled_from(candidates))
    broken: dict[str, Any] = json.loads(json.dumps(payload))
    parent = _get(broken, path[:-1])
    assert isinstance(parent, dict | list)
    key: Any = path[-1]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[key]
    else:
        current = parent[key]
        wrong = [w for w in _WRONG if type(w) is not type(current) or (key == "role" and w == "not-a-role")]
        parent[key] = draw(st.sampled_from(wrong))
    return broken


_MISSING = object()


def _get(node: Any, path: Sequence[str | int]) -> Any:
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node
