"""Hypothesis strategies for every payload kind of :mod:`anonymizer.payloads`.

Generated payloads are valid by default (the :mod:`anonymizer.payloads` models accept them). Values that must be
hidden ("originals") are drawn from :func:`~anonymizer.testing.original_values`: a capital ``Q`` then at least
three lowercase letters, so an original can never occur by accident inside a wire key, a role, a token, or the
lowercase filler text around it. That makes the no-leak property exact: ``original not in json_text`` for every
original, despite the engine's free-text guard (whole words, at least ``min_length`` characters).

Each strategy takes ``originals`` (a sequence of strings) to draw its secrets from, and ``invalid=True`` to break
one required property (see :func:`break_payload`). Sizes are small by default and every choice shrinks towards
the simplest payload.
"""

from __future__ import annotations

import json
import string
import uuid
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from anonymizer.errors import ConfigError
from anonymizer.payloads import rule_at, rules_for
from anonymizer.testing._ecs import NAMEABLE_FIELDS, WORD, ecs_data, filler_text, original_values

__all__ = [
    "break_payload",
    "extra_properties",
    "chat_complete_requests",
    "conversations",
    "find_responses",
    "observability_requests",
    "payloads",
    "security_messages",
]

_WORD = WORD
_SECURITY_ROLES = ["user", "assistant", "system"]


def _pool(draw: st.DrawFn, originals: Sequence[str] | None, max_size: int) -> list[str]:
    if originals:
        return list(originals)
    return draw(st.lists(original_values(), min_size=1, max_size=max_size, unique=True))


_INVALID_MESSAGE: tuple[tuple[str, Any], ...] = (
    ("role", None),  # removed
    ("role", "not-a-role"),
    ("role", 42),
    ("content", None),
    ("data", []),
    ("fields_to_anonymize", "user.name"),
)


@st.composite
def security_messages(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    named: Sequence[str] = (),
    invalid: bool = False,
) -> dict[str, Any]:
    """One message of a security chat/complete request: ``role``, maybe ``data`` and ``content``.

    >>> from anonymizer.testing import security_messages
    >>> security_messages(["Qalice"]).example()  # doctest: +SKIP
    {'role': 'user', 'data': {'user.name': 'Qalice'}, 'content': 'hi Qalice, 42\\n'}

    ``data`` (from :func:`~anonymizer.testing.ecs_data`) hides some of ``originals`` (in the anonymized fields and
    in ``named`` ones); ``content`` mentions only originals of its own ``data``, so anonymizing the message alone
    hides every original it holds. ``invalid=True`` breaks the message: ``role`` missing, outside the enum or not
    a string, ``content`` null, ``data`` not an object, or ``fields_to_anonymize`` not a list.
    """
    pool = _pool(draw, originals, 4)
    message: dict[str, Any] = {"role": draw(st.sampled_from(_SECURITY_ROLES))}
    if draw(st.booleans()):
        message["data"] = draw(ecs_data(pool, named=named))
    mentioned = _values(message.get("data", {}))
    if draw(st.booleans()):
        message["content"] = draw(filler_text(sorted(set(pool) & mentioned)))
    if invalid:
        key, wrong = draw(st.sampled_from(_INVALID_MESSAGE))
        if key == "role" and wrong is None:
            del message["role"]
        else:
            message[key] = wrong
    return message


def _values(data: Any) -> set[str]:
    """Every string leaf of a JSON value."""
    if isinstance(data, dict):
        return set().union(*(_values(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(_values(v) for v in data)) if data else set()
    return {data} if isinstance(data, str) else set()


@st.composite
def chat_complete_requests(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    max_messages: int = 4,
    invalid: bool = False,
) -> dict[str, Any]:
    """A ``security.chat_complete`` request (the body of Kibana's security AI Assistant chat/complete):
    ``connectorId``, ``persist``, 1 to ``max_messages`` messages.

    >>> from anonymizer.testing import chat_complete_requests
    >>> chat_complete_requests(["Qalice"]).example()  # doctest: +SKIP
    {'connectorId': 'a', 'persist': False, 'messages': [{'role': 'user', 'data': {'user.name': 'Qalice'}}]}

    Messages carry ECS ``data`` with originals in the anonymized fields and in fields named by a message's
    ``fields_to_anonymize`` (which stay anonymized for the later messages, as in Kibana). ``content`` only
    mentions originals already hidden in the ``data`` of that message or an earlier one, so after
    ``anonymize_payload`` no original is left anywhere. Optional properties (``conversationId``, ``isStream``,
    ``model``, ``promptId``, ``responseLanguage``) come and go. ``invalid=True`` breaks one required property
    (:func:`break_payload`).
    """
    pool = _pool(draw, originals, 5)
    named: list[str] = []
    known: set[str] = set()
    messages = []
    for _ in range(draw(st.integers(1, max(1, max_messages)))):
        message: dict[str, Any] = {"role": draw(st.sampled_from(_SECURITY_ROLES))}
        with_data: bool = draw(st.booleans())
        new_names: list[str] = (
            draw(st.lists(st.sampled_from(NAMEABLE_FIELDS), unique=True, max_size=2)) if with_data else []
        )
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


_JSON_KEY = st.text(string.ascii_lowercase, min_size=1, max_size=6)


@st.composite
def _embedded_json(draw: st.DrawFn, pool: Sequence[str]) -> str:
    """A JSON text (function arguments, a function's answer), in any formatting; 1 in 10 is not JSON at all."""
    leaves = st.one_of(filler_text(pool, max_words=3), st.integers(), st.booleans(), st.none())
    value = draw(
        st.recursive(
            st.dictionaries(_JSON_KEY, leaves, max_size=3),
            lambda inner: st.dictionaries(_JSON_KEY, inner, max_size=3) | st.lists(inner, max_size=3),
            max_leaves=8,
        )
    )
    if draw(st.integers(0, 9)) == 0:  # sometimes not JSON at all: handled as text
        return draw(filler_text(pool))
    return json.dumps(value, indent=draw(st.sampled_from([None, 2, 4])), ensure_ascii=draw(st.booleans()))


@st.composite
def observability_requests(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    max_messages: int = 5,
    invalid: bool = False,
) -> dict[str, Any]:
    """An ``observability.chat_complete`` request (the body of Kibana's observability AI Assistant chat/complete):
    text, function calls and function responses.

    >>> from anonymizer.testing import observability_requests
    >>> observability_requests(["Qalice"]).example()  # doctest: +SKIP
    {'connectorId': 'a', 'persist': True, 'messages': [{'@timestamp': '2025-06-25T23:45:00.000Z',
     'message': {'role': 'user', 'content': 'Qalice. '}}]}

    Originals appear in message ``content`` and ``event``, in ``function_call.arguments``, in a function
    response's ``content`` and ``data`` (JSON texts in any formatting, sometimes not JSON at all), in
    ``instructions``, ``title``, ``actions[].description`` and the ``screenContexts`` the Kibana UI sends
    (``description``, ``screenDescription``, ``data[].description``/``value``, ``starterPrompts``); never in
    names, roles, ids, scopes or timestamps. This API carries no ECS ``data``: an original is hidden only if the
    session already knows it (an earlier turn, ``session.token_for``) or a detector finds it.
    ``invalid=True`` breaks one required property (:func:`break_payload`).
    """
    pool = _pool(draw, originals, 5)
    messages = []
    for i in range(draw(st.integers(1, max(1, max_messages)))):
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
            if draw(st.integers(0, 3)) == 0:
                message["event"] = draw(filler_text(pool, max_words=3))
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
            {
                "name": "get_cluster_health",
                "description": draw(filler_text(pool, max_words=4)),
                "parameters": {"type": "object"},
            }
        ]
    if draw(st.integers(0, 3)) == 0:
        body["scopes"] = [draw(st.sampled_from(["observability", "search", "all"]))]
        body["screenContexts"] = [draw(_screen_context(pool))]
    if draw(st.booleans()):
        body["title"] = draw(filler_text(pool, max_words=4))
    return draw(break_payload(body, "observability.chat_complete")) if invalid else body


@st.composite
def _screen_context(draw: st.DrawFn, pool: Sequence[str]) -> dict[str, Any]:
    """What the Kibana UI sends of the user's screen: descriptions, data of any shape, starter prompts."""
    text = filler_text(pool, max_words=4)
    context: dict[str, Any] = {"screenDescription": draw(text)}
    if draw(st.booleans()):
        value = draw(st.one_of(text, st.dictionaries(_JSON_KEY, text, max_size=2), st.lists(text, max_size=2)))
        context["data"] = [{"name": draw(_WORD), "description": draw(text), "value": value}]
    if draw(st.booleans()):
        context["starterPrompts"] = [{"title": draw(text), "prompt": draw(text), "icon": "search"}]
    return context


def _token() -> st.SearchStrategy[str]:
    return st.uuids(version=4).map(str)


_CONVERSATION_KINDS = ("conversation", "conversation.create", "conversation.update")


@st.composite
def conversations(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    kind: str = "conversation",
    max_messages: int = 3,
    invalid: bool = False,
) -> dict[str, Any]:
    """A stored conversation: ``kind`` is ``conversation`` (a response), ``conversation.create`` or ``.update``.

    >>> from anonymizer.testing import conversations
    >>> conversations(["Qalice"], kind="conversation.create").example()  # doctest: +SKIP
    {'title': 'Qalice', 'replacements': {'1f0e...': 'Qalice'}}

    Its ``replacements`` bind every original its title, messages and summary may mention (uuid tokens), as a
    stored conversation's map does; anonymizing it with any session hides them all. ``invalid=True`` breaks one
    required property (:func:`break_payload`).
    """
    if kind not in _CONVERSATION_KINDS:
        raise ConfigError(f"kind must be one of {', '.join(_CONVERSATION_KINDS)}")
    pool = _pool(draw, originals, 4)
    tokens = draw(st.lists(_token(), min_size=len(pool), max_size=len(pool), unique=True))
    conv: dict[str, Any] = {}
    if kind != "conversation.create" or draw(st.booleans()):
        conv["id"] = str(uuid.UUID(int=draw(st.integers(1, 2**64))))
    if kind != "conversation.update" or draw(st.booleans()):
        conv["title"] = draw(filler_text(pool, max_words=4))
    if draw(st.booleans()) or kind == "conversation":
        conv["messages"] = [
            {
                "role": draw(st.sampled_from(_SECURITY_ROLES)),
                "content": draw(filler_text(pool)),
                "timestamp": "2024-08-02T07:19:08.124Z",
            }
            for _ in range(draw(st.integers(0, max_messages)))
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
def find_responses(
    draw: st.DrawFn,
    originals: Sequence[str] | None = None,
    *,
    max_conversations: int = 3,
    invalid: bool = False,
) -> dict[str, Any]:
    """A ``conversation.find`` page (Kibana's answer to ``GET .../current_user/conversations/_find``): up to
    ``max_conversations`` conversations, each with its own map.

    >>> from anonymizer.testing import find_responses
    >>> find_responses(["Qalice"]).example()  # doctest: +SKIP
    {'page': 1, 'perPage': 20, 'total': 1, 'data': [{'id': '...', 'title': 'Qalice', ...}]}

    ``invalid=True`` breaks one required property (``page``, ``perPage``, ``total``, ``data``, or a
    conversation's ``id``).
    """
    data = draw(st.lists(conversations(originals), min_size=1 if invalid else 0, max_size=max_conversations))
    page = {"page": 1, "perPage": 20, "total": len(data), "data": data}
    return draw(break_payload(page, "conversation.find")) if invalid else page


_KINDS = (
    "security.chat_complete",
    "observability.chat_complete",
    "conversation.create",
    "conversation.update",
    "conversation",
    "conversation.find",
)


def _generator(kind: str, originals: Sequence[str] | None) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "security.chat_complete":
        return chat_complete_requests(originals)
    if kind == "observability.chat_complete":
        return observability_requests(originals)
    if kind == "conversation.find":
        return find_responses(originals)
    return conversations(originals, kind=kind)


def payloads(
    *, kinds: Sequence[str] | None = None, originals: Sequence[str] | None = None
) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """``(payload, kind)`` pairs over every request/conversation kind (or only ``kinds``), simplest kind first.

    >>> from anonymizer.testing import payloads
    >>> payloads(kinds=["conversation.create"]).example()  # doctest: +SKIP
    ({'title': 'Qabc', 'replacements': {...}}, 'conversation.create')

    The kinds are the :class:`anonymizer.payloads.Kind` values that have a generator here (every kind but
    ``security.chat_complete.response``); ``kind`` comes back as the string value.
    """
    chosen = [str(k) for k in kinds] if kinds is not None else list(_KINDS)
    if not chosen or any(k not in _KINDS for k in chosen):
        raise ConfigError(f"kinds must be among {', '.join(_KINDS)}")
    return st.one_of(*(_tagged(_generator(k, originals), k) for k in chosen))


_EXTRA_KEY = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@st.composite
def extra_properties(
    draw: st.DrawFn, payload: dict[str, Any], kind: str, originals: Sequence[str], *, max_extras: int = 4
) -> dict[str, Any]:
    """A copy of ``payload`` with unknown properties holding ``originals``, wherever the rules say free text.

    >>> from anonymizer.testing import extra_properties
    >>> extra_properties({"title": "x"}, "conversation.create", ["Qabc"]).example()  # doctest: +SKIP
    {'title': 'x', 'note': ['see Qabc, note']}

    The values are an original, a sentence around one, a JSON text holding one, or lists and objects of those;
    they go into objects (the root, messages, nested parts) that no allow-list rule of ``kind`` covers
    (:func:`anonymizer.payloads.rule_at`), under lowercase keys the payload does not have. An anonymized payload
    must hide all of them: the property to check with :func:`assert_no_leak`.
    """
    copy: dict[str, Any] = json.loads(json.dumps(payload))
    rules = rules_for(kind)
    leaf = st.one_of(
        st.sampled_from(list(originals)),
        st.builds(lambda o, w: f"{w} {o}, {w}", st.sampled_from(list(originals)), _EXTRA_KEY),
        st.sampled_from(list(originals)).map(lambda o: json.dumps({"v": o, "n": 1})),
    )
    value = st.recursive(
        leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_EXTRA_KEY, inner, max_size=3)
    )
    targets = [(path, node) for path, node in _objects(copy, ()) if rule_at(rules, path) is None]
    for _ in range(draw(st.integers(1, max(1, max_extras)))):
        path, target = draw(st.sampled_from(targets))
        key = draw(_EXTRA_KEY)
        if key not in target and rule_at(rules, (*path, key)) is None:
            target[key] = draw(value)
    return copy


def _objects(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every object of a JSON value with its path, the root first."""
    found: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
    if isinstance(value, dict):
        found.append((path, value))
        for k, v in value.items():
            found.extend(_objects(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_objects(v, (*path, i)))
    return found


def _tagged(payloads: st.SearchStrategy[dict[str, Any]], kind: str) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    return payloads.map(lambda p: (p, kind))


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
    "conversation.find": (("page",), ("perPage",), ("total",), ("data",), ("data", 0, "id")),
}

#: Wrong values for a required property: each is used only where its type differs from the right one.
_WRONG: tuple[Any, ...] = (None, 42, True, [], {}, "not-a-role")


@st.composite
def break_payload(draw: st.DrawFn, payload: dict[str, Any], kind: str) -> dict[str, Any]:
    """``payload`` (a copy) with one required property of ``kind`` removed or given a value of the wrong type.

    >>> from anonymizer.testing import break_payload
    >>> break_payload({"title": "x"}, "conversation.create").example()  # doctest: +SKIP
    {}

    Every result fails :func:`anonymizer.payloads.validate` with a :class:`~anonymizer.errors.PayloadError`.
    ``kind`` is any kind but ``security.chat_complete.response``.
    """
    if kind not in _REQUIRED:
        raise ConfigError(f"kind must be one of {', '.join(_REQUIRED)}")
    candidates = [p for p in _REQUIRED[kind] if _get(payload, p) is not _MISSING]
    if not candidates:
        raise ConfigError(f"the payload has none of the required properties of {kind} left to break")
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
