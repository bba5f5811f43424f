"""What each payload kind does to each of its strings: the allow-list of structural properties, in one place.

The rule is "free text unless listed": every string of a payload (declared properties, unknown ones, nested
objects and arrays, the string values of embedded JSON) is anonymized as free text (known originals, their case
variants, detector hits) and restored the same way. Only the properties listed here as :attr:`Rule.KEEP` pass
untouched: ids, connector ids, roles, enum values, timestamps, function names, model names, and configuration
Kibana itself consumes. A few others get a dedicated treatment (:attr:`Rule.JSON`, :attr:`Rule.DATA`,
:attr:`Rule.MAP`).

Paths are dotted property names from the payload's root; ``[]`` stands for every item of an array. A rule on an
object or array covers everything below it. Property names (keys) are never rewritten.

>>> rules_for("observability.chat_complete")["messages[].message.role"]
<Rule.KEEP: 'keep'>
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from anonymizer.payloads._kinds import Kind, as_kind

__all__ = ["CONVERSATION_RECORD_RULES", "Rule", "rule_at", "rules_for"]


class Rule(StrEnum):
    """How a payload property is handled; a property no rule names is free text."""

    KEEP = "keep"
    """Structural: passed through as it is, in both directions."""
    JSON = "json"
    """A JSON text: each string value in it is free text; formatting kept (plain text when it is not JSON)."""
    DATA = "data"
    """ECS ``data``: the field policy decides (dropped, tokenized, or kept with known originals hidden)."""
    MAP = "map"
    """The ``replacements`` map: merged into the session, written back as the session's map."""


K, J, D, M = Rule.KEEP, Rule.JSON, Rule.DATA, Rule.MAP

_SECURITY_CHAT_COMPLETE: Final = {
    "connectorId": K,
    "conversationId": K,
    "promptId": K,
    "model": K,
    "responseLanguage": K,
    "langSmithProject": K,  # tracing configuration Kibana consumes; never sent to the model
    "langSmithApiKey": K,  # a credential for Kibana's tracing: rewriting it would break tracing
    "messages[].role": K,
    "messages[].fields_to_anonymize": K,  # ECS field names
    "messages[].data": D,
}

_SECURITY_CHAT_COMPLETE_RESPONSE: Final = {
    "connector_id": K,
    "status": K,
    "conversationId": K,
    "trace_data": K,  # {transactionId, traceId}
    "replacements": M,
}

_CONVERSATION: Final = {
    "id": K,
    "category": K,
    "createdAt": K,
    "updatedAt": K,
    "timestamp": K,
    "namespace": K,  # the Kibana space
    "users[].id": K,  # Kibana user profile ids (user names are free text: they are personal data)
    "createdBy.id": K,
    "apiConfig.connectorId": K,
    "apiConfig.actionTypeId": K,
    "apiConfig.defaultSystemPromptId": K,
    "apiConfig.provider": K,
    "apiConfig.model": K,
    "messages[].id": K,
    "messages[].role": K,
    "messages[].timestamp": K,
    "messages[].user.id": K,
    "messages[].traceData": K,  # {transactionId, traceId}
    "summary.timestamp": K,
    "summary.confidence": K,  # low | medium | high
    "replacements": M,
}

_CONVERSATION_FIND: Final = {
    # every item of data[] is a conversation (the rules above), with a session built from its own replacements
    **{f"data[].{path}": rule for path, rule in _CONVERSATION.items()},
}

_OBSERVABILITY_CHAT_COMPLETE: Final = {
    "connectorId": K,
    "conversationId": K,
    "persist": K,
    "isStream": K,
    "disableFunctions": K,  # a boolean, or {except: [function names]}
    "scopes": K,  # observability | search | all
    "messages[].@timestamp": K,
    "messages[].message.role": K,
    "messages[].message.name": K,  # the function a function response answers
    "messages[].message.function_call.name": K,
    "messages[].message.function_call.trigger": K,
    "messages[].message.function_call.arguments": J,
    "messages[].message.data": J,
    "messages[].message.deanonymizations[].entity.class_name": K,
    "messages[].message.unredactions[].class_name": K,
    "messages[].message.unredactions[].type": K,  # ner | regex
    "instructions[].id": K,
    "instructions[].doc_id": K,
    "instructions[].instruction_type": K,
    "actions[].name": K,
    "screenContexts[].actions[].name": K,
    "screenContexts[].data[].name": K,  # the name the application gives a piece of screen data
    "screenContexts[].starterPrompts[].icon": K,
    "screenContexts[].starterPrompts[].scopes": K,
}

_RULES: Final[Mapping[Kind, Mapping[str, Rule]]] = MappingProxyType(
    {
        Kind.SECURITY_CHAT_COMPLETE: MappingProxyType(_SECURITY_CHAT_COMPLETE),
        Kind.SECURITY_CHAT_COMPLETE_RESPONSE: MappingProxyType(_SECURITY_CHAT_COMPLETE_RESPONSE),
        Kind.CONVERSATION_CREATE: MappingProxyType(_CONVERSATION),
        Kind.CONVERSATION_UPDATE: MappingProxyType(_CONVERSATION),
        Kind.CONVERSATION: MappingProxyType(_CONVERSATION),
        Kind.CONVERSATION_FIND: MappingProxyType(_CONVERSATION_FIND),
        Kind.OBSERVABILITY_CHAT_COMPLETE: MappingProxyType(_OBSERVABILITY_CHAT_COMPLETE),
    }
)

#: A stored conversation as an export holds it: the API form (the ``conversation`` rules) or Kibana's
#: Elasticsearch document (snake_case, ``@timestamp``, ``replacements`` as ``[{uuid, value}]``).
CONVERSATION_RECORD_RULES: Final[Mapping[str, Rule]] = MappingProxyType(
    {
        **_CONVERSATION,
        "@timestamp": K,
        "created_at": K,
        "updated_at": K,
        "created_by.id": K,
        "api_config.connector_id": K,
        "api_config.action_type_id": K,
        "api_config.default_system_prompt_id": K,
        "api_config.provider": K,
        "api_config.model": K,
        "messages[].@timestamp": K,
        "messages[].trace_data": K,
    }
)


def rules_for(kind: Kind | str) -> Mapping[str, Rule]:
    """The rules of a payload kind: ``{path: Rule}``; every string no rule covers is free text.

    >>> sorted(p for p, r in rules_for("security.chat_complete").items() if r is Rule.KEEP)[:3]
    ['connectorId', 'conversationId', 'langSmithApiKey']
    """
    return _RULES[as_kind(kind)]


def rule_at(rules: Mapping[str, Rule], path: Sequence[str | int]) -> Rule | None:
    """The rule covering the value at ``path`` (property names and array indexes), or ``None`` for free text.

    >>> rule_at(rules_for("conversation"), ("messages", 3, "traceData", "traceId"))
    <Rule.KEEP: 'keep'>
    >>> rule_at(rules_for("conversation"), ("messages", 3, "content")) is None
    True
    """
    pattern = ""
    for step in path:
        pattern = f"{pattern}[]" if isinstance(step, int) else f"{pattern}.{step}" if pattern else step
        rule = rules.get(pattern)
        if rule is not None:
            return rule
    return None
