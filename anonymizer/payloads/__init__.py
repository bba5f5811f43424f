"""Pydantic models and end-to-end anonymization for the Elastic AI Assistant payloads.

One module per API family: :mod:`~anonymizer.payloads.security` (security chat/complete),
:mod:`~anonymizer.payloads.conversations` (create, update, conversation, find) and
:mod:`~anonymizer.payloads.observability` (observability chat/complete). Models use the wire names, keep
unknown properties, and serialize back to exactly what was parsed (:func:`dump`).

>>> validate(b'{"title": "x"}', Kind.CONVERSATION_CREATE).title
'x'
"""

from __future__ import annotations

from anonymizer.payloads._adapter import (
    Direction,
    PayloadResult,
    PayloadSession,
    anonymize_payload,
    anonymize_strings,
    deanonymize_payload,
    deanonymize_strings,
    transform_payload,
)
from anonymizer.payloads._embedded_json import rewrite_json_strings
from anonymizer.payloads._kinds import Kind, models_for, to_wire, validate
from anonymizer.payloads._rules import CONVERSATION_RECORD_RULES, Rule, rule_at, rules_for
from anonymizer.payloads._validation import MAX_DEPTH, MAX_JSON_BYTES, MAX_STRING_LENGTH, dump
from anonymizer.payloads.conversations import (
    ApiConfig,
    Conversation,
    ConversationCreateRequest,
    ConversationMessage,
    ConversationUpdateRequest,
    ConversationUser,
    FindConversationsQuery,
    FindConversationsResponse,
    Summary,
)
from anonymizer.payloads.observability import (
    Action,
    AssistantScope,
    DisableFunctionsExcept,
    FunctionCall,
    Instruction,
    MessageBody,
    ObservabilityChatCompleteRequest,
    ObservabilityMessage,
    ScreenContext,
    ScreenContextData,
    StarterPrompt,
)
from anonymizer.payloads.security import (
    ChatCompleteQuery,
    ChatCompleteRequest,
    ChatCompleteResponse,
    ChatMessage,
    TraceData,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "MAX_STRING_LENGTH",
    "CONVERSATION_RECORD_RULES",
    "Action",
    "AssistantScope",
    "ApiConfig",
    "ChatCompleteQuery",
    "ChatCompleteRequest",
    "ChatCompleteResponse",
    "ChatMessage",
    "Conversation",
    "ConversationCreateRequest",
    "ConversationMessage",
    "ConversationUpdateRequest",
    "ConversationUser",
    "Direction",
    "DisableFunctionsExcept",
    "FindConversationsQuery",
    "FindConversationsResponse",
    "FunctionCall",
    "Instruction",
    "Kind",
    "MessageBody",
    "ObservabilityChatCompleteRequest",
    "ObservabilityMessage",
    "PayloadResult",
    "PayloadSession",
    "Rule",
    "ScreenContext",
    "ScreenContextData",
    "StarterPrompt",
    "Summary",
    "TraceData",
    "anonymize_payload",
    "anonymize_strings",
    "deanonymize_payload",
    "deanonymize_strings",
    "dump",
    "models_for",
    "rewrite_json_strings",
    "rule_at",
    "rules_for",
    "to_wire",
    "transform_payload",
    "validate",
]
