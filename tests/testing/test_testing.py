"""anonymizer.testing: strategies give valid payloads, helpers pass on correct code and catch planted bugs."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import anonymizer.testing as toolkit
from anonymizer import Anonymizer, FieldPolicy, Session
from anonymizer.errors import PayloadError
from anonymizer.payloads import Kind, anonymize_payload, deanonymize_payload, validate
from anonymizer.stream import StreamRestorer
from anonymizer.testing import (
    InvariantError,
    LeakError,
    RoundTripError,
    StreamMismatchError,
    assert_no_leak,
    assert_roundtrip,
    assert_stream_equals_whole,
    chat_complete_requests,
    chunkings,
    conversations,
    ecs_data,
    find_responses,
    llm_outputs,
    llm_outputs_with_expected,
    observability_requests,
    original_values,
    payloads,
    security_messages,
    stream_bodies,
)
from tests.tagless import untag

KEY = b"0123456789abcdef0123456789abcdef"
TOKENS = ["uuid", "placeholder", "mask", "keyed"]
ORIGINAL = re.compile(r"Q[a-z]{3,}")
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Planted bugs: deterministic, no example database, so each run shrinks the same way.
PLANTED = settings(max_examples=200, deadline=None, derandomize=True, database=None, print_blob=False)
FORMATS = ["text", "security.ndjson", "observability.ndjson", "openai.sse"]


def engine(tokens: str) -> Anonymizer:
    return Anonymizer(tokens=tokens, key=KEY)


def _security(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"connectorId": "c", "persist": False, "messages": messages}


# ------------------------------------------------------------------------------------------- the module


def test_all_is_sorted_and_every_public_name_is_documented() -> None:
    """__all__ is sorted, names only what exists, and every public name has a docstring."""
    assert toolkit.__all__ == sorted(toolkit.__all__)
    for name in toolkit.__all__:
        obj = getattr(toolkit, name)
        if callable(obj):
            assert inspect.getdoc(obj), name
    strategies = ["ecs_data", "chat_complete_requests", "llm_outputs", "chunkings", "stream_bodies", "payloads"]
    for name in strategies:
        assert ">>> " in (inspect.getdoc(getattr(toolkit, name)) or ""), f"{name} has no example"


def test_importable_without_pytest() -> None:
    """The toolkit imports and its helpers run in a process where pytest cannot be imported."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "from anonymizer import Anonymizer\n"
        "from anonymizer.testing import assert_roundtrip\n"
        "s = Anonymizer().session()\n"
        "assert_roundtrip(s, {'title': 'x'}, 'conversation.create')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_helper_errors_are_assertion_errors() -> None:
    """Every helper error is an AssertionError subclass, shown as anonymizer.testing.<Name>."""
    for cls in (InvariantError, RoundTripError, LeakError, StreamMismatchError):
        assert issubclass(cls, AssertionError)
        assert cls.__module__ == "anonymizer.testing"


# ---------------------------------------------------------------------------------- strategies are valid


@PROPS
@given(case=payloads())
def test_every_payload_strategy_gives_payloads_the_models_accept(case: tuple[dict[str, Any], str]) -> None:
    """chat_complete_requests, observability_requests, conversations (3 kinds), find_responses: all validate."""
    payload, kind = case
    validate(payload, kind)


@PROPS
@given(
    message=security_messages(),
    named=security_messages(named=["source.ip", "process.name"]),
    data=ecs_data(),
    free=ecs_data(fields=st.sampled_from(["a", "a.b", "b.c.d", "e.f"]), values=st.integers(), empty=True),
    per_field=ecs_data(values=lambda field: st.just(field.upper()), max_depth=1),
)
def test_message_and_data_strategies_give_valid_messages(
    message: dict[str, Any],
    named: dict[str, Any],
    data: dict[str, Any],
    free: dict[str, Any],
    per_field: dict[str, Any],
) -> None:
    """security_messages and every ecs_data configuration give messages the security model accepts."""
    extra = [{"role": "user", "data": d} for d in (data, free, per_field)]
    validate(_security([message, named, *extra]), Kind.SECURITY_CHAT_COMPLETE)


@PROPS
@given(
    case=st.one_of(
        chat_complete_requests(invalid=True).map(lambda p: (p, "security.chat_complete")),
        observability_requests(invalid=True).map(lambda p: (p, "observability.chat_complete")),
        conversations(kind="conversation.create", invalid=True).map(lambda p: (p, "conversation.create")),
        conversations(kind="conversation.update", invalid=True).map(lambda p: (p, "conversation.update")),
        conversations(invalid=True).map(lambda p: (p, "conversation")),
        find_responses(invalid=True).map(lambda p: (p, "conversation.find")),
        security_messages(invalid=True).map(lambda m: (_security([m]), "security.chat_complete")),
    )
)
def test_invalid_options_give_payloads_the_models_reject(case: tuple[dict[str, Any], str]) -> None:
    """invalid=True always gives a payload that fails validation with a PayloadError."""
    payload, kind = case
    with pytest.raises(PayloadError):
        validate(payload, kind)


def test_payloads_rejects_unknown_kinds() -> None:
    """payloads() names the kinds it knows when given another."""
    with pytest.raises(ValueError, match=r"security\.chat_complete"):
        payloads(kinds=["security.chat_complete.response"])


def _has(data: Any, predicate: Any) -> bool:
    if predicate(data):
        return True
    if isinstance(data, dict):
        return any(_has(v, predicate) for v in data.values())
    if isinstance(data, list):
        return any(_has(v, predicate) for v in data)
    return False


@pytest.mark.parametrize(
    ("shape", "predicate"),
    [
        ("flat", lambda d: isinstance(d, dict) and any("." in k and isinstance(v, str) for k, v in d.items())),
        ("nested", lambda d: isinstance(d, dict) and any(isinstance(v, dict) for v in d.values())),
        ("mixed", lambda d: isinstance(d, dict) and any(isinstance(v, dict) and "." in k for k, v in d.items())),
        ("list of scalars", lambda d: isinstance(d, list) and bool(d) and isinstance(d[0], str)),
        ("list of objects", lambda d: isinstance(d, list) and bool(d) and isinstance(d[0], dict)),
    ],
)
def test_ecs_data_produces_every_shape(shape: str, predicate: Any) -> None:
    """ecs_data gives flat, nested, mixed, list-of-scalars and list-of-objects fields."""
    found = find(ecs_data(), lambda d: _has(d, predicate), settings=settings(database=None, max_examples=2000))
    assert found


def test_ecs_data_shrinks_to_one_flat_field() -> None:
    """A failing ECS example shrinks to a single flat field holding one original."""
    found = find(ecs_data(), bool, settings=settings(database=None))
    assert found == {"user.name": "Qaaa"}


def test_chunkings_cut_inside_multibyte_characters() -> None:
    """chunkings finds cuts inside a multi-byte UTF-8 character (a chunk that does not decode)."""

    def broken(chunks: list[bytes]) -> bool:
        try:
            [c.decode() for c in chunks]
        except UnicodeDecodeError:
            return True
        return False

    body = "zoë 😀 ok".encode()
    assert len(find(chunkings(body), broken, settings=settings(database=None))) >= 2


@PROPS
@given(data=st.data(), body=st.binary(max_size=40), empty=st.booleans())
def test_chunkings_concatenate_to_the_body(data: st.DataObject, body: bytes, empty: bool) -> None:
    """Every chunking concatenates back to the body; no empty chunk unless asked for."""
    chunks = data.draw(chunkings(body, empty_chunks=empty))
    assert b"".join(chunks) == body
    assert empty or all(chunks)


# ---------------------------------------------------------------------------- helpers pass on correct code


def _session_with(tokens: str, originals: list[str]) -> Session:
    session = engine(tokens).session()
    for i, original in enumerate(originals):
        session.token_for(original, field="host.name" if i % 2 else "user.name")
    return session


@pytest.mark.parametrize("tokens", TOKENS)
@PROPS
@given(case=payloads())
def test_roundtrip_and_no_leak_hold_for_the_engine(tokens: str, case: tuple[dict[str, Any], str]) -> None:
    """On the real engine: assert_roundtrip passes for every kind, assert_no_leak on what it hides."""
    payload, kind = case
    originals = sorted(set(ORIGINAL.findall(str(payload))))
    session = engine(tokens).session()
    if kind == "observability.chat_complete":  # no ECS data here: originals known from earlier turns
        for original in originals:
            session.token_for(original)
    hidden = assert_roundtrip(session, payload, kind)
    if kind in ("security.chat_complete", "observability.chat_complete"):
        assert_no_leak(hidden, session.replacements)
        assert_no_leak(hidden, originals, min_length=1, whole_words=False)


@pytest.mark.parametrize("tokens", TOKENS)
@PROPS
@given(data=st.data())
def test_llm_outputs_expectation_matches_the_restorer(tokens: str, data: st.DataObject) -> None:
    """deanonymize(text) equals the expectation of llm_outputs_with_expected, altered and split tokens included."""
    pool = data.draw(st.lists(original_values(), min_size=1, max_size=4, unique=True))
    session = _session_with(tokens, [*pool, "jdoe"])
    text, expected = data.draw(llm_outputs_with_expected(session.replacements))
    assert session.deanonymize(text) == expected
    assert isinstance(data.draw(llm_outputs(session.replacements)), str)


@pytest.mark.parametrize("fmt", FORMATS)
@PROPS
@given(tokens=st.sampled_from(TOKENS), data=st.data())
def test_stream_equals_whole_holds_for_the_engine(fmt: str, tokens: str, data: st.DataObject) -> None:
    """On the real stream restorers, every format, any chunking: assert_stream_equals_whole passes."""
    session = _session_with(tokens, ["jdoe", 'Zoë "the admin"', "日本-サーバ-01", "two\nlines"])
    text = data.draw(llm_outputs(session.replacements))
    body = data.draw(stream_bodies(text, fmt=fmt))
    out = assert_stream_equals_whole(session, fmt, body, data.draw(chunkings(body)))
    if fmt == "text":
        assert out == session.deanonymize(text).encode()


def test_stream_helper_rejects_chunks_that_are_not_the_body() -> None:
    """A chunking that does not add up to the body is a usage error, not a failed invariant."""
    with pytest.raises(ValueError, match="concatenate"):
        assert_stream_equals_whole(Anonymizer().session(), "text", b"abc", [b"ab"])


# ------------------------------------------------------------------------------------- message contents


def test_roundtrip_message_names_path_and_token() -> None:
    """A wrong restore is reported at its JSON path with the token there; the original is not shown."""
    session = DropsLastCharacter(engine("placeholder").session())
    body = _security([{"role": "user", "data": {"user": {"name": "Qalice"}}}])
    with pytest.raises(RoundTripError) as info:
        assert_roundtrip(session, body, "security.chat_complete")
    err = info.value
    assert err.path == "$.messages[0].data.user.name"
    token = session.token_for("Qalice")
    assert err.token == token and untag(token) == "<USER_NAME_1>"
    assert token in str(err) and "Qalice" not in str(err)


def test_leak_message_uses_the_index_when_no_token_is_known() -> None:
    """Originals given as a list are named by index; keys are skipped unless asked for."""
    obj = {"Qsecret": ["x", {"note": "from Qsecret."}]}
    with pytest.raises(LeakError) as info:
        assert_no_leak(obj, ["Qother", "Qsecret"])
    assert str(info.value) == "original #1 found at $.Qsecret[1].note, character 5"
    assert info.value.index == 1 and info.value.token is None
    with pytest.raises(LeakError, match=r"\(a key\)"):
        assert_no_leak({"Qsecret": 1}, ["Qsecret"], keys=True)


def test_leak_check_follows_the_engine_guard_by_default() -> None:
    """Short originals and word-internal matches are not leaks by default, and are in strict mode."""
    obj = {"text": "a rootkit"}
    assert_no_leak(obj, ["a", "root"])
    with pytest.raises(LeakError):
        assert_no_leak(obj, ["root"], whole_words=False)
    with pytest.raises(LeakError):
        assert_no_leak(obj, ["a"], min_length=1)
    with pytest.raises(LeakError, match=r"found at \$, character 2"):
        assert_no_leak(b"a Qsecret", {"tok": "Qsecret"})


def test_stream_message_names_the_format_path_and_token() -> None:
    """A stream that loses a character is reported with the format, the path and the token there."""
    session = DropsLastCharacter(engine("placeholder").session())
    token = session.token_for("Qalice", field="user.name")
    name = token[1:-1]
    body = (
        f'{{"payload":"hi [{name[:-3]}","type":"content"}}\n{{"payload":"{name[-3:]}","type":"content"}}\n'
    ).encode()
    with pytest.raises(StreamMismatchError) as info:
        assert_stream_equals_whole(session, "security.ndjson", body, [body])
    assert info.value.path == "$.payload" and info.value.token == token
    assert "Qalice" not in str(info.value)


def test_stream_lines_must_parse_and_keep_their_terminator() -> None:
    """A line that is no longer JSON, or a lost final newline, is reported."""
    session = engine("placeholder").session()
    session.token_for("Qalice", field="user.name")
    body = b'{"payload":"<USER_NAME_1>","type":"content"}\n'
    with pytest.raises(StreamMismatchError, match="line 1 of the restored stream is not valid JSON"):
        assert_stream_equals_whole(Mangled(session, lambda out: out[1:]), "security.ndjson", body, [body])
    with pytest.raises(StreamMismatchError, match="final line terminator"):
        assert_stream_equals_whole(Mangled(session, lambda out: out[:-1]), "security.ndjson", body, [body])


# ---------------------------------------------------------------------------------------- planted bugs


class _Wrapped:
    """A session with some methods replaced; everything else goes to the real session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _DropsOnClose:
    """A stream restorer whose final flush (what ``close()`` returns) loses the last character of its text."""

    def __init__(self, inner: StreamRestorer, fmt: str) -> None:
        self._inner = inner
        self._fmt = fmt

    def feed(self, chunk: bytes) -> bytes:
        return self._inner.feed(chunk)

    def close(self) -> bytes:
        out = self._inner.close()
        if not out:
            return out
        if self._fmt == "text":
            return out.decode("utf-8", "surrogateescape")[:-1].encode("utf-8", "surrogateescape")
        lines = [json.loads(line) for line in out.splitlines()]
        lines[-1]["payload"] = lines[-1]["payload"][:-1]
        return b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)


class DropsLastCharacter(_Wrapped):
    """Planted bug: restoring drops the last character of every restored text, and of a stream's final flush."""

    def deanonymize(self, text: str) -> str:
        restored = self._session.deanonymize(text)
        return restored[:-1] if restored != text else restored

    def deanonymize_obj(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.deanonymize(obj)
        if isinstance(obj, Mapping):
            return {k: self.deanonymize_obj(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.deanonymize_obj(v) for v in obj]
        return obj

    def stream(self, fmt: str = "text") -> Any:
        return _DropsOnClose(self._session.stream(fmt), fmt)


class SkipsNestedLists(_Wrapped):
    """Planted bug: anonymize_data leaves lists nested inside objects as they were (originals included)."""

    def anonymize_data(self, data: Mapping[str, Any], fields_to_anonymize: Any = ()) -> Any:
        out = self._session.anonymize_data(data, fields_to_anonymize)
        _put_back_nested_lists(data, out, depth=0)
        return out


def _put_back_nested_lists(source: Any, out: Any, depth: int) -> None:
    if not isinstance(source, Mapping) or not isinstance(out, dict):
        return
    for key, value in source.items():
        if key not in out:
            continue
        if isinstance(value, list) and depth > 0:
            out[key] = list(value)
        else:
            _put_back_nested_lists(value, out[key], depth + 1)


class Mangled(_Wrapped):
    """A session whose stream output is passed through ``mangle`` at close."""

    def __init__(self, session: Session, mangle: Any) -> None:
        super().__init__(session)
        self._mangle = mangle

    def stream(self, fmt: str = "text") -> Any:
        inner = self._session.stream(fmt)
        mangle = self._mangle

        class _Stream:
            def __init__(self) -> None:
                self.out = b""

            def feed(self, chunk: bytes) -> bytes:
                self.out += inner.feed(chunk)
                return b""

            def close(self) -> bytes:
                return bytes(mangle(self.out + inner.close()))

        return _Stream()


def _no_original_in(message: str) -> None:
    assert not ORIGINAL.search(message), message


def test_planted_restorer_that_drops_the_last_character_fails_roundtrip() -> None:
    """assert_roundtrip catches a restorer that drops the last character, shrunk to one small message."""
    seen: list[dict[str, Any]] = []

    @PLANTED
    @given(body=chat_complete_requests())
    def prop(body: dict[str, Any]) -> None:
        seen.append(body)
        # A fixed conversation tag (read back from the stored map), so each example runs the same way every time.
        session = engine("placeholder").session(replacements={"<PLANTED_1_A1B2C3>": "planted-seed-value"})
        assert_roundtrip(DropsLastCharacter(session), body, "security.chat_complete")

    with pytest.raises(RoundTripError) as info:
        prop()
    message = str(info.value)
    assert info.value.path is not None and info.value.path.startswith("$.messages[0].")
    assert info.value.path in message and "<" in (info.value.token or "")
    _no_original_in(message)
    shrunk = seen[-1]
    assert len(shrunk["messages"]) == 1 and len(str(shrunk)) < 200, shrunk


def test_planted_anonymizer_that_skips_nested_lists_fails_no_leak() -> None:
    """assert_no_leak catches an anonymizer that skips nested lists, naming the list item's path and token."""
    seen: list[dict[str, Any]] = []

    @PLANTED
    @given(body=chat_complete_requests())
    def prop(body: dict[str, Any]) -> None:
        seen.append(body)
        session = engine("placeholder").session()
        hidden = anonymize_payload(SkipsNestedLists(session), body, "security.chat_complete")
        assert_no_leak(hidden, session.replacements)

    with pytest.raises(LeakError) as info:
        prop()
    message = str(info.value)
    assert re.fullmatch(r"\$\.messages\[\d\]\.data\.\w+\.\w+(\.\w+)?\[0\]", info.value.path or ""), message
    assert message.startswith("original #0 (token <") and info.value.path in message
    _no_original_in(message)
    shrunk = seen[-1]
    assert len(str(shrunk)) < 200, shrunk


@pytest.mark.parametrize("fmt", ["text", "security.ndjson"])
def test_planted_restorer_that_drops_the_last_character_fails_stream(fmt: str) -> None:
    """assert_stream_equals_whole catches a stream whose final flush drops a character, with a small example."""
    session = _session_with("placeholder", ["Qalice", "Qbob"])
    seen: list[tuple[str, list[bytes]]] = []

    @PLANTED
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        text = data.draw(llm_outputs(session.replacements, noise=False))
        body = data.draw(stream_bodies(text, fmt=fmt))
        chunks = data.draw(chunkings(body))
        seen.append((text, chunks))
        assert_stream_equals_whole(DropsLastCharacter(session), fmt, body, chunks)

    with pytest.raises(StreamMismatchError) as info:
        prop()
    message = str(info.value)
    assert message.startswith(f"{fmt}: ") and info.value.path in message
    assert info.value.path == "$" if fmt == "text" else info.value.path == "$.payload"
    assert info.value.token is None or info.value.token in session.replacements
    _no_original_in(message)
    text, chunks = seen[-1]
    assert len(text) <= 20 and len(chunks) <= 2, (text, chunks)


@given(body=observability_requests())
@settings(max_examples=20, deadline=None)
def test_observability_roundtrip_without_known_originals(body: dict[str, Any]) -> None:
    """Observability requests round trip through a fresh session with a keep-everything policy too."""
    session = Anonymizer(policy=FieldPolicy.anonymize_all()).session()
    assert_roundtrip(session, body, Kind.OBSERVABILITY_CHAT_COMPLETE)


def test_roundtrip_law_holds_for_a_conversation_stored_in_token_form() -> None:
    """A conversation kept in token form comes back in its restored view, which is what the law expects."""
    session = engine("placeholder").session()
    stored = {"id": "c1", "title": "<USER_NAME_1> locked out", "replacements": {"<USER_NAME_1>": "Qalice"}}
    hidden = assert_roundtrip(session, stored, "conversation")
    assert hidden["title"] == "<USER_NAME_1> locked out"
    assert deanonymize_payload(session, hidden, "conversation")["title"] == "Qalice locked out"


def test_roundtrip_law_still_catches_a_wrong_restore_of_a_token_form_payload() -> None:
    """With a payload in token form, a restorer that is wrong everywhere fails the law too."""

    class ForgetsTheAnonymizedTitle(DropsLastCharacter):
        def deanonymize(self, text: str) -> str:
            return text if text.startswith("<") else self._session.deanonymize(text)

    session = ForgetsTheAnonymizedTitle(engine("placeholder").session())
    session.token_for("Qbob", field="user.name")
    stored = {"id": "c1", "title": "Qbob and <USER_NAME_1>", "replacements": {"<USER_NAME_1>": "Qbob"}}
    with pytest.raises(RoundTripError, match=r"differs from deanonymize\(payload\) \(conversation\) at \$\.title"):
        assert_roundtrip(session, stored, "conversation")
