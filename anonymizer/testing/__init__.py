"""Test toolkit for users' own property-based suites: Hypothesis strategies and invariant helpers.

Strategies (all valid by default; options are keyword-only, ``invalid=True`` breaks a payload on purpose):

* payloads: :func:`chat_complete_requests`, :func:`security_messages`, :func:`ecs_data`,
  :func:`observability_requests`, :func:`conversations`, :func:`find_responses`, :func:`payloads` (any kind),
  :func:`break_payload`, :func:`extra_properties` (unknown properties holding originals); their building
  blocks :func:`original_values` and :func:`filler_text`;
* model output and streams: :func:`llm_outputs`, :func:`llm_outputs_with_expected`, :func:`chunkings`,
  :func:`stream_bodies`.

Invariant helpers, which raise :class:`InvariantError` (an ``AssertionError``) naming the JSON path and the
token, never the original: :func:`assert_roundtrip`, :func:`assert_no_leak`, :func:`assert_stream_equals_whole`.

>>> from hypothesis import given
>>> from anonymizer import Anonymizer
>>> from anonymizer.testing import assert_no_leak, assert_roundtrip, chat_complete_requests
>>> @given(chat_complete_requests())
... def test_my_engine(body):
...     session = Anonymizer().session()
...     hidden = assert_roundtrip(session, body, "security.chat_complete")
...     assert_no_leak(hidden, session.replacements)
>>> test_my_engine()

Importable without pytest; Hypothesis is needed (the ``test`` extra of this project's distribution,
``elastic-ai-anonymizer``). See ``docs/testing.md``.
"""

from __future__ import annotations

from anonymizer.testing._ecs import (
    ANONYMIZED_FIELDS,
    KEPT_FIELDS,
    NAMEABLE_FIELDS,
    ecs_data,
    filler_text,
    original_values,
)
from anonymizer.testing._invariants import (
    InvariantError,
    LeakError,
    RoundTripError,
    StreamMismatchError,
    assert_no_leak,
    assert_roundtrip,
    assert_stream_equals_whole,
)
from anonymizer.testing._payload_strategies import (
    break_payload,
    chat_complete_requests,
    conversations,
    extra_properties,
    find_responses,
    observability_requests,
    payloads,
    security_messages,
)
from anonymizer.testing._text import chunkings, llm_outputs, llm_outputs_with_expected, stream_bodies

__all__ = [
    "ANONYMIZED_FIELDS",
    "InvariantError",
    "KEPT_FIELDS",
    "LeakError",
    "NAMEABLE_FIELDS",
    "RoundTripError",
    "StreamMismatchError",
    "assert_no_leak",
    "assert_roundtrip",
    "assert_stream_equals_whole",
    "break_payload",
    "chat_complete_requests",
    "chunkings",
    "conversations",
    "ecs_data",
    "extra_properties",
    "filler_text",
    "find_responses",
    "llm_outputs",
    "llm_outputs_with_expected",
    "observability_requests",
    "original_values",
    "payloads",
    "security_messages",
    "stream_bodies",
]
