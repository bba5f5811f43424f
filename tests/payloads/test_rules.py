"""The allow-list: every string of a payload is free text unless a rule of its kind keeps it."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy
from anonymizer.payloads import (
    CONVERSATION_RECORD_RULES,
    Kind,
    Rule,
    anonymize_payload,
    anonymize_strings,
    deanonymize_payload,
    deanonymize_strings,
    rule_at,
    rules_for,
    validate,
)
from anonymizer.testing import assert_no_leak, extra_properties, original_values, payloads
from tests.tagless import untag

SEEDS = Path(__file__).parents[1] / "data" / "seeds"
README = Path(__file__).parents[2] / "README.md"
SEED_KINDS: dict[str, Kind] = {
    "000_chat_complete_request.json": Kind.SECURITY_CHAT_COMPLETE,
    "001_conversation_create_request.json": Kind.CONVERSATION_CREATE,
    "001_conversation_response_200.json": Kind.CONVERSATION,
    "002_conversation_update_request.json": Kind.CONVERSATION_UPDATE,
    "002_conversation_response_200.json": Kind.CONVERSATION,
    "003_observability_request.json": Kind.OBSERVABILITY_CHAT_COMPLETE,
    "004_conversation_find_response_200.json": Kind.CONVERSATION_FIND,
}


def _engine() -> Anonymizer:
    return Anonymizer(policy=FieldPolicy.kibana_default(unknown="keep"), tokens="placeholder")


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return []


def _without_maps(payload: Any) -> Any:
    """The payload without its replacements (anonymizing writes the session's map there, merged)."""
    if isinstance(payload, dict):
        return {k: _without_maps(v) for k, v in payload.items() if k != "replacements"}
    if isinstance(payload, list):
        return [_without_maps(v) for v in payload]
    return payload


def _at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@pytest.mark.parametrize("name", sorted(SEED_KINDS))
def test_every_seed_string_is_hidden_unless_the_allow_list_keeps_it(name: str) -> None:
    """With every string of a seed known as an original, exactly the allow-listed strings come out unchanged."""
    payload = orjson.loads((SEEDS / name).read_bytes())
    kind = SEED_KINDS[name]
    rules = rules_for(kind)
    session = _engine().session(replacements=payload.get("replacements") or None)
    leaves = [(p, s) for p, s in _leaves(payload) if rule_at(rules, p) is not Rule.MAP]
    for _, text in leaves:
        session.token_for(text)
    for conversation in payload["data"] if kind is Kind.CONVERSATION_FIND else ():  # each has its own session
        conversation["replacements"] = session.replacements
    out = anonymize_payload(session, payload, kind)
    kept = []
    for path, text in leaves:
        if rule_at(rules, path) is Rule.KEEP:
            assert _at(out, path) == text
            kept.append(path)
        elif len(text) >= 3:  # shorter originals are not looked for in free text (the documented guard)
            assert _at(out, path) != text, path
    restored = deanonymize_payload(session, out, kind)
    assert _without_maps(restored) == _without_maps(deanonymize_payload(session, payload, kind))
    assert kept or kind is Kind.CONVERSATION_UPDATE


def test_seed_allow_lists_name_only_structure() -> None:
    """What the allow-list keeps of the seeds is ids, roles, timestamps, enum values, names of models/functions."""
    kept: set[str] = set()
    for name, kind in SEED_KINDS.items():
        payload = orjson.loads((SEEDS / name).read_bytes())
        for path, _ in _leaves(payload):
            if rule_at(rules_for(kind), path) is Rule.KEEP:
                kept.add(re.sub(r"\.\d+", "[]", ".".join(map(str, path))).replace(".[]", "[]"))
    assert kept == {
        "connectorId", "conversationId", "langSmithApiKey", "langSmithProject", "model", "promptId",
        "responseLanguage", "messages[].fields_to_anonymize[]", "messages[].role", "id", "category", "createdAt",
        "updatedAt", "timestamp", "namespace", "users[].id", "apiConfig.actionTypeId", "apiConfig.connectorId",
        "apiConfig.defaultSystemPromptId", "apiConfig.model", "apiConfig.provider", "messages[].timestamp",
        "messages[].traceData.traceId", "messages[].traceData.transactionId", "summary.confidence",
        "summary.timestamp", "messages[].@timestamp", "messages[].message.role", "actions[].name",
        "data[].timestamp", "data[].createdAt", "data[].users[].id", "data[].category", "data[].apiConfig.connectorId",
        "data[].apiConfig.actionTypeId", "data[].apiConfig.defaultSystemPromptId", "data[].apiConfig.model",
        "data[].messages[].timestamp", "data[].messages[].role", "data[].updatedAt", "data[].namespace", "data[].id",
    }  # fmt: skip


def test_the_readme_prints_the_allow_list() -> None:
    """Every kept path of every kind is printed in the README's payload section, under its kind."""
    section = README.read_text().split("## Payloads", 1)[1].split("\n## ", 1)[0]
    for kind in Kind:
        line = next((ln for ln in section.splitlines() if f"`{kind.value}`" in ln.split(" | ")[0]), None)
        assert line is not None, kind
        for path, rule in rules_for(kind).items():
            if rule is Rule.KEEP and not path.startswith("data[]."):
                assert f"`{path}`" in line, (kind, path)


def test_find_rules_are_the_conversation_rules_under_data() -> None:
    """A find page's items follow the conversation rules (each with its own session)."""
    conversation = rules_for(Kind.CONVERSATION)
    assert dict(rules_for(Kind.CONVERSATION_FIND)) == {f"data[].{p}": r for p, r in conversation.items()}


OBSERVABILITY_ATTACK: dict[str, Any] = {
    "connectorId": "c1",
    "persist": False,
    "scopes": ["observability"],
    "screenContexts": [
        {
            "screenDescription": "The user is looking at the alert for Qjdoe on Qsrv.",
            "description": "Alert details of Qjdoe",
            "data": [
                {"name": "alert", "description": "alert of Qjdoe", "value": {"user": {"name": "Qjdoe"}, "n": 3}},
                {"name": "raw", "description": "raw", "value": '{"host": "Qsrv", "who": ["Qjdoe"]}'},
            ],
            "actions": [{"name": "isolate", "description": "isolate Qsrv", "parameters": {"enum": ["Qsrv"]}}],
            "starterPrompts": [{"title": "About Qjdoe", "prompt": "Why did Qjdoe log in?", "icon": "user"}],
        }
    ],
    "messages": [
        {
            "@timestamp": "2025-06-25T23:45:00.000Z",
            "message": {"role": "user", "content": "hello", "event": "Qjdoe clicked", "extra": ["Qsrv"]},
            "custom": {"deep": [{"note": "Qjdoe"}]},
        },
        {
            "@timestamp": "2025-06-25T23:45:01.000Z",
            "message": {
                "role": "user",
                "name": "lookup",
                "content": '{"owner": "Qjdoe"}',
                "deanonymizations": [{"start": 0, "end": 5, "entity": {"class_name": "PER", "value": "Qjdoe"}}],
            },
        },
    ],
    "actions": [{"name": "page", "description": "page Qjdoe", "parameters": {"type": "object"}}],
    "instructions": [{"id": "i1", "text": "mind Qsrv"}],
    "clientNotes": "Qjdoe and Qsrv",
}


def test_observability_screen_contexts_events_actions_and_extras_are_hidden_and_restored() -> None:
    """Known originals in screenContexts, message.event, actions[].description and extra properties never leave."""
    session = _engine().session()
    session.token_for("Qjdoe", field="user.name")
    session.token_for("Qsrv", field="host.name")
    body = copy.deepcopy(OBSERVABILITY_ATTACK)
    out = anonymize_payload(session, body, Kind.OBSERVABILITY_CHAT_COMPLETE)
    text = json.dumps(out)
    assert "Qjdoe" not in text
    assert "Qsrv" not in text
    raw = json.loads(out["screenContexts"][0]["data"][1]["value"])
    assert untag(raw) == {"host": "<HOST_NAME_1>", "who": ["<USER_NAME_1>"]}
    assert out["screenContexts"][0]["data"][0]["name"] == "alert"  # structural names stay
    assert out["messages"][1]["message"]["deanonymizations"][0]["entity"]["class_name"] == "PER"
    assert body == OBSERVABILITY_ATTACK  # the input is not touched
    assert deanonymize_payload(session, out, Kind.OBSERVABILITY_CHAT_COMPLETE) == OBSERVABILITY_ATTACK


def test_observability_request_models_the_internal_route_properties() -> None:
    """screenContexts, scopes and isStream validate with Kibana's shapes (a bad scope is a 400)."""
    validate({**OBSERVABILITY_ATTACK, "isStream": False}, Kind.OBSERVABILITY_CHAT_COMPLETE)
    with pytest.raises(ValueError, match=r"scopes\[0\]"):
        validate({**OBSERVABILITY_ATTACK, "scopes": ["Qjdoe"]}, Kind.OBSERVABILITY_CHAT_COMPLETE)
    with pytest.raises(ValueError, match=r"screenContexts\[0\]\.data\[0\]\.description"):
        bad = copy.deepcopy(OBSERVABILITY_ATTACK)
        del bad["screenContexts"][0]["data"][0]["description"]
        validate(bad, Kind.OBSERVABILITY_CHAT_COMPLETE)


def test_security_extras_and_message_properties_are_hidden() -> None:
    """An extra property of a security request or message holding a known original is anonymized."""
    session = _engine().session()
    body = {
        "connectorId": "c",
        "persist": False,
        "messages": [
            {"role": "user", "content": "hi Qjdoe", "note": "Qjdoe"},
            {"role": "user", "data": {"user.name": "Qjdoe"}, "fields_to_anonymize": ["user.name"]},
        ],
        "clientContext": {"who": ["Qjdoe"]},
    }
    out = anonymize_payload(session, body, Kind.SECURITY_CHAT_COMPLETE)
    assert "Qjdoe" not in json.dumps(out)  # also the first message: a later message's data is hidden everywhere
    assert deanonymize_payload(session, out, Kind.SECURITY_CHAT_COMPLETE) == body


def test_conversation_user_names_and_unknown_message_parts_are_free_text() -> None:
    """A conversation's users[].name, refusal, metadata and reader are free text; ids and timestamps stay."""
    session = _engine().session()
    session.token_for("Qjdoe", field="user.name")
    conv = {
        "id": "Qjdoe",
        "users": [{"id": "u1", "name": "Qjdoe"}],
        "messages": [
            {"role": "assistant", "content": "x", "refusal": "not Qjdoe", "metadata": {"refs": ["Qjdoe"]}},
        ],
    }
    out = anonymize_payload(session, conv, Kind.CONVERSATION)
    assert out["id"] == "Qjdoe"
    assert untag(out["users"]) == [{"id": "u1", "name": "<USER_NAME_1>"}]
    assert untag(out["messages"][0]["refusal"]) == "not <USER_NAME_1>"
    assert untag(out["messages"][0]["metadata"]) == {"refs": ["<USER_NAME_1>"]}


def test_record_strings_follow_the_record_rules_in_both_forms() -> None:
    """anonymize_strings over an export record hides every unlisted string (API and Elasticsearch forms)."""
    session = _engine().session()
    session.token_for("Qjdoe", field="user.name")
    record = {
        "@timestamp": "Qjdoe",
        "created_by": {"id": "Qjdoe", "name": "Qjdoe"},
        "api_config": {"connector_id": "Qjdoe", "model": "Qjdoe"},
        "messages": [{"@timestamp": "t", "content": "Qjdoe?", "trace_data": {"trace_id": "Qjdoe"}}],
        "replacements": [{"uuid": "<USER_NAME_1>", "value": "Qjdoe"}],
        "anything": {"else": "Qjdoe"},
    }
    out = anonymize_strings(session, record, CONVERSATION_RECORD_RULES)
    assert out["@timestamp"] == out["created_by"]["id"] == out["api_config"]["connector_id"] == "Qjdoe"
    assert untag(out["created_by"]["name"]) == untag(out["anything"]["else"]) == "<USER_NAME_1>"
    assert untag(out["messages"][0]) == {
        "@timestamp": "t",
        "content": "<USER_NAME_1>?",
        "trace_data": {"trace_id": "Qjdoe"},
    }
    assert out["replacements"] == record["replacements"]  # the map is the caller's to handle
    assert deanonymize_strings(session, out, CONVERSATION_RECORD_RULES) == record


# --- properties ------------------------------------------------------------------------------------------------


@st.composite
def _with_extras(draw: st.DrawFn) -> tuple[dict[str, Any], Kind, list[str]]:
    """A generated payload with extra properties holding known originals, placed in free-text positions."""
    pool = draw(st.lists(original_values(), min_size=1, max_size=4, unique=True))
    payload, kind = draw(payloads(originals=pool))
    return draw(extra_properties(payload, kind, pool)), Kind(kind), pool


@given(case=_with_extras(), tokens=st.sampled_from(["uuid", "placeholder"]))
def test_extra_properties_holding_known_originals_never_leak(
    case: tuple[dict[str, Any], Kind, list[str]], tokens: str
) -> None:
    """Extra properties anywhere (nested, arrays, JSON strings) never carry a known original out; round trip."""
    payload, kind, pool = case
    engine = Anonymizer(policy=FieldPolicy.kibana_default(), tokens=tokens)
    session = engine.session()
    if kind is Kind.CONVERSATION_FIND:  # each conversation has its own session: teach every one of them
        for conversation in payload["data"]:
            conversation.setdefault("replacements", {})
            for original in pool:
                if original not in conversation["replacements"].values():
                    conversation["replacements"][f"{original}-token"[::-1]] = original
    for original in pool:
        session.token_for(original)
    out = anonymize_payload(session, payload, kind)
    assert_no_leak(_without_maps(out), pool, replacements=session.replacements)
    restored = deanonymize_payload(session, out, kind)
    assert _without_maps(restored) == _without_maps(deanonymize_payload(session, payload, kind))


def test_export_redaction_hides_detector_hits_in_every_unlisted_string() -> None:
    """The CLI's record redaction runs free text over every string but the allow-list, and restores exactly."""
    from anonymizer import Finding
    from anonymizer._export.formats import loads
    from anonymizer._export.records import Redactor, restore_conversation

    class Emails:
        def detect(self, text: str) -> list[Finding]:
            return [Finding(m.start(), m.end(), "EMAIL") for m in re.finditer(r"[\w.]+@[\w.-]+\w", text)]

    engine = Anonymizer(policy=FieldPolicy.kibana_default(unknown="keep"), detectors=[Emails()])
    record = {
        "id": "c1",
        "title": "hi",
        "users": [{"id": "u1", "name": "ann@corp.local"}],
        "messages": [{"role": "user", "content": "x", "metadata": {"by": "bob@corp.local"}}],
        "notes": "ask cy@corp.local",
    }
    result = Redactor(engine)((1, json.dumps(record).encode()))
    assert result.output is not None and b"@corp.local" not in result.output
    entry = loads(result.entries[0])
    assert restore_conversation(Anonymizer(), loads(result.output), entry) == record
