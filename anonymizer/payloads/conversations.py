"""Security AI Assistant conversations: create and update requests, the conversation, the find page and its query.

Validation follows Kibana's zod schemas (``common_attributes.gen.ts``): create needs a ``title``, update needs a
non-empty ``id``, a message needs ``role`` (``system | user | assistant``) and ``content``. Every object keeps the
properties it does not declare, so nothing a newer Kibana sends is lost on the way through.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from anonymizer.payloads._validation import (
    ZOD_ERROR,
    WireModel,
    bool_like,
    int_like,
    no_null,
    non_empty_string,
    zod_enum,
    zod_type,
)
from anonymizer.payloads.security import ChatRole, TraceData

__all__ = [
    "ApiConfig",
    "Conversation",
    "ConversationCategory",
    "ConversationCreateRequest",
    "ConversationMessage",
    "ConversationUpdateRequest",
    "ConversationUser",
    "FindConversationsQuery",
    "FindConversationsResponse",
    "Summary",
]

ConversationCategory = Literal["assistant", "insights"]
"""The categories a conversation may have."""

_OptStr = Annotated[str | None, no_null("string")]
_OptBool = Annotated[bool | None, no_null("boolean")]
_OptObject = Annotated[dict[str, Any] | None, no_null("object")]
_Category = Annotated[ConversationCategory, zod_enum(*get_args(ConversationCategory))]


class ConversationUser(WireModel):
    """A user of a conversation (``users[]``, ``createdBy``, a message's ``user``)."""

    id: _OptStr = None
    name: _OptStr = None


class ApiConfig(WireModel):
    """The connector a conversation talks to; additional properties are allowed."""

    connector_id: str = Field(alias="connectorId")
    action_type_id: str = Field(alias="actionTypeId")
    default_system_prompt_id: _OptStr = Field(default=None, alias="defaultSystemPromptId")
    provider: _OptStr = None
    model: _OptStr = None


class ConversationMessage(WireModel):
    """A stored conversation message. Only ``content`` is free text that may hold originals."""

    role: Annotated[ChatRole, zod_enum(*get_args(ChatRole))]
    content: str
    timestamp: _OptStr = None
    id: _OptStr = None
    refusal: _OptStr = None
    is_error: _OptBool = Field(default=None, alias="isError")
    reader: _OptObject = None
    user: Annotated[ConversationUser | None, no_null("object")] = None
    trace_data: Annotated[TraceData | None, no_null("object")] = Field(default=None, alias="traceData")
    metadata: _OptObject = None


class Summary(WireModel):
    """A conversation summary (older schema versions)."""

    content: _OptStr = None
    timestamp: _OptStr = None
    public: _OptBool = None
    confidence: _OptStr = None


_Messages = Annotated[list[ConversationMessage] | None, no_null("array")]
_Replacements = Annotated[dict[str, str] | None, no_null("object")]
_ApiConfig = Annotated[ApiConfig | None, no_null("object")]


class ConversationCreateRequest(WireModel):
    """The body of ``POST /api/security_ai_assistant/current_user/conversations``."""

    title: str
    id: _OptStr = None
    category: Annotated[ConversationCategory | None, zod_enum(*get_args(ConversationCategory))] = None
    messages: _Messages = None
    api_config: _ApiConfig = Field(default=None, alias="apiConfig")
    exclude_from_last_conversation_storage: _OptBool = Field(default=None, alias="excludeFromLastConversationStorage")
    is_default: _OptBool = Field(default=None, alias="isDefault")
    replacements: _Replacements = None


class ConversationUpdateRequest(WireModel):
    """The body of ``PUT /api/security_ai_assistant/current_user/conversations/{id}``."""

    id: Annotated[str, non_empty_string]
    title: _OptStr = None
    category: Annotated[ConversationCategory | None, zod_enum(*get_args(ConversationCategory))] = None
    messages: _Messages = None
    api_config: _ApiConfig = Field(default=None, alias="apiConfig")
    exclude_from_last_conversation_storage: _OptBool = Field(default=None, alias="excludeFromLastConversationStorage")
    replacements: _Replacements = None
    users: Annotated[list[ConversationUser] | None, no_null("array")] = None


class Conversation(WireModel):
    """A conversation as Kibana returns it (create/update/read responses, items of a find page).

    Only ``id`` is required: a find with ``fields`` returns partial conversations.
    """

    id: str
    title: _OptStr = None
    category: _OptStr = None
    created_at: _OptStr = Field(default=None, alias="createdAt")
    updated_at: _OptStr = Field(default=None, alias="updatedAt")
    timestamp: _OptStr = None
    created_by: Annotated[ConversationUser | None, no_null("object")] = Field(default=None, alias="createdBy")
    users: Annotated[list[ConversationUser] | None, no_null("array")] = None
    namespace: _OptStr = None
    messages: _Messages = None
    api_config: _ApiConfig = Field(default=None, alias="apiConfig")
    exclude_from_last_conversation_storage: _OptBool = Field(default=None, alias="excludeFromLastConversationStorage")
    is_default: _OptBool = Field(default=None, alias="isDefault")
    summary: Annotated[Summary | None, no_null("object")] = None
    replacements: _Replacements = None


class FindConversationsResponse(WireModel):
    """A page of ``GET /api/security_ai_assistant/current_user/conversations/_find``."""

    page: int
    per_page: int = Field(alias="perPage")
    total: int
    data: list[Conversation]


_SortField = Literal["created_at", "title", "updated_at", "description", "updated", "created"]
_SortOrder = Literal["asc", "desc"]


def _fields(value: object) -> object:
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise PydanticCustomError(ZOD_ERROR, f"Expected array, received {zod_type(value)}")


class FindConversationsQuery(WireModel):
    """The query parameters of the find route; numbers and booleans may come as strings and are kept as given."""

    page: Annotated[int | str | None, int_like(1)] = None
    per_page: Annotated[int | str | None, int_like(0)] = None
    filter: _OptStr = None
    sort_field: Annotated[_SortField | None, zod_enum(*get_args(_SortField))] = None
    sort_order: Annotated[_SortOrder | None, zod_enum(*get_args(_SortOrder))] = None
    fields: Annotated[list[str] | str | None, BeforeValidator(_fields)] = None
    is_owner: Annotated[bool | Literal["true", "false"] | None, bool_like] = None
