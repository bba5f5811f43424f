"""The seed documents' examples (copied verbatim into tests/data/seeds) through models and adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from anonymizer import Anonymizer, FieldPolicy
from anonymizer.errors import Issue, PayloadError
from anonymizer.payloads import (
    ChatCompleteRequest,
    Kind,
    ObservabilityChatCompleteRequest,
    anonymize_payload,
    deanonymize_payload,
    dump,
    rewrite_json_strings,
    validate,
)
from tests.tagless import untag

SEEDS = Path(__file__).parents[1] / "data" / "seeds"

EXAMPLES: dict[str, Kind] = {
    "000_chat_complete_curl.json": Kind.SECURITY_CHAT_COMPLETE,
    "000_chat_complete_request.json": Kind.SECURITY_CHAT_COMPLETE,
    "001_conversation_create_request.json": Kind.CONVERSATION_CREATE,
    "001_conversation_response_200.json": Kind.CONVERSATION,
    "002_conversation_update_request.json": Kind.CONVERSATION_UPDATE,
    "002_conversation_response_200.json": Kind.CONVERSATION,
    "003_observability_curl.json": Kind.OBSERVABILITY_CHAT_COMPLETE,
    "003_observability_request.json": Kind.OBSERVABILITY_CHAT_COMPLETE,
    "004_conversation_find_response_200.json": Kind.CONVERSATION_FIND,
}


def _load(name: str) -> Any:
    return orjson.loads((SEEDS / name).read_bytes())


def _engine() -> Anonymizer:
    # "keep": seed 000's data field user_id is not in Kibana's default list, which would drop it.
    return Anonymizer(policy=FieldPolicy.kibana_default(unknown="keep"), tokens="placeholder")


def test_every_seed_file_is_covered() -> None:
    """Every JSON fixture is exercised below (a new fixture must be given a kind)."""
    on_disk = {p.name for p in SEEDS.glob("*.json") if "_400" not in p.name}
    assert on_disk == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_seed_round_trips_through_the_model(name: str) -> None:
    """Parsing a seed example (from its raw bytes) and dumping it gives back the same JSON."""
    raw = (SEEDS / name).read_bytes()
    assert dump(validate(raw, EXAMPLES[name])) == orjson.loads(raw)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_seed_anonymizes_and_restores(name: str) -> None:
    """restore(anonymize(seed)) == seed, and the input object is left untouched."""
    payload = _load(name)
    before = orjson.dumps(payload)
    session = _engine().session()
    anonymized = anonymize_payload(session, payload, EXAMPLES[name])
    assert orjson.dumps(payload) == before
    assert deanonymize_payload(session, anonymized, EXAMPLES[name]) == payload


def test_seed_000_named_fields_are_hidden_in_data_and_content() -> None:
    """A seed-000 message naming user.name hides its value in data and in every later message's content."""
    payload = _load("000_chat_complete_request.json")
    payload["messages"][0]["data"]["user.name"] = "Qjdoe"
    payload["messages"].append({"role": "assistant", "content": "Ask Qjdoe."})
    session = _engine().session()
    out = anonymize_payload(session, payload, "security.chat_complete")
    assert untag(out["messages"][0]["data"]) == {"user_id": "user_789", "user.name": "<USER_NAME_1>"}
    assert untag(out["messages"][1]["content"]) == "Ask <USER_NAME_1>."
    assert untag(session.replacements) == {"<USER_NAME_1>": "Qjdoe"}


def test_seed_000_default_policy_drops_unlisted_field() -> None:
    """With Kibana's default policy the seed's user_id (not in the list) is dropped, as Kibana does."""
    session = Anonymizer().session()
    out = anonymize_payload(session, _load("000_chat_complete_request.json"), "security.chat_complete")
    assert out["messages"][0]["data"] == {}


def test_seed_001_replacements_hide_their_originals() -> None:
    """Seed 001's map binds additionalProperty1 to "string": every "string" title/content becomes the token."""
    payload = _load("001_conversation_response_200.json")
    session = _engine().session()
    out = anonymize_payload(session, payload, "conversation")
    assert out["title"] == "additionalProperty1"
    assert out["messages"][0]["content"] == "additionalProperty1"
    assert out["summary"]["content"] == "additionalProperty1"
    assert out["replacements"] == payload["replacements"]
    assert out["apiConfig"] == payload["apiConfig"]  # not free text: untouched


def test_seed_003_is_a_typed_model() -> None:
    """Seed 003 parses into typed models with wire aliases (``@timestamp``, ``connectorId``)."""
    model = validate(_load("003_observability_request.json"), "observability.chat_complete")
    assert isinstance(model, ObservabilityChatCompleteRequest)
    assert model.connector_id == "<connectorId>"
    assert model.messages[0].timestamp == "2025-06-25T23:45:00.000Z"
    assert model.instructions is not None and isinstance(model.instructions[0], str)
    assert model.actions is not None and model.actions[0].parameters is not None


def test_seed_000_curl_body_is_a_typed_model() -> None:
    """Seed 000's curl body gives a ChatCompleteRequest with unset optional fields left out of the dump."""
    model = validate(_load("000_chat_complete_curl.json"), Kind.SECURITY_CHAT_COMPLETE)
    assert isinstance(model, ChatCompleteRequest)
    assert model.conversation_id is None
    assert "conversationId" not in dump(model)


def test_seed_003_stream_arguments_rewrite_round_trips() -> None:
    """The function-call arguments in seed 003's SSE chunk keep their exact text through a rewrite and back."""
    line = (SEEDS / "003_response_200.sse").read_text().splitlines()[0]
    chunk = orjson.loads(line.removeprefix("data: "))
    arguments = chunk["choices"][0]["delta"]["function_call"]["arguments"]
    assert rewrite_json_strings(arguments, lambda s: s + "!") == arguments  # no string value inside
    assert orjson.loads(arguments) == {"includeShardStats": True}


@pytest.mark.parametrize("name", ["000_response_400.json", "001_response_400.json"])
def test_kibana_error_has_the_documented_400_shape(name: str) -> None:
    """to_kibana_error() has exactly the keys of the seeds' 400 examples."""
    error = PayloadError([Issue(("connectorId",), "Required")], kind="security.chat_complete")
    assert set(error.to_kibana_error()) == set(_load(name))
