"""Security AI Assistant ``POST /api/security_ai_assistant/chat/complete``: request, query and JSON response.

Field names are the wire names; unknown properties are kept. Validation follows Kibana's zod schema
(``ChatCompleteProps``): ``connectorId``, ``persist`` and ``messages`` are required, each message needs a
``role`` in ``system | user | assistant``, and ``conversationId`` must be a non-empty string.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from anonymizer.payloads._validation import WireModel, bool_like, no_null, non_empty_string, zod_enum

__all__ = [
    "ChatCompleteQuery",
    "ChatCompleteRequest",
    "ChatCompleteResponse",
    "ChatMessage",
    "ChatRole",
    "TraceData",
]

ChatRole = Literal["system", "user", "assistant"]
"""The roles a security chat message may have."""


class ChatMessage(WireModel):
    """One message of a chat/complete request; ``data`` is ECS-style and may hold any properties."""

    role: Annotated[ChatRole, zod_enum(*get_args(ChatRole))]
    content: Annotated[str | None, no_null("string")] = None
    data: Annotated[dict[str, Any] | None, no_null("object")] = None
    fields_to_anonymize: Annotated[list[str] | None, no_null("array")] = None


class ChatCompleteRequest(WireModel):
    """The body of ``POST /api/security_ai_assistant/chat/complete``."""

    connector_id: str = Field(alias="connectorId")
    persist: bool
    messages: list[ChatMessage]
    conversation_id: Annotated[str | None, non_empty_string] = Field(default=None, alias="conversationId")
    is_stream: Annotated[bool | None, no_null("boolean")] = Field(default=None, alias="isStream")
    lang_smith_api_key: Annotated[str | None, no_null("string")] = Field(default=None, alias="langSmithApiKey")
    lang_smith_project: Annotated[str | None, no_null("string")] = Field(default=None, alias="langSmithProject")
    model: Annotated[str | None, no_null("string")] = None
    prompt_id: Annotated[str | None, no_null("string")] = Field(default=None, alias="promptId")
    response_language: Annotated[str | None, no_null("string")] = Field(default=None, alias="responseLanguage")


class ChatCompleteQuery(WireModel):
    """The query parameters of chat/complete: ``content_references_disabled`` (a boolean or ``"true"``/``"false"``)."""

    content_references_disabled: Annotated[bool | Literal["true", "false"] | None, bool_like] = None


class TraceData(WireModel):
    """APM trace identifiers attached to a model answer."""

    transaction_id: Annotated[str | None, no_null("string")] = Field(default=None, alias="transactionId")
    trace_id: Annotated[str | None, no_null("string")] = Field(default=None, alias="traceId")


class ChatCompleteResponse(WireModel):
    """The non-stream (``isStream: false``) JSON answer of chat/complete.

    ``data`` is the model's output (token form); ``replacements`` maps each token to its original.
    """

    connector_id: str
    data: str
    status: str
    replacements: dict[str, str]
    trace_data: Annotated[TraceData | None, no_null("object")] = None
    metadata: Annotated[dict[str, Any] | None, no_null("object")] = None
    conversation_id: Annotated[str | None, no_null("string")] = Field(default=None, alias="conversationId")
