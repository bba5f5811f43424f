"""Observability AI Assistant ``POST /api/observability_ai_assistant/chat/complete`` request.

Kibana validates this body with io-ts; errors are reported here in the same zod wording as the security APIs.
Required: ``connectorId``, ``persist`` (a boolean, or ``"true"``/``"false"``), ``messages``; each message needs
``@timestamp`` and ``message.role`` in ``system | assistant | function | user | elastic``; a ``function_call``
needs ``name`` and ``trigger`` (``assistant | user | elastic``). ``instructions`` items are strings or objects
with ``text`` (``{id, text}`` today; ``{doc_id, text}`` and ``{id?, text, instruction_type}`` in older versions).

The internal route the Kibana UI calls (``POST /internal/observability_ai_assistant/chat/complete``) also sends
``screenContexts`` (what the user is looking at: a ``description``, ``data`` entries ``{name, description,
value}`` whose value is any JSON, client-side ``actions``, a ``screenDescription``, ``starterPrompts``) and
``scopes`` (``observability | search | all``); newer versions add ``isStream``. The public route ignores them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Field, Tag

from anonymizer.payloads._validation import UNION_TAG, WireModel, bool_like, no_null, zod_enum

__all__ = [
    "Action",
    "AssistantScope",
    "DisableFunctionsExcept",
    "FunctionCall",
    "FunctionTrigger",
    "Instruction",
    "MessageBody",
    "ObservabilityChatCompleteRequest",
    "ObservabilityMessage",
    "ObservabilityRole",
    "ScreenContext",
    "ScreenContextData",
    "StarterPrompt",
]

ObservabilityRole = Literal["system", "assistant", "function", "user", "elastic"]
"""The roles an observability message may have."""
FunctionTrigger = Literal["assistant", "user", "elastic"]
"""Who triggered a function call."""
AssistantScope = Literal["observability", "search", "all"]
"""The solutions an assistant request is scoped to."""

_OptStr = Annotated[str | None, no_null("string")]


class FunctionCall(WireModel):
    """A function (tool) call; ``arguments`` is a JSON text."""

    name: str
    trigger: Annotated[FunctionTrigger, zod_enum(*get_args(FunctionTrigger))]
    arguments: _OptStr = None


class MessageBody(WireModel):
    """The ``message`` of an observability message. ``data`` is a JSON text kept for rendering."""

    role: Annotated[ObservabilityRole, zod_enum(*get_args(ObservabilityRole))]
    content: _OptStr = None
    name: _OptStr = None
    event: _OptStr = None
    data: _OptStr = None
    function_call: Annotated[FunctionCall | None, no_null("object")] = None

    @property
    def is_function_response(self) -> bool:
        """Whether ``content`` is a function's JSON answer (role ``function``, or ``user`` with a ``name``)."""
        return self.role == "function" or (self.role == "user" and self.name is not None)


class ObservabilityMessage(WireModel):
    """One message of the conversation history."""

    timestamp: str = Field(alias="@timestamp")
    message: MessageBody


class Instruction(WireModel):
    """An instruction object; its ``text`` is free text sent to the model."""

    text: str
    id: _OptStr = None
    doc_id: _OptStr = None
    instruction_type: _OptStr = None


class DisableFunctionsExcept(WireModel):
    """The ~8.18 form of ``disableFunctions``: disable all functions but these."""

    except_: list[str] = Field(alias="except")


class Action(WireModel):
    """A client-side function the model may call; ``parameters`` is a JSON schema."""

    name: str
    description: str
    parameters: Annotated[dict[str, Any] | None, no_null("object")] = None


_Scopes = Annotated[list[Annotated[AssistantScope, zod_enum(*get_args(AssistantScope))]] | None, no_null("array")]


class ScreenContextData(WireModel):
    """A piece of what the user is looking at (often a whole alert or document); ``value`` is any JSON."""

    name: str
    description: str
    value: Any = None


class StarterPrompt(WireModel):
    """A prompt the UI offers to start a conversation with; ``icon`` is any JSON (an icon name, usually)."""

    title: str
    prompt: str
    icon: Any = None
    scopes: _Scopes = None


class ScreenContext(WireModel):
    """What the user's screen shows, sent along by the Kibana UI; every part is optional."""

    description: _OptStr = None
    data: Annotated[list[ScreenContextData] | None, no_null("array")] = None
    actions: Annotated[list[Action] | None, no_null("array")] = None
    screen_contexts: Annotated[list[ScreenContext] | None, no_null("array")] = Field(
        default=None, alias="screenContexts"
    )
    scopes: _Scopes = None
    is_stream: Annotated[bool | None, no_null("boolean")] = Field(default=None, alias="isStream")
    screen_description: _OptStr = Field(default=None, alias="screenDescription")
    starter_prompts: Annotated[list[StarterPrompt] | None, no_null("array")] = Field(
        default=None, alias="starterPrompts"
    )


_STR = UNION_TAG + "string"
_OBJ = UNION_TAG + "object"
_BOOL = UNION_TAG + "boolean"


def _string_or_object(value: object) -> str:
    return _STR if isinstance(value, str) else _OBJ


def _boolean_or_object(value: object) -> str:
    return _OBJ if isinstance(value, dict | DisableFunctionsExcept) else _BOOL


InstructionItem = Annotated[
    Annotated[str, Tag(_STR)] | Annotated[Instruction, Tag(_OBJ)], Discriminator(_string_or_object)
]
_DisableFunctions = Annotated[
    Annotated[bool, Tag(_BOOL)] | Annotated[DisableFunctionsExcept, Tag(_OBJ)], Discriminator(_boolean_or_object)
]


class ObservabilityChatCompleteRequest(WireModel):
    """The body of ``POST /api/observability_ai_assistant/chat/complete``."""

    connector_id: str = Field(alias="connectorId")
    persist: Annotated[bool | Literal["true", "false"], bool_like]
    messages: list[ObservabilityMessage]
    conversation_id: _OptStr = Field(default=None, alias="conversationId")
    title: _OptStr = None
    disable_functions: Annotated[_DisableFunctions | None, no_null("boolean")] = Field(
        default=None, alias="disableFunctions"
    )
    instructions: Annotated[list[InstructionItem] | None, no_null("array")] = None
    actions: Annotated[list[Action] | None, no_null("array")] = None
    screen_contexts: Annotated[list[ScreenContext] | None, no_null("array")] = Field(
        default=None, alias="screenContexts"
    )
    scopes: _Scopes = None
    is_stream: Annotated[bool | None, no_null("boolean")] = Field(default=None, alias="isStream")
