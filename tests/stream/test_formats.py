"""Stream formats read as their real schemas: SSE data lines on single newlines, every text field restored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy, Session
from anonymizer.testing import assert_stream_equals_whole, chunkings

POLICY = FieldPolicy.from_fields([{"field": "user.name", "allowed": True, "anonymized": True}])
QUOTED = 'Zoë "the admin"'
PATH = "C:\\Users\\jdoe"


def _session() -> tuple[Session, str, str]:
    session = Anonymizer(policy=POLICY, tokens="placeholder").session()
    return session, session.token_for(QUOTED, field="user.name"), session.token_for(PATH, field="user.name")


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    event = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    event["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + json.dumps(event).encode()


def _single_newline_body(a: str, b: str) -> bytes:
    lines = [
        _chunk({"role": "assistant", "content": f"ask {a[:5]}"}),
        _chunk({"content": f"{a[5:]} about {b}"}),
        _chunk({"refusal": f"no, {a}"}),
        _chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": '{"who": "' + b[:4]}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": b[4:] + '"}'}}]}, "stop"),
        b"data: [DONE]",
    ]
    return b"\n".join(lines) + b"\n"


def _data_lines(out: bytes) -> list[Any]:
    values = [line[6:] for line in out.split(b"\n") if line.startswith(b"data: ")]
    return [v.decode() if v == b"[DONE]" else json.loads(v) for v in values]


def test_sse_data_lines_on_single_newlines_are_events_each_and_stay_json() -> None:
    """Data lines separated by one newline are parsed one by one: every line stays JSON, every field restored."""
    session, a, b = _session()
    stream = session.stream("openai.sse")
    out = b"".join(stream.feed(bytes([c])) for c in _single_newline_body(a, b)) + stream.close()
    events = _data_lines(out)
    assert events[-1] == "[DONE]" and stream.malformed == 0
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    assert "".join(d.get("content", "") for d in deltas) == f"ask {QUOTED} about {PATH}"
    assert "".join(d.get("refusal", "") for d in deltas) == f"no, {QUOTED}"
    args = "".join(t["function"]["arguments"] for d in deltas for t in d.get("tool_calls", []))
    assert json.loads(args) == {"who": PATH}  # arguments are JSON: the original went in escaped


def test_sse_single_newline_lines_go_out_as_they_complete() -> None:
    """A complete data line is emitted at once, not held until a blank line that never comes."""
    session, a, _ = _session()
    stream = session.stream("openai.sse")
    first = stream.feed(_chunk({"content": f"hi {a}!"}) + b"\n")
    assert json.loads(first[6:])["choices"][0]["delta"]["content"] == f"hi {QUOTED}!"


def test_sse_flush_joins_single_newline_framing() -> None:
    """A held tail goes out before [DONE] as one more data line when events are framed by single newlines."""
    session, _, _ = _session()
    stream = session.stream("openai.sse")
    body = _chunk({"content": "a"}) + b"\n" + _chunk({"content": "b <"}) + b"\ndata: [DONE]\n"
    out = stream.feed(body) + stream.close()
    assert b"\n\n" not in out
    assert [e if e == "[DONE]" else e["choices"][0]["delta"]["content"] for e in _data_lines(out)] == [
        "a", "b ", "<", "[DONE]",
    ]  # fmt: skip


@given(st.data())
def test_single_newline_sse_stream_equals_whole(data: st.DataObject) -> None:
    """The testing oracle reads single-newline SSE per line too, and the stream agrees with it under any cut."""
    session, a, b = _session()
    body = _single_newline_body(a, b)
    assert_stream_equals_whole(session, "openai.sse", body, data.draw(chunkings(body)))


def _ndjson(*events: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def test_observability_whole_event_texts_are_restored() -> None:
    """Titles, error messages, confirmations and a function answer's JSON content are restored, JSON kept valid."""
    session, a, b = _session()
    body = _ndjson(
        {"type": "messageAdd", "id": "1", "message": {"@timestamp": "t", "message": {
            "role": "user", "name": "lookup", "content": json.dumps({"owner": b}), "data": json.dumps([a])}}},
        {"type": "confirmationRequired", "functionName": "isolate", "functionCallArguments": json.dumps({"h": b}),
         "confirmationConfig": {"message": f"Isolate {a}?", "type": "warning"}},
        {"type": "chatCompletionError", "error": {"message": f"failed on {a}", "code": "internalError"}},
        {"type": "conversationCreate", "conversation": {"id": "c", "title": f"About {a}", "last_updated": "x"}},
    )  # fmt: skip
    stream = session.stream("observability.ndjson")
    added, confirm, error, created = (json.loads(x) for x in (stream.feed(body) + stream.close()).splitlines())
    message = added["message"]["message"]
    assert json.loads(message["content"]) == {"owner": PATH} and json.loads(message["data"]) == [QUOTED]
    assert json.loads(confirm["functionCallArguments"]) == {"h": PATH}
    assert confirm["confirmationConfig"]["message"] == f"Isolate {QUOTED}?"
    assert error["error"]["message"] == f"failed on {QUOTED}"
    assert created["conversation"]["title"] == f"About {QUOTED}"
    assert_stream_equals_whole(session, "observability.ndjson", body, [body])


def test_observability_streamed_arguments_stay_json() -> None:
    """Function-call arguments streamed in chunks get their originals JSON-escaped."""
    session, _, b = _session()
    body = _ndjson(
        {"type": "chatCompletionChunk", "id": "1", "message": {"function_call": {"arguments": '{"p": "' + b[:3]}}},
        {"type": "chatCompletionChunk", "id": "1", "message": {"function_call": {"arguments": b[3:] + '"}'}}},
        {"type": "chatCompletionMessage", "id": "1", "message": {"content": "", "function_call": {
            "name": "f", "trigger": "assistant", "arguments": json.dumps({"p": b})}}},
    )  # fmt: skip
    stream = session.stream("observability.ndjson")
    events = [json.loads(x) for x in (stream.feed(body) + stream.close()).splitlines()]
    streamed = "".join(e["message"]["function_call"]["arguments"] for e in events[:-1])
    assert json.loads(streamed) == {"p": PATH}
    assert json.loads(events[-1]["message"]["function_call"]["arguments"]) == {"p": PATH}
