"""The payload kinds, their models, and :func:`validate`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from anonymizer.errors import ConfigError
from anonymizer.payloads._validation import dump, validate_model
from anonymizer.payloads.conversations import (
    Conversation,
    ConversationCreateRequest,
    ConversationUpdateRequest,
    FindConversationsResponse,
)
from anonymizer.payloads.observability import ObservabilityChatCompleteRequest
from anonymizer.payloads.security import ChatCompleteRequest, ChatCompleteResponse

__all__ = ["Kind", "as_kind", "models_for", "to_wire", "validate"]


class Kind(StrEnum):
    """The payloads :func:`anonymize_payload` understands: the bodies of the Elastic AI Assistant APIs that carry
    conversation text. Each accepts its string value too."""

    SECURITY_CHAT_COMPLETE = "security.chat_complete"
    SECURITY_CHAT_COMPLETE_RESPONSE = "security.chat_complete.response"
    CONVERSATION_CREATE = "conversation.create"
    CONVERSATION_UPDATE = "conversation.update"
    CONVERSATION = "conversation"
    CONVERSATION_FIND = "conversation.find"
    OBSERVABILITY_CHAT_COMPLETE = "observability.chat_complete"


_MODELS: dict[Kind, type[BaseModel]] = {
    Kind.SECURITY_CHAT_COMPLETE: ChatCompleteRequest,
    Kind.SECURITY_CHAT_COMPLETE_RESPONSE: ChatCompleteResponse,
    Kind.CONVERSATION_CREATE: ConversationCreateRequest,
    Kind.CONVERSATION_UPDATE: ConversationUpdateRequest,
    Kind.CONVERSATION: Conversation,
    Kind.CONVERSATION_FIND: FindConversationsResponse,
    Kind.OBSERVABILITY_CHAT_COMPLETE: ObservabilityChatCompleteRequest,
}


def as_kind(kind: Kind | str) -> Kind:
    """``kind`` as a :class:`Kind`; an unknown name raises :class:`~anonymizer.errors.ConfigError` (a
    ``ValueError``) listing the known ones."""
    try:
        return Kind(kind)
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise ConfigError(f"unknown payload kind; expected one of: {known}", path="kind") from None


def models_for(kind: Kind | str) -> type[BaseModel]:
    """The pydantic model of a kind's payload.

    >>> models_for("conversation.find").__name__
    'FindConversationsResponse'
    """
    return _MODELS[as_kind(kind)]


def validate(payload: object, kind: Kind | str) -> BaseModel:
    """Validate a payload (a mapping, a JSON ``str``/``bytes``, or a model instance) as ``kind``.

    Raises :class:`~anonymizer.errors.PayloadError` listing every problem with its path, never a value.

    >>> validate({"connectorId": "c", "persist": False, "messages": []}, "security.chat_complete").persist
    False
    """
    k = as_kind(kind)
    return validate_model(_MODELS[k], payload, kind=k.value)


def to_wire(payload: object, kind: Kind | str) -> dict[str, Any]:
    """Validate a payload and return its wire form: exactly the properties given, nothing invented."""
    return dump(validate(payload, kind))
