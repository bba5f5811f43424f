"""Test toolkit for users' own suites: Hypothesis strategies for the Elastic AI Assistant payloads.

Importable without pytest (Hypothesis is needed: ``pip install anonymizer[test]``).

>>> from anonymizer.testing import chat_complete_requests
>>> from anonymizer.payloads import validate
>>> validate(chat_complete_requests().example(), "security.chat_complete")  # doctest: +SKIP
"""

from __future__ import annotations

from anonymizer.testing._payload_strategies import (
    break_payload,
    chat_complete_requests,
    conversations,
    ecs_data,
    filler_text,
    find_responses,
    observability_requests,
    original_values,
    security_messages,
)

__all__ = [
    "break_payload",
    "chat_complete_requests",
    "conversations",
    "ecs_data",
    "filler_text",
    "find_responses",
    "observability_requests",
    "original_values",
    "security_messages",
]
