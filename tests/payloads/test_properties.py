"""Hypothesis properties of anonymize_payload/deanonymize_payload over generated payloads of every kind."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy
from anonymizer.errors import PayloadError
from anonymizer.payloads import Kind, anonymize_payload, deanonymize_payload, transform_payload, validate
from anonymizer.testing import (
    chat_complete_requests,
    conversations,
    ecs_data,
    find_responses,
    observability_requests,
    original_values,
    security_messages,
)

ORIGINAL = re.compile(r"Q[a-z]{3,}")
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=["uuid", "placeholder"])
def engine(request: pytest.FixtureRequest) -> Anonymizer:
    """Kibana's default policy, with uuid and placeholder tokens."""
    return Anonymizer(policy=FieldPolicy.kibana_default(), tokens=request.param)


def _text(payload: Any) -> str:
    return orjson.dumps(payload).decode()


def _originals(payload: Any) -> set[str]:
    return set(ORIGINAL.findall(_text(payload)))


_kinds = st.one_of(
    chat_complete_requests().map(lambda p: (p, Kind.SECURITY_CHAT_COMPLETE)),
    observability_requests().map(lambda p: (p, Kind.OBSERVABILITY_CHAT_COMPLETE)),
    conversations(kind="conversation.create").map(lambda p: (p, Kind.CONVERSATION_CREATE)),
    conversations(kind="conversation.update").map(lambda p: (p, Kind.CONVERSATION_UPDATE)),
    conversations().map(lambda p: (p, Kind.CONVERSATION)),
    find_responses().map(lambda p: (p, Kind.CONVERSATION_FIND)),
)


@PROPS
@given(case=_kinds)
def test_generated_payloads_validate(case: tuple[dict[str, Any], Kind]) -> None:
    """Every generated payload validates as its kind."""
    payload, kind = case
    validate(payload, kind)


@PROPS
@given(case=_kinds)
def test_restore_of_anonymize_is_identity(engine: Anonymizer, case: tuple[dict[str, Any], Kind]) -> None:
    """restore(anonymize(p)) == p as JSON, for every kind, and the input is never mutated."""
    payload, kind = case
    before = _text(payload)
    session = engine.session()
    for original in _originals(payload):  # observability: originals known from earlier turns
        if kind is Kind.OBSERVABILITY_CHAT_COMPLETE:
            session.token_for(original)
    hidden = anonymize_payload(session, payload, kind)
    assert _text(payload) == before
    assert deanonymize_payload(session, hidden, kind) == payload


@PROPS
@given(payload=chat_complete_requests())
def test_security_no_original_leaks(engine: Anonymizer, payload: dict[str, Any]) -> None:
    """No value of an anonymized or named field appears anywhere in the anonymized security request."""
    session = engine.session()
    hidden = _text(anonymize_payload(session, payload, Kind.SECURITY_CHAT_COMPLETE))
    secrets = set(session.replacements.values())
    assert secrets == _originals(payload) & secrets  # everything tokenized is a generated original
    assert not [s for s in secrets if s in hidden]
    assert not ORIGINAL.search(hidden)  # and every generated original was tokenized


@PROPS
@given(payload=observability_requests())
def test_observability_no_known_original_leaks(engine: Anonymizer, payload: dict[str, Any]) -> None:
    """Originals the session knows are hidden in content, arguments, data, function responses, instructions."""
    session = engine.session()
    for original in _originals(payload):
        session.token_for(original)
    result = transform_payload(session, payload, Kind.OBSERVABILITY_CHAT_COMPLETE, direction="anonymize")
    assert not ORIGINAL.search(_text(result.payload))


@PROPS
@given(case=_kinds.filter(lambda c: c[1] in (Kind.CONVERSATION, Kind.CONVERSATION_CREATE, Kind.CONVERSATION_FIND)))
def test_conversations_no_mapped_original_leaks(engine: Anonymizer, case: tuple[dict[str, Any], Kind]) -> None:
    """Originals bound in a conversation's replacements are hidden in its title, messages and summary."""
    payload, kind = case
    hidden = anonymize_payload(engine.session(), payload, kind)
    texts = [c.get("title", "") + _text(c.get("messages", [])) + _text(c.get("summary", {})) for c in _convs(hidden)]
    assert not any(ORIGINAL.search(t) for t in texts)


def _convs(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return payload["data"] if "data" in payload and "page" in payload else [payload]


def _token_of(session_map: dict[str, str]) -> dict[str, str]:
    inverse: dict[str, str] = {}
    for token, original in session_map.items():
        assert original not in inverse, "two tokens for one original"
        inverse[original] = token
    return inverse


@PROPS
@given(data=st.data())
def test_same_original_same_token_across_messages_and_turns(engine: Anonymizer, data: st.DataObject) -> None:
    """One original gets one token in every message of a payload and across two turns of one conversation."""
    pool = data.draw(st.lists(original_values(), min_size=1, max_size=3, unique=True))
    session = engine.session()
    turns = [data.draw(chat_complete_requests(pool)) for _ in range(2)]
    hidden = [anonymize_payload(session, t, Kind.SECURITY_CHAT_COMPLETE) for t in turns]
    token_of = _token_of(session.replacements)
    for turn, out in zip(turns, hidden, strict=True):
        for message, anonymized in zip(turn["messages"], out["messages"], strict=True):
            for path, value in _leaves(message.get("data", {})):
                if isinstance(value, str) and ORIGINAL.fullmatch(value):
                    assert _at(anonymized["data"], path) == token_of[value]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [(path, node)]


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@PROPS
@given(data=st.data())
def test_find_uses_one_session_per_conversation(engine: Anonymizer, data: st.DataObject) -> None:
    """Each conversation of a find page is anonymized with its own map; the caller's session is not touched."""
    page = data.draw(find_responses())
    session = engine.session()
    hidden = anonymize_payload(session, page, Kind.CONVERSATION_FIND)
    assert session.replacements == {}
    for before, after in zip(page["data"], hidden["data"], strict=True):
        assert after["replacements"] == before["replacements"]


@PROPS
@given(message=security_messages(), data=ecs_data())
def test_message_and_data_strategies_validate(message: dict[str, Any], data: dict[str, Any]) -> None:
    """security_messages and ecs_data produce valid security chat messages."""
    validate(
        {"connectorId": "c", "persist": False, "messages": [message, {"role": "user", "data": data}]},
        "security.chat_complete",
    )


def test_named_field_stays_anonymized_in_later_messages(engine: Anonymizer) -> None:
    """A field named in fields_to_anonymize of one message is anonymized in later messages' data too."""
    payload = {
        "connectorId": "c",
        "persist": False,
        "messages": [
            {"role": "user", "data": {"source.ip": "Qfirst"}, "fields_to_anonymize": ["source.ip"]},
            {"role": "user", "data": {"source": {"ip": "Qsecond"}}},
        ],
    }
    session = engine.session()
    out = anonymize_payload(session, payload, "security.chat_complete")
    assert "Qsecond" not in _text(out)
    assert sorted(session.replacements.values()) == ["Qfirst", "Qsecond"]


def test_response_kind_restores_data_and_merges_replacements(engine: Anonymizer) -> None:
    """security.chat_complete.response: data restored, replacements merged into the session, rest untouched."""
    session = engine.session()
    body = {
        "connector_id": "c",
        "data": "Ask TOK-1 about it",
        "trace_data": {"traceId": "TOK-1"},
        "replacements": {"TOK-1": "Qalice"},
        "status": "ok",
    }
    out = deanonymize_payload(session, body, "security.chat_complete.response")
    assert out["data"] == "Ask Qalice about it"
    assert out["trace_data"] == {"traceId": "TOK-1"}
    assert session.replacements == {"TOK-1": "Qalice"}


def test_conflicting_replacements_are_a_payload_error(engine: Anonymizer) -> None:
    """A payload map binding a session token to another original is a PayloadError at that token."""
    session = engine.session(replacements={"tok-1": "Qalice"})
    with pytest.raises(PayloadError) as info:
        anonymize_payload(session, {"title": "t", "replacements": {"tok-1": "Qbob"}}, "conversation.create")
    assert info.value.issues[0].json_path == "$.replacements['tok-1']"
    assert "Qbob" not in str(info.value) and "Qalice" not in str(info.value)


def test_conversation_output_merges_session_and_payload_maps(engine: Anonymizer) -> None:
    """A create request's output replacements are the session's map merged with the payload's own."""
    session = engine.session(replacements={"tok-1": "Qalice"})
    body = {"title": "Qalice and Qbob", "replacements": {"tok-2": "Qbob"}}
    out = anonymize_payload(session, body, "conversation.create")
    assert out["title"] == "tok-1 and tok-2"
    assert out["replacements"] == {"tok-1": "Qalice", "tok-2": "Qbob"}


def test_no_replacements_invented_when_nothing_is_known(engine: Anonymizer) -> None:
    """A conversation without replacements, anonymized by an empty session, gets no replacements property."""
    out = anonymize_payload(engine.session(), {"title": "hello"}, "conversation.create")
    assert out == {"title": "hello"}


def test_observability_parts_and_fallback_report(engine: Anonymizer) -> None:
    """Arguments/data/function responses keep their JSON formatting; invalid JSON is handled as text and reported."""
    session = engine.session()
    token = session.token_for("Qalice")
    args = '{\n  "user": "Qalice",  "n": 1\n}'
    body = {
        "connectorId": "c",
        "persist": False,
        "title": "about Qalice",
        "instructions": ["ask Qalice", {"id": "i1", "text": "Qalice"}],
        "messages": [
            {
                "@timestamp": "t0",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "function_call": {"name": "Qalice", "trigger": "assistant", "arguments": args},
                },
            },
            {
                "@timestamp": "t1",
                "message": {"role": "user", "name": "f", "content": '["Qalice"]', "data": "Qalice, not json"},
            },
        ],
    }
    result = transform_payload(session, body, "observability.chat_complete", direction="anonymize")
    out = result.payload
    assert out["messages"][0]["message"]["function_call"] == {
        "name": "Qalice",  # names are never touched
        "trigger": "assistant",
        "arguments": args.replace("Qalice", token),
    }
    assert out["messages"][1]["message"]["content"] == f'["{token}"]'
    assert out["messages"][1]["message"]["data"] == f"{token}, not json"
    assert out["instructions"] == [f"ask {token}", {"id": "i1", "text": token}]
    assert out["title"] == f"about {token}"
    assert result.text_fallbacks == ("$.messages[1].message.data",)


def test_payload_functions_take_kind_members_and_their_string_values(engine: Anonymizer) -> None:
    """anonymize_payload/deanonymize_payload accept Kind members and their string values, dicts and JSON bytes."""
    session = engine.session()
    body = {"title": "x", "messages": [{"role": "user", "content": "hi"}]}
    assert anonymize_payload(session, body, Kind.CONVERSATION_CREATE) == body
    assert deanonymize_payload(session, orjson.dumps(body), "conversation.create") == body
