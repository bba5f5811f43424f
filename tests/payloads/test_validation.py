"""Invalid payloads: Kibana-worded PayloadError with paths, no value echoed, nothing else raised."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer
from anonymizer.errors import PayloadError
from anonymizer.payloads import (
    MAX_DEPTH,
    ChatCompleteQuery,
    FindConversationsQuery,
    Kind,
    anonymize_payload,
    deanonymize_payload,
    models_for,
    validate,
)
from anonymizer.testing import chat_complete_requests, conversations, observability_requests

SECRET = "Qsecretvalue"


def _error(payload: object, kind: Kind | str) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        validate(payload, kind)
    err = info.value
    assert SECRET not in str(err)
    assert SECRET not in json.dumps(err.to_kibana_error())
    return err


def _kibana(payload: object, kind: Kind | str) -> str:
    message = _error(payload, kind).to_kibana_error()["message"]
    assert isinstance(message, str)
    return message


def _chat(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"connectorId": "c1", "persist": True, "messages": [{"role": "user", "content": "hi"}]}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def _obs_message(**message: Any) -> dict[str, Any]:
    return {"@timestamp": "2025-06-25T23:45:00.000Z", "message": {"role": "user", "content": "x", **message}}


def test_security_required_fields_all_reported() -> None:
    """An empty security body lists connectorId, persist and messages as Required, in Kibana's format."""
    assert _kibana({}, "security.chat_complete") == (
        "[request body]: connectorId: Required, persist: Required, messages: Required"
    )


def test_security_wrong_types_are_zod_worded() -> None:
    """Wrong types read as zod's ``Expected X, received Y``."""
    message = _kibana(_chat(connectorId=1, persist="true"), "security.chat_complete")
    assert message == (
        "[request body]: connectorId: Expected string, received number, persist: Expected boolean, received string"
    )


def test_security_role_enum_does_not_echo_the_value() -> None:
    """A bad role names the allowed values but not the value received (a deliberate deviation from zod)."""
    err = _error(_chat(messages=[{"role": SECRET}]), "security.chat_complete")
    assert err.to_kibana_error()["message"] == (
        "[request body]: messages.0.role: Invalid enum value. Expected 'system' | 'user' | 'assistant'"
    )
    assert err.issues[0].json_path == "$.messages[0].role"


def test_security_missing_role_is_required() -> None:
    """A message without role is ``messages.0.role: Required``."""
    assert _kibana(_chat(messages=[{"content": SECRET}]), "security.chat_complete") == (
        "[request body]: messages.0.role: Required"
    )


@pytest.mark.parametrize("data", [[SECRET], SECRET, 5, None, True])
def test_security_non_object_data_is_rejected(data: object) -> None:
    """``data`` must be an object; anything else is reported at messages.0.data, value not echoed."""
    message = _kibana(_chat(messages=[{"role": "user", "data": data}]), "security.chat_complete")
    assert message.startswith("[request body]: messages.0.data: Expected object, received ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("   ", "conversationId: No empty strings allowed"),
        ("", "conversationId: String must contain at least 1 character(s), conversationId: No empty strings allowed"),
        (None, "conversationId: Expected string, received null"),
    ],
)
def test_security_conversation_id_is_a_non_empty_string(value: object, expected: str) -> None:
    """conversationId is Kibana's NonEmptyString: whitespace-only and empty ids are rejected."""
    assert _kibana(_chat(conversationId=value), "security.chat_complete") == "[request body]: " + expected


def test_update_id_is_required_and_non_empty() -> None:
    """conversation.update needs a non-empty id; create needs a title."""
    assert _kibana({"title": SECRET}, "conversation.update") == "[request body]: id: Required"
    assert _kibana({"id": " \t"}, "conversation.update") == "[request body]: id: No empty strings allowed"
    assert _kibana({"id": SECRET}, "conversation.create") == "[request body]: title: Required"


def test_conversation_message_needs_role_and_content() -> None:
    """A conversation message without role and content reports both; a bad category is an enum error."""
    message = _kibana({"title": "t", "category": SECRET, "messages": [{}]}, "conversation.create")
    assert message == (
        "[request body]: category: Invalid enum value. Expected 'assistant' | 'insights', "
        "messages.0.role: Required, messages.0.content: Required"
    )


def test_replacements_values_must_be_strings() -> None:
    """A replacements value that is not a string is reported at its token."""
    message = _kibana({"title": "t", "replacements": {"tok": 5}}, "conversation.create")
    assert message == "[request body]: replacements.tok: Expected string, received number"


def test_observability_required_fields() -> None:
    """Observability requires connectorId, persist, messages, @timestamp, message.role and function_call parts."""
    assert _kibana({}, "observability.chat_complete") == (
        "[request body]: connectorId: Required, persist: Required, messages: Required"
    )
    body = {"connectorId": "c", "persist": "yes", "messages": [{"message": {"role": SECRET, "function_call": {}}}]}
    assert _kibana(body, "observability.chat_complete") == (
        "[request body]: persist: Expected boolean, received string, messages.0.@timestamp: Required, "
        "messages.0.message.role: Invalid enum value. Expected 'system' | 'assistant' | 'function' | 'user' | "
        "'elastic', messages.0.message.function_call.name: Required, "
        "messages.0.message.function_call.trigger: Required"
    )


def test_observability_persist_accepts_boolean_strings_and_keeps_them() -> None:
    """io-ts toBooleanRt: persist "true"/"false" is accepted and dumped as given."""
    model = validate({"connectorId": "c", "persist": "false", "messages": []}, "observability.chat_complete")
    assert model.model_dump(by_alias=True, exclude_unset=True)["persist"] == "false"


def test_observability_instruction_shapes() -> None:
    """instructions accept strings, {id, text}, {doc_id, text} and {text, instruction_type}; not numbers."""
    ok = ["a", {"id": "1", "text": "b"}, {"doc_id": "2", "text": "c"}, {"text": "d", "instruction_type": "user"}]
    validate({"connectorId": "c", "persist": True, "messages": [], "instructions": ok}, "observability.chat_complete")
    bad = {"connectorId": "c", "persist": True, "messages": [], "instructions": [5, {"id": SECRET}]}
    assert _kibana(bad, "observability.chat_complete") == (
        "[request body]: instructions.0: Expected object, received number, instructions.1.text: Required"
    )


def test_observability_disable_functions_shapes() -> None:
    """disableFunctions is a boolean or {except: [...]} (older form); a string is a type error."""
    base = {"connectorId": "c", "persist": True, "messages": []}
    validate({**base, "disableFunctions": {"except": ["a"]}}, "observability.chat_complete")
    assert _kibana({**base, "disableFunctions": SECRET}, "observability.chat_complete") == (
        "[request body]: disableFunctions: Expected boolean, received string"
    )


def test_observability_trigger_enum() -> None:
    """function_call.trigger must be assistant | user | elastic."""
    call = {"name": "f", "trigger": SECRET}
    body = {"connectorId": "c", "persist": True, "messages": [_obs_message(function_call=call)]}
    assert _kibana(body, "observability.chat_complete") == (
        "[request body]: messages.0.message.function_call.trigger: Invalid enum value. "
        "Expected 'assistant' | 'user' | 'elastic'"
    )


def test_more_than_five_issues_are_summarized() -> None:
    """Kibana lists five issues, then ``and N more``."""
    body = {"connectorId": 1, "persist": 1, "messages": [{"role": 1}, {"role": 2}, {"role": 3}, {"role": 4}]}
    assert _kibana(body, "security.chat_complete").endswith(", and 1 more")


def test_find_response_needs_page_fields_and_ids() -> None:
    """A find page needs page, perPage, total, data, and an id on every conversation."""
    assert _kibana({"page": 1.5, "perPage": True, "data": [{}]}, "conversation.find") == (
        "[request body]: page: Expected integer, received float, perPage: Expected number, received boolean, "
        "total: Required, data.0.id: Required"
    )


def test_security_response_requires_its_fields() -> None:
    """The chat/complete JSON response requires connector_id, data, status and replacements."""
    assert _kibana({}, "security.chat_complete.response") == (
        "[request body]: connector_id: Required, data: Required, status: Required, replacements: Required"
    )


def test_json_syntax_error_gives_position_not_text() -> None:
    """A JSON syntax error names line, column and offset, never the text around it."""
    err = _error(b'{"connectorId": ' + SECRET.encode() + b"}", "security.chat_complete")
    assert err.issues[0].message == "Invalid JSON at line 1 column 17 (char 16)"


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"", b"[1,", "null", "[]", '"s"'])
def test_non_object_or_broken_json_is_a_payload_error(raw: str | bytes) -> None:
    """Non-JSON bytes, empty input and non-object JSON all give PayloadError."""
    _error(raw, "conversation.create")


def _deep(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def test_ten_thousand_deep_data_dict_is_rejected() -> None:
    """10,000-deep nesting in data (as a dict) is a PayloadError naming the depth limit, not a RecursionError."""
    err = _error(_chat(messages=[{"role": "user", "data": _deep(10_000)}]), "security.chat_complete")
    assert err.issues[0].message == f"Nesting deeper than {MAX_DEPTH} levels"


def test_ten_thousand_deep_json_text_is_rejected() -> None:
    """10,000-deep nesting given as JSON text is a PayloadError too."""
    text = '{"connectorId":"c","persist":true,"messages":[{"role":"user","data":' + '{"a":' * 10_000
    text += "1" + "}" * 10_000 + "}]}"
    _error(text, "security.chat_complete")


def test_deep_list_nesting_is_rejected() -> None:
    """10,000 nested lists inside data are rejected as well."""
    value: Any = []
    for _ in range(10_000):
        value = [value]
    _error(_chat(messages=[{"role": "user", "data": {"x": value}}]), "security.chat_complete")


def test_fifty_megabyte_string_is_rejected_without_echo() -> None:
    """A 50 MB string gives a length error at its path; the message stays short."""
    huge = SECRET * (50 * 1024 * 1024 // len(SECRET))
    err = _error(_chat(messages=[{"role": "user", "content": huge}]), "security.chat_complete")
    assert err.issues[0].json_path == "$.messages[0].content"
    assert len(str(err)) < 200


def test_lone_surrogate_is_rejected() -> None:
    """A lone surrogate (which cannot be encoded as UTF-8) is a PayloadError at its path."""
    err = _error(_chat(messages=[{"role": "user", "content": "a\ud800b"}]), "security.chat_complete")
    assert err.issues[0].json_path == "$.messages[0].content"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, object(), b"bytes"])
def test_non_json_python_values_are_rejected(value: object) -> None:
    """Python values that are not JSON (NaN, sets, objects, bytes) inside data give PayloadError."""
    _error(_chat(messages=[{"role": "user", "data": {"x": value}}]), "security.chat_complete")


def test_anonymize_payload_validates_first() -> None:
    """anonymize_payload and deanonymize_payload raise PayloadError on invalid input, before any work."""
    session = Anonymizer().session()
    with pytest.raises(PayloadError):
        anonymize_payload(session, {"persist": True}, "security.chat_complete")
    with pytest.raises(PayloadError):
        deanonymize_payload(session, {"data": []}, "conversation.find")
    assert session.replacements == {}


def test_unknown_kind_is_a_value_error() -> None:
    """An unknown kind name raises ValueError listing the known kinds."""
    with pytest.raises(ValueError, match=r"conversation\.find"):
        models_for("conversation.delete")


def test_query_models() -> None:
    """Query parameters keep their given types and reject bad values with zod wording."""
    q = FindConversationsQuery.model_validate({"page": "2", "per_page": 100, "fields": "title,id"})
    assert q.model_dump(by_alias=True, exclude_unset=True) == {"page": "2", "per_page": 100, "fields": "title,id"}
    with pytest.raises(PayloadError) as info:
        from anonymizer.payloads._validation import validate_model

        validate_model(FindConversationsQuery, {"page": 0, "sort_order": "up"})
    assert [i.message for i in info.value.issues] == [
        "Number must be greater than or equal to 1",
        "Invalid enum value. Expected 'asc' | 'desc'",
    ]
    ChatCompleteQuery.model_validate({"content_references_disabled": "true"})


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        chat_complete_requests(invalid=True).map(lambda p: (p, "security.chat_complete")),
        observability_requests(invalid=True).map(lambda p: (p, "observability.chat_complete")),
        conversations(kind="conversation.create", invalid=True).map(lambda p: (p, "conversation.create")),
        conversations(kind="conversation.update", invalid=True).map(lambda p: (p, "conversation.update")),
        conversations(invalid=True).map(lambda p: (p, "conversation")),
    )
)
def test_broken_generated_payloads_give_payload_error(case: tuple[dict[str, Any], str]) -> None:
    """Every generated payload with a required property removed or mistyped gives a PayloadError."""
    payload, kind = case
    err = _error(payload, kind)
    assert err.issues and err.kind == kind


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_arbitrary_json_never_raises_anything_else(value: object) -> None:
    """Any JSON value, for any kind, either validates or raises PayloadError."""
    for kind in Kind:
        with contextlib.suppress(PayloadError):
            validate(value, kind)
