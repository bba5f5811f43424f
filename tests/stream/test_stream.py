"""Stream restorers: any chunking gives the same answer as restoring the whole body, for every format."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import pickle
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, ArgumentTypeError, FieldPolicy, Restorer, Session, StreamError
from anonymizer.restore import token_spans
from anonymizer.stream import (
    FORMATS,
    ObservabilityNdjsonRestorer,
    StreamRestorer,
    restore_aiter,
    restore_iter,
    restorer_for,
)

KEY = b"0123456789abcdef0123456789abcdef"
STRATEGIES = ["uuid", "placeholder", "mask"]
POLICY = FieldPolicy.from_fields(
    [
        {"field": "user.name", "allowed": True, "anonymized": True},
        {"field": "host.name", "allowed": True, "anonymized": True},
    ]
)
# Originals that are hard to put back into JSON or to split: quotes, backslashes, newlines, non-ASCII.
ORIGINALS = [
    "jdoe",
    'Zoë "the admin"',
    "C:\\Users\\jdoe",
    "two\nlines\r\n",
    "日本-サーバ-01",
    "tab\tand\x01ctl",
    "emoji 😀 here",
    "</script>",
]
LONE = "lone\ud800surrogate"  # JSON formats only: it has no UTF-8 form, so it can only travel as an escape
FILLER = st.sampled_from(
    [" ", "the ", "host ", "a", "E", "<", "[", "]", ">", "-", "_", "USER_", '"', "\\", "\n", "é", "€", "😀", "0f"]
)


def session_for(tokens: str, originals: list[str] = ORIGINALS) -> Session:
    """A session that has tokenized every original (user names and host names alternate)."""
    session = Anonymizer(policy=POLICY, tokens=tokens, key=KEY).session()
    for i, original in enumerate(originals):
        session.token_for(original, field="host.name" if i % 2 else "user.name")
    return session


SESSIONS = {name: session_for(name) for name in STRATEGIES}
JSON_SESSIONS = {name: session_for(name, [*ORIGINALS, LONE]) for name in STRATEGIES}
OTHER = session_for("uuid", ["jdoe", "someone else"])  # another conversation: its tokens must stay as they are


def altered(token: str) -> str:
    """A copy of ``token`` as a model might alter it."""
    if token.startswith("<"):
        return "[" + token[1:-1] + "]"
    return token.upper() if token[0].isdigit() or token[0] in "abcdef" else token.lower()


@st.composite
def model_text(draw: st.DrawFn, session: Session) -> str:
    """Model output: filler, tokens (exact, altered, cut short, adjacent, at the ends), foreign tokens."""
    tokens = list(session.replacements)
    token = st.sampled_from(tokens)
    part = st.one_of(
        token,
        token,
        token.map(altered),
        token.map(lambda t: t[: len(t) // 2]),
        st.sampled_from(list(OTHER.replacements)),
        FILLER,
        st.text(max_size=4),
    )
    return "".join(draw(st.lists(part, max_size=14)))


@st.composite
def cut(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """``body`` in chunks cut anywhere, down to one byte (and inside UTF-8 characters)."""
    if draw(st.booleans()) and len(body) < 400:
        return [body[i : i + 1] for i in range(len(body))]
    points = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    edges = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


def run(stream: StreamRestorer, chunks: list[bytes], restorer: Restorer, texts: int = 1) -> bytes:
    """Feed every chunk, checking the hold-back bound after each feed; return all output.

    ``texts`` is how many texts the format restores side by side (each holds less than the longest token).
    """
    out = bytearray()
    for chunk in chunks:
        out += stream.feed(chunk)
        assert stream.held <= texts * (max(restorer.max_token_length, 1) - 1)
    out += stream.close()
    assert stream.held == 0
    return bytes(out)


def lines(data: bytes) -> list[Any]:
    """Every line parsed on its own (each must be valid JSON)."""
    return [json.loads(line) for line in data.split(b"\n") if line]


PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------------------------- text


@PROFILE
@given(st.sampled_from(STRATEGIES), st.data())
def test_text_stream_equals_whole(name: str, data: st.DataObject) -> None:
    """Plain text: any chunking gives the whole-text restore, with the hold-back bound after each feed."""
    session = SESSIONS[name]
    restorer = session.restorer
    text = data.draw(model_text(session))
    body = text.encode()
    if data.draw(st.booleans()):  # invalid UTF-8 passes through unchanged
        body = b"\xff" + body + b"\xe2\x82"
    chunks = data.draw(cut(body))
    stream = restorer_for(restorer, "text")
    out = run(stream, chunks, restorer)
    whole = restorer.restore_with_report(body.decode("utf-8", "surrogateescape"))
    assert out == whole.text.encode("utf-8", "surrogateescape")
    known = [e for e in stream.report.events if e.kind != "unknown"]
    assert known == [e for e in whole.report.events if e.kind != "unknown"]


def test_text_holds_only_a_possible_token_prefix() -> None:
    """Text is emitted as soon as it cannot become a token; a token cut in two comes out whole."""
    session = SESSIONS["placeholder"]
    token = session.token_for("jdoe")
    stream = session.stream("text")
    assert stream.feed(b"hello " + token[:4].encode()) == b"hello "
    assert stream.held == 4
    assert stream.feed(token[4:].encode() + b" bye") == b"jdoe bye"
    assert stream.held == 0
    assert stream.close() == b""


def test_text_multibyte_character_split() -> None:
    """A UTF-8 character cut between chunks is held as bytes, then emitted whole."""
    stream = restorer_for(SESSIONS["uuid"].restorer, "text")
    data = "zoë".encode()
    assert stream.feed(data[:-1]) == b"zo"
    assert stream.pending == 1
    assert stream.feed(data[-1:]) == "ë".encode()
    assert stream.close() == b""


def test_text_report_counts_tokens_split_across_chunks() -> None:
    """The report sees restored tokens and unknown token-shaped strings even when chunks split them."""
    session = SESSIONS["uuid"]
    token = session.token_for("jdoe")
    foreign = next(iter(OTHER.replacements))
    body = f"{token} and {foreign} end".encode()
    stream = session.stream("text")
    out = b"".join(restore_iter(stream, [body[i : i + 5] for i in range(0, len(body), 5)]))
    assert out == f"jdoe and {foreign} end".encode()
    report = stream.report
    assert (report.restored, report.unknown) == (1, 1)
    assert [(e.start, e.end, e.kind) for e in report.events] == [(0, 36, "restored"), (41, 77, "unknown")]


def test_foreign_token_is_never_restored() -> None:
    """A token of another conversation passes through as it is, whatever the chunking."""
    foreign = OTHER.token_for("jdoe")
    session = SESSIONS["uuid"]
    body = f"x {foreign} y".encode()
    assert b"".join(restore_iter(session.stream("text"), [body[i : i + 1] for i in range(len(body))])) == body


def test_report_can_be_switched_off() -> None:
    """``report=False`` restores the same text and keeps an empty report."""
    session = SESSIONS["mask"]
    body = f"a {session.token_for('jdoe')} b".encode()
    stream = restorer_for(session.restorer, "text", report=False)
    assert stream.feed(body) + stream.close() == b"a jdoe b"
    assert stream.report.events == ()


# ----------------------------------------------------------------------------------- security ndjson


@st.composite
def security_body(draw: st.DrawFn, session: Session) -> tuple[bytes, list[str]]:
    """A security stream: the model text cut into payloads (JSON-escaped either way), other lines between."""
    text = draw(model_text(session))
    points = sorted(draw(st.lists(st.integers(0, len(text)), max_size=8)))
    edges = [0, *points, len(text)]
    payloads = [text[a:b] for a, b in itertools.pairwise(edges)]
    out = bytearray()
    for p in payloads:
        line = {"payload": p, "type": "content"}
        ascii_escaped = draw(st.booleans())
        out += json.dumps(line, ensure_ascii=ascii_escaped, separators=(",", ":")).encode("utf-8", "surrogatepass")
        out += b"\n"
        if draw(st.integers(0, 5)) == 0:
            out += b'{"payload":"x","type":"other"}\n'
    return bytes(out), payloads


@PROFILE
@given(st.sampled_from(STRATEGIES), st.data())
def test_security_ndjson_stream_equals_whole(name: str, data: st.DataObject) -> None:
    """Security NDJSON: restored payloads, concatenated, equal the concatenated payloads restored at once."""
    session = JSON_SESSIONS[name]
    restorer = session.restorer
    body, payloads = data.draw(security_body(session))
    chunks = data.draw(cut(body))
    stream = session.stream("security.ndjson")
    out = run(stream, chunks, restorer)
    assert out.endswith(b"\n") or not out
    events = lines(out)  # every line is valid JSON on its own
    content = [e for e in events if e["type"] == "content"]
    assert all(list(e) == ["payload", "type"] for e in content)
    text = "".join(payloads)
    assert "".join(e["payload"] for e in content) == restorer.restore(text)
    assert sum(e["type"] == "other" for e in events) == body.count(b'"type":"other"')
    # the report: the whole text's tokens, and the token shapes of the text that overlap none of them
    known = [e for e in restorer.restore_with_report(text).report.events if e.kind != "unknown"]
    assert [e for e in stream.report.events if e.kind != "unknown"] == known
    unknown = [(s, e) for s, e in token_spans(text) if not any(s < k.end and k.start < e for k in known)]
    assert [(e.start, e.end) for e in stream.report.events if e.kind == "unknown"] == unknown


def test_security_ndjson_format_like_kibana() -> None:
    """Re-emitted lines keep Kibana's format: key order payload/type, non-ASCII not escaped, one per line."""
    session = JSON_SESSIONS["placeholder"]
    token = session.token_for('Zoë "the admin"')
    body = b'{"payload":"hi ' + token.encode() + b'!","type":"content"}\n'
    stream = session.stream("security.ndjson")
    assert stream.feed(body) + stream.close() == '{"payload":"hi Zoë \\"the admin\\"!","type":"content"}\n'.encode()


def test_security_ndjson_token_split_between_lines() -> None:
    """A token split between two payloads is restored; the first line is deferred while it is all held."""
    session = JSON_SESSIONS["uuid"]
    token = session.token_for("jdoe")
    stream = session.stream("security.ndjson")
    first = stream.feed(b'{"payload":"' + token[:10].encode() + b'","type":"content"}\n')
    assert first == b""
    second = stream.feed(b'{"payload":"' + token[10:].encode() + b' ok","type":"content"}\n')
    assert second == b'{"payload":"jdoe ok","type":"content"}\n'
    assert stream.close() == b""


def test_security_ndjson_lone_surrogate_original_is_escaped() -> None:
    """An original holding a lone surrogate is written as a JSON escape, so the line stays valid UTF-8."""
    session = JSON_SESSIONS["uuid"]
    token = session.token_for(LONE)
    stream = session.stream("security.ndjson")
    out = stream.feed(b'{"payload":"' + token.encode() + b'","type":"content"}\n') + stream.close()
    assert b"\\ud800" in out
    assert json.loads(out.decode("utf-8"))["payload"] == LONE


def test_security_ndjson_held_tail_flushed_at_close() -> None:
    """What is held at the end goes out as one more content line."""
    session = JSON_SESSIONS["placeholder"]
    stream = session.stream("security.ndjson")
    assert stream.feed(b'{"payload":"end <","type":"content"}\n') == b'{"payload":"end ","type":"content"}\n'
    assert stream.close() == b'{"payload":"<","type":"content"}\n'


# ------------------------------------------------------------------------------ observability ndjson


@st.composite
def observability_body(draw: st.DrawFn, session: Session) -> tuple[bytes, list[dict[str, Any]]]:
    """Messages streamed as chunks (content and function-call arguments), each ended by full messages."""
    out = bytearray()
    messages: list[dict[str, Any]] = []
    for m in range(draw(st.integers(1, 3))):
        content = draw(model_text(session))
        args = draw(model_text(session)) if draw(st.booleans()) else ""
        fresh_ids = draw(st.booleans())
        pieces_c = _split(draw, content)
        pieces_a = _split(draw, args)
        for i in range(max(len(pieces_c), len(pieces_a))):
            message: dict[str, Any] = {}
            if i < len(pieces_c):
                message["content"] = pieces_c[i]
            if i < len(pieces_a):
                message["function_call"] = {"name": "", "arguments": pieces_a[i]}
            event = {"type": "chatCompletionChunk", "id": f"m{m}-{i}" if fresh_ids else f"m{m}", "message": message}
            out += _ndjson(event)
            if draw(st.integers(0, 4)) == 0:
                out += _ndjson({"data": "0", "type": "bufferFlush"})
        full = {"content": content, "function_call": {"name": "f", "arguments": args, "trigger": "assistant"}}
        out += _ndjson({"type": "chatCompletionMessage", "id": f"m{m}", "message": full})
        added = {"@timestamp": "2025-01-01T00:00:00Z", "message": {**full, "role": "assistant"}}
        out += _ndjson({"type": "messageAdd", "id": f"m{m}", "message": added, "deanonymized_output": content})
        messages.append({"content": content, "arguments": args})
    out += _ndjson({"type": "conversationUpdate", "conversation": {"id": "c", "title": "t", "last_updated": "x"}})
    return bytes(out), messages


def json_escaping(restorer: Restorer) -> Restorer:
    """The restorer of a JSON text: every original as it stands inside a JSON string literal."""
    return Restorer({t: json.dumps(o, ensure_ascii=False)[1:-1] for t, o in restorer.replacements.items()})


def _split(draw: st.DrawFn, text: str) -> list[str]:
    points = sorted(draw(st.lists(st.integers(0, len(text)), max_size=5)))
    edges = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)] if text else []


def _ndjson(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass") + b"\n"


@PROFILE
@given(st.sampled_from(STRATEGIES), st.data())
def test_observability_ndjson_stream_equals_whole(name: str, data: st.DataObject) -> None:
    """Observability NDJSON: each message's chunks, concatenated, equal its text restored whole."""
    session = JSON_SESSIONS[name]
    restorer = session.restorer
    body, messages = data.draw(observability_body(session))
    out = run(session.stream("observability.ndjson"), data.draw(cut(body)), restorer, texts=2)
    events = lines(out)
    chunks: list[dict[str, Any]] = []
    seen = 0
    for event in events:
        if event["type"] == "chatCompletionChunk":
            chunks.append(event["message"])
        elif event["type"] == "chatCompletionMessage":
            want = messages[seen]
            got_content = "".join(c.get("content", "") for c in chunks)
            got_args = "".join(c.get("function_call", {}).get("arguments", "") for c in chunks)
            assert got_content == restorer.restore(want["content"])
            assert got_args == json_escaping(restorer).restore(want["arguments"])
            assert event["message"]["content"] == restorer.restore(want["content"])
            assert event["message"]["function_call"]["arguments"] == json_escaping(restorer).restore(want["arguments"])
            chunks = []
        elif event["type"] == "messageAdd":
            want = messages[seen]
            assert list(event) == ["type", "id", "message", "deanonymized_output"]
            assert event["message"]["message"]["content"] == restorer.restore(want["content"])
            assert event["deanonymized_output"] == want["content"]  # left as it is
            seen += 1
    assert seen == len(messages)
    assert [e for e in events if e["type"] in ("bufferFlush", "conversationUpdate")] == [
        e for e in lines(body) if e["type"] in ("bufferFlush", "conversationUpdate")
    ]


def test_observability_tail_flushed_before_message_end() -> None:
    """A held tail goes out as one more chunk of the last chunk's id, before the event ending the message."""
    session = SESSIONS["placeholder"]
    stream = session.stream("observability.ndjson")
    out = stream.feed(b'{"type":"chatCompletionChunk","id":"a","message":{"content":"hi <USER"}}\n')
    assert out == b'{"type":"chatCompletionChunk","id":"a","message":{"content":"hi "}}\n'
    out = stream.feed(b'{"type":"messageAdd","id":"a","message":{"message":{"content":"x"}}}\n')
    assert out == (
        b'{"type":"chatCompletionChunk","id":"a","message":{"content":"<USER"}}\n'
        b'{"type":"messageAdd","id":"a","message":{"message":{"content":"x"}}}\n'
    )


def test_observability_split_on_id() -> None:
    """With ``split_on_id=True`` a chunk of another id ends the message (its tail is flushed first)."""
    session = SESSIONS["placeholder"]
    stream = ObservabilityNdjsonRestorer(session.restorer, split_on_id=True)
    stream.feed(b'{"type":"chatCompletionChunk","id":"a","message":{"content":"<"}}\n')
    out = stream.feed(b'{"type":"chatCompletionChunk","id":"b","message":{"content":"x"}}\n')
    assert out == (
        b'{"type":"chatCompletionChunk","id":"a","message":{"content":"<"}}\n'
        b'{"type":"chatCompletionChunk","id":"b","message":{"content":"x"}}\n'
    )


# ------------------------------------------------------------------------------------------ openai sse


@st.composite
def sse_body(draw: st.DrawFn, session: Session) -> tuple[bytes, dict[tuple[int, str], str]]:
    """OpenAI chunk events for two choices (content, function-call and tool-call arguments), then [DONE]."""
    nl = draw(st.sampled_from(["\n", "\r\n"])).encode()
    texts = {(i, kind): draw(model_text(session)) for i in (0, 1) for kind in ("content", "fc", "tool")}
    pieces = {k: _split(draw, v) for k, v in texts.items()}
    out = bytearray()
    n = max((len(p) for p in pieces.values()), default=0)
    for step in range(n):
        choices = []
        for i in (0, 1):
            delta: dict[str, Any] = {}
            if step < len(pieces[i, "content"]):
                delta["content"] = pieces[i, "content"][step]
            if step < len(pieces[i, "fc"]):
                delta["function_call"] = {"arguments": pieces[i, "fc"][step]}
            if step < len(pieces[i, "tool"]):
                delta["tool_calls"] = [{"index": 0, "function": {"arguments": pieces[i, "tool"][step]}}]
            finish = "stop" if step == n - 1 and i == 1 else None
            choices.append({"delta": delta, "finish_reason": finish, "index": i})
        event = {"model": "unknown", "choices": choices, "created": 1, "id": "c1", "object": "chat.completion.chunk"}
        out += b"data: " + _ndjson(event)[:-1] + nl + nl
        if draw(st.integers(0, 4)) == 0:
            out += b": keep-alive" + nl + nl
    out += b"data: [DONE]" + nl + nl
    return bytes(out), texts


def sse_events(data: bytes) -> list[Any]:
    """The data of every event, each parsed on its own."""
    found = []
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: "):
                value = line[6:]
                found.append("[DONE]" if value == b"[DONE]" else json.loads(value))
    return found


@PROFILE
@given(st.sampled_from(STRATEGIES), st.data())
def test_openai_sse_stream_equals_whole(name: str, data: st.DataObject) -> None:
    """OpenAI SSE: per choice, the concatenated deltas equal their text restored whole; [DONE] comes last."""
    session = JSON_SESSIONS[name]
    restorer = session.restorer
    body, texts = data.draw(sse_body(session))
    out = run(session.stream("openai.sse"), data.draw(cut(body)), restorer, texts=6)
    events = sse_events(out)
    assert events[-1] == "[DONE]"
    got = dict.fromkeys(texts, "")
    for event in events[:-1]:
        assert [k for k in event if k != "choices"] == ["model", "created", "id", "object"]
        for choice in event["choices"]:
            delta, i = choice["delta"], choice["index"]
            got[i, "content"] += delta.get("content", "")
            got[i, "fc"] += delta.get("function_call", {}).get("arguments", "")
            got[i, "tool"] += "".join(t["function"]["arguments"] for t in delta.get("tool_calls", []))
    escaping = json_escaping(restorer)  # arguments are JSON texts: originals go in escaped
    assert got == {k: (restorer if k[1] == "content" else escaping).restore(v) for k, v in texts.items()}
    assert out.count(b": keep-alive") == body.count(b": keep-alive")


def test_openai_sse_flush_event_before_done() -> None:
    """A held tail goes out as an extra chunk event (id/model/created/object copied) before [DONE]."""
    session = SESSIONS["placeholder"]
    stream = session.stream("openai.sse")
    chunk = b'data: {"id":"x","object":"chat.completion.chunk","created":5,"model":"m",'
    chunk += b'"choices":[{"index":0,"delta":{"content":"a <"},"finish_reason":null}]}\n\n'
    assert stream.feed(chunk).startswith(b'data: {"id":"x","object":"chat.completion.chunk","created":5,"model":"m"')
    assert stream.feed(b"data: [DONE]\n\n") == (
        b'data: {"id":"x","object":"chat.completion.chunk","created":5,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"<"},"finish_reason":null}]}\n\n'
        b"data: [DONE]\n\n"
    )


def test_openai_sse_passes_error_and_comments() -> None:
    """Comments, event:/id: lines and error events pass through byte for byte."""
    body = b': hi\r\nevent: x\r\nid: 1\r\n\r\ndata: {"error":{"message":"boom"}}\r\n\r\ndata: [DONE]\r\n\r\n'
    stream = SESSIONS["uuid"].stream("openai.sse")
    assert b"".join(restore_iter(stream, [body[i : i + 3] for i in range(0, len(body), 3)])) == body
    assert stream.malformed == 0


# ------------------------------------------------------------------------------------------ malformed


@pytest.mark.parametrize("fmt", ["security.ndjson", "observability.ndjson"])
def test_malformed_lines_pass_through_byte_exact(fmt: str) -> None:
    """A line that is not JSON (or not UTF-8) comes out byte for byte and is counted."""
    body = b"not json {\n\xff\xfe garbage\n[1, 2]\n"
    stream = SESSIONS["uuid"].stream(fmt)
    assert b"".join(restore_iter(stream, [body[i : i + 2] for i in range(0, len(body), 2)])) == body
    assert stream.malformed == 2 + (fmt == "observability.ndjson")


def test_malformed_sse_event_passes_through() -> None:
    """An SSE event whose data is not JSON, or JSON of another shape, comes out unchanged and is counted."""
    body = b'data: {oops\n\ndata: {"x": 1}\n\ndata: [DONE]\n\n'
    stream = SESSIONS["uuid"].stream("openai.sse")
    assert stream.feed(body) + stream.close() == body
    assert stream.malformed == 2


@pytest.mark.parametrize("fmt", ["security.ndjson", "observability.ndjson", "openai.sse"])
def test_malformed_input_is_restored_as_text(fmt: str) -> None:
    """A token in a line that is not JSON is still restored, as plain text."""
    session = SESSIONS["placeholder"]
    token = session.token_for("jdoe")
    prefix = b"data: " if fmt == "openai.sse" else b""
    stream = session.stream(fmt)
    out = stream.feed(prefix + b"oops " + token.encode() + b"\n\n") + stream.close()
    assert out == prefix + b"oops jdoe\n\n"
    assert stream.malformed == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_ending_mid_line_keeps_every_byte(fmt: str) -> None:
    """A body cut off mid-line is emitted in full at close, never raising."""
    session = SESSIONS["placeholder"]
    token = session.token_for("jdoe").encode()
    body = b'{"payload":"x ' + token + b'","type":"content"'
    stream = session.stream(fmt)
    out = stream.feed(body) + stream.close()
    assert out == body.replace(token, b"jdoe")
    assert stream.malformed == (fmt != "text")


def test_security_unterminated_last_content_line_takes_the_tail() -> None:
    """A last content line without a newline is restored, and the held tail joins it."""
    session = SESSIONS["placeholder"]
    stream = session.stream("security.ndjson")
    out = stream.feed(b'{"payload":"a <","type":"content"}\n{"payload":"USER","type":"content"}') + stream.close()
    assert out == b'{"payload":"a ","type":"content"}\n{"payload":"<USER","type":"content"}'


# ---------------------------------------------------------------------------------- protocol, helpers


@pytest.mark.parametrize("fmt", FORMATS)
def test_feed_after_close_raises(fmt: str) -> None:
    """Feeding (or closing) a closed restorer raises StreamError."""
    stream = SESSIONS["uuid"].stream(fmt)
    stream.close()
    assert stream.closed
    with pytest.raises(StreamError):
        stream.feed(b"x")
    with pytest.raises(StreamError):
        stream.close()


def test_unknown_format_raises() -> None:
    """An unknown format name is a StreamError (a ValueError)."""
    with pytest.raises(StreamError, match="unknown stream format"):
        restorer_for(SESSIONS["uuid"].restorer, "xml")
    with pytest.raises(ValueError):
        SESSIONS["uuid"].stream("sse")


def test_restore_iter_skips_empty_outputs() -> None:
    """The sync helper yields only non-empty restored chunks."""
    session = SESSIONS["placeholder"]
    token = session.token_for("jdoe").encode()
    parts = list(restore_iter(session.stream("text"), [b"a ", token[:3], token[3:], b"", b" z"]))
    assert parts == [b"a ", b"jdoe", b" z"]


def test_restore_aiter_under_asyncio() -> None:
    """The async helper restores an async generator's chunks under a real event loop."""
    session = SESSIONS["uuid"]
    token = session.token_for("jdoe").encode()
    body = b'{"payload":"hi ' + token + b'","type":"content"}\n'

    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):
            await asyncio.sleep(0)
            yield body[i : i + 7]

    async def main() -> list[bytes]:
        return [part async for part in restore_aiter(session.stream("security.ndjson"), source())]

    parts = asyncio.run(main())
    assert all(parts)
    assert orjson.loads(b"".join(parts)) == {"payload": "hi jdoe", "type": "content"}


@pytest.mark.parametrize("fmt", ["text", "security.ndjson", "observability.ndjson", "openai.sse"])
def test_a_stream_restorer_is_never_pickled(fmt: str) -> None:
    """A stream restorer holds the originals it restores: pickling or copying it raises (compiled fast path or not)
    instead of writing them out."""
    session = Anonymizer().session()
    session.token_for("jdoe", field="user.name")
    stream = session.stream(fmt)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(ArgumentTypeError, match="cannot be pickled"):
            pickle.dumps(stream, protocol=protocol)
    with pytest.raises(ArgumentTypeError, match="cannot be pickled"):
        copy.copy(stream)
