"""Invariant helpers: :func:`assert_roundtrip`, :func:`assert_no_leak`, :func:`assert_stream_equals_whole`.

They raise :class:`InvariantError` (an :class:`AssertionError`, so pytest shows it as a failed assertion) whose
message names the JSON path and the token involved, and never an original value. They need neither pytest nor
Hypothesis.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from anonymizer._text import is_word, json_type
from anonymizer.engine import DEFAULT_MIN_LENGTH
from anonymizer.errors import ConfigError, Issue
from anonymizer.payloads import Kind, anonymize_payload, deanonymize_payload, to_wire
from anonymizer.restore import Restorer

__all__ = [
    "InvariantError",
    "LeakError",
    "RoundTripError",
    "StreamMismatchError",
    "assert_no_leak",
    "assert_roundtrip",
    "assert_stream_equals_whole",
]

Path = tuple[str | int, ...]


class InvariantError(AssertionError):
    """An invariant of the anonymizer does not hold. Base class of the errors raised by the helpers.

    ``path`` is the JSON path (``$.messages[0].content``) or stream location of the first problem, ``token``
    the token involved when one is known; neither the message nor the attributes hold an original value.
    """

    def __init__(self, message: str, *, path: str | None = None, token: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.token = token


class RoundTripError(InvariantError):
    """``restore(anonymize(payload))`` is not the payload (or anonymizing changed its input)."""


class LeakError(InvariantError):
    """An original value was found in anonymized output. ``index`` is its position in the originals given."""

    def __init__(self, message: str, *, path: str, token: str | None, index: int) -> None:
        super().__init__(message, path=path, token=token)
        self.index = index


class StreamMismatchError(InvariantError):
    """A stream restorer's output, parsed per format, differs from restoring the whole body at once."""


for _cls in (InvariantError, RoundTripError, LeakError, StreamMismatchError):
    _cls.__module__ = "anonymizer.testing"  # shown as anonymizer.testing.LeakError in tracebacks


# ---------------------------------------------------------------------------------------------- shared


def json_path(path: Path) -> str:
    """``("messages", 0, "content")`` -> ``$.messages[0].content`` (the notation of PayloadError)."""
    return Issue(path, "").json_path


class _Difference:
    """Where two JSON values first differ, and how (never with the values)."""

    __slots__ = ("at", "how", "path")

    def __init__(self, path: Path, how: str, at: int | None = None) -> None:
        self.path = path
        self.how = how
        self.at = at  # first differing character, for strings


def _first_difference(expected: Any, actual: Any, path: Path = ()) -> _Difference | None:
    kind, got = json_type(expected), json_type(actual)
    if kind != got:
        return _Difference(path, f"expected {_article(kind)} {kind}, got {_article(got)} {got}")
    if kind == "object":
        for key, value in expected.items():
            if key not in actual:
                return _Difference((*path, key), "missing")
            found = _first_difference(value, actual[key], (*path, key))
            if found:
                return found
        for key in actual:
            if key not in expected:
                return _Difference((*path, key), "unexpected property")
        return None
    if kind == "array":
        for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
            found = _first_difference(a, b, (*path, i))
            if found:
                return found
        if len(expected) != len(actual):
            return _Difference(path, f"expected {len(expected)} items, got {len(actual)}")
        return None
    if kind == "string":
        if expected == actual:
            return None
        at = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b), None)
        if at is None:
            at = min(len(expected), len(actual))
        return _Difference(
            path,
            f"expected {len(expected)} characters, got {len(actual)}; they first differ at character {at}",
            at,
        )
    if expected != actual:
        return _Difference(path, f"the {kind} differs")
    return None


def _article(kind: str) -> str:
    return "an" if kind[:1] in "aeiou" else "a"


def _token_at(restorer: Restorer, anonymized: str, at: int) -> str | None:
    """The token whose original covers (or ends just before) character ``at`` of ``restorer.restore(anonymized)``."""
    events = [e for e in restorer.restore_with_report(anonymized).report.events if e.kind in ("restored", "altered")]
    originals = restorer.replacements
    delta = 0
    for e in events:
        start = e.start + delta
        length = len(originals.get(e.found) or restorer.restore(e.found))
        if start <= at <= start + length:
            return _map_token(restorer, e.found)
        if start > at:
            break
        delta += length - (e.end - e.start)
    return None


def _tokens_in(restorer: Restorer, anonymized: Any) -> list[str]:
    if not isinstance(anonymized, str):
        return []
    events = restorer.restore_with_report(anonymized).report.events
    return list(dict.fromkeys(_map_token(restorer, e.found) for e in events if e.kind in ("restored", "altered")))


def _map_token(restorer: Restorer, found: str) -> str:
    """The token of the map that ``found`` (a token, or an altered form of one) stands for."""
    originals = restorer.replacements
    if found in originals:
        return found
    original = restorer.restore(found)
    return next((t for t, o in originals.items() if o == original), found)


def _at(node: Any, path: Path) -> Any:
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _token_note(restorer: Restorer, anonymized: Any, diff: _Difference) -> tuple[str, str | None]:
    """`` (token X)`` for a message, and the token: the one the difference falls in, else those at the path."""
    if isinstance(anonymized, str) and anonymized in restorer.replacements:
        return f"; the anonymized value there is token {anonymized}", anonymized
    if isinstance(anonymized, str) and diff.at is not None:
        token = _token_at(restorer, anonymized, diff.at)
        if token is not None:
            return f", in or next to the original of token {token}", token
    tokens = _tokens_in(restorer, anonymized)
    if tokens:
        shown = ", ".join(tokens[:3]) + (", ..." if len(tokens) > 3 else "")
        return f"; the anonymized value there holds token(s) {shown}", tokens[0]
    return "", None


# ------------------------------------------------------------------------------------------- roundtrip


def _as_json(payload: object, kind: Kind | str) -> Any:
    if isinstance(payload, Mapping | list):
        return json.loads(json.dumps(payload))
    return to_wire(payload, kind)


_MAP_KINDS = frozenset(
    {"conversation", "conversation.create", "conversation.update", "security.chat_complete.response"}
)


def _check_maps(expected: Any, actual: Any, kind: str) -> None:
    """Anonymizing a conversation writes the session's map into its ``replacements`` (merged, never overwritten):
    the restored map must keep every stored pair, and may hold more."""
    pairs: list[tuple[Path, Any, Any]] = []
    if kind in _MAP_KINDS:
        pairs.append(((), expected, actual))
    elif kind == "conversation.find" and isinstance(expected, dict) and isinstance(actual, dict):
        for i, (e, a) in enumerate(zip(expected.get("data") or [], actual.get("data") or [], strict=False)):
            pairs.append((("data", i), e, a))
    for base, e, a in pairs:
        if not isinstance(e, dict) or not isinstance(a, dict) or not isinstance(a.get("replacements"), dict):
            continue
        stored = e.get("replacements") or {}
        got = a["replacements"]
        for token, original in stored.items():
            if got.get(token) != original:
                path = json_path((*base, "replacements", token))
                raise RoundTripError(
                    f"the restored payload lost or rebound stored token {token} at {path}", path=path, token=token
                )
        if "replacements" in e:
            a["replacements"] = e["replacements"]
        else:
            del a["replacements"]


def _without_maps(value: Any) -> Any:
    """A JSON value without its ``replacements`` maps (their keys are tokens by design)."""
    if isinstance(value, dict):
        return {k: _without_maps(v) for k, v in value.items() if k != "replacements"}
    if isinstance(value, list):
        return [_without_maps(v) for v in value]
    return value


def assert_roundtrip(session: Any, payload: object, kind: Kind | str) -> dict[str, Any]:
    """Check the round-trip law ``deanonymize(anonymize(p)) == deanonymize(p)`` as JSON; return ``anonymize(p)``.

    >>> from anonymizer import Anonymizer
    >>> from anonymizer.testing import assert_roundtrip
    >>> session = Anonymizer(tokens="placeholder").session()
    >>> body = {"connectorId": "c", "persist": False, "messages": [{"role": "user", "data": {"user.name": "jdoe"}}]}
    >>> assert_roundtrip(session, body, "security.chat_complete")["messages"][0]["data"]  # doctest: +ELLIPSIS
    {'user.name': '<USER_NAME_1_...>'}

    Both sides are computed with the session as it is after anonymizing. For a payload that holds no token of
    the session's map (the usual case) ``deanonymize(p)`` is ``p`` itself, and that is what is compared
    against (so a restorer that is wrong everywhere is still caught). A payload already in token form, such as a
    conversation Kibana stored with its tokens (``alertConvo``), comes back in its restored view.

    ``session`` is an :class:`anonymizer.Session` (or any object with its methods: the module functions
    :func:`~anonymizer.payloads.anonymize_payload` and :func:`~anonymizer.payloads.deanonymize_payload` are called
    with it). Also checks that the input is not mutated. A conversation's ``replacements`` come back as the
    session's map merged with the stored one: they must keep every stored pair and may hold more.

    Raises :class:`RoundTripError` naming the first differing JSON path and the token there, e.g.
    ``restore(anonymize(payload)) differs at $.messages[0].content: expected 12 characters, got 11; ...``.
    """
    kind = str(kind)
    before = _as_json(payload, kind)
    hidden = anonymize_payload(session, payload, kind)
    diff = _first_difference(before, _as_json(payload, kind))
    if diff is not None:
        path = json_path(diff.path)
        raise RoundTripError(f"anonymize_payload mutated its input at {path}: {diff.how}", path=path)
    restorer = Restorer(session.replacements)
    if any(restorer.restore(text) != text for _, text, _ in _strings(_without_maps(before), (), True)):
        expected = json.loads(json.dumps(deanonymize_payload(session, payload, kind)))
        what = "deanonymize(payload)"
    else:
        expected, what = before, "the payload"
    back = json.loads(json.dumps(deanonymize_payload(session, hidden, kind)))
    _check_maps(before, back, kind)
    _check_maps(before, expected, kind)
    diff = _first_difference(expected, back)
    if diff is None:
        return hidden
    path = json_path(diff.path)
    note, token = _token_note(restorer, _at(hidden, diff.path), diff)
    raise RoundTripError(
        f"restore(anonymize(payload)) differs from {what} ({kind}) at {path}: {diff.how}{note}",
        path=path,
        token=token,
    )


# --------------------------------------------------------------------------------------------- no leak


def _occurrences(text: str, original: str, whole_words: bool) -> Iterable[int]:
    left, right = is_word(original[0]), is_word(original[-1])
    at = text.find(original)
    while at != -1:
        end = at + len(original)
        if not whole_words or not (
            (left and at > 0 and is_word(text[at - 1])) or (right and end < len(text) and is_word(text[end]))
        ):
            yield at
        at = text.find(original, at + 1)


def _strings(obj: Any, path: Path, keys: bool) -> Iterable[tuple[Path, str, bool]]:
    """``(path, string, is_key)`` for every string of a JSON value."""
    if isinstance(obj, str):
        yield path, obj, False
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            if keys and isinstance(key, str):
                yield (*path, key), key, True
            yield from _strings(value, (*path, key), keys)
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from _strings(value, (*path, i), keys)


def assert_no_leak(
    obj: object,
    originals: Mapping[str, str] | Iterable[str],
    *,
    replacements: Mapping[str, str] | None = None,
    min_length: int = DEFAULT_MIN_LENGTH,
    whole_words: bool = True,
    keys: bool = False,
) -> None:
    """Check that no original appears in any string of ``obj`` (a JSON value, or a text).

    >>> from anonymizer.testing import assert_no_leak
    >>> assert_no_leak({"content": "ask <USER_NAME_1>"}, {"<USER_NAME_1>": "jdoe"})
    >>> assert_no_leak({"messages": [{"content": "ask jdoe"}]}, {"<USER_NAME_1>": "jdoe"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    anonymizer.testing.LeakError: original #0 (token <USER_NAME_1>) found at $.messages[0].content, ...

    ``originals`` is a replacements map (token -> original, such as ``session.replacements``) or a list of
    originals; ``replacements`` names the tokens of a list. The default follows the engine's documented
    free-text guard: originals shorter than ``min_length`` (3) are not looked for, and inside a longer string
    only whole-word occurrences count (``root`` is not found in ``rootkit``). ``min_length=1,
    whole_words=False`` makes it strict. Object keys are field names and are skipped unless ``keys=True``;
    ``bytes`` are read as UTF-8 text.

    Raises :class:`LeakError` naming the original by its index and token, and where it was found, e.g.
    ``original #3 (token <USER_NAME_1>) found at $.messages[0].content, character 4`` -- never the original.
    """
    if isinstance(originals, Mapping):
        tokens_by_original: dict[str, str] = {}
        for token, original in originals.items():
            tokens_by_original.setdefault(original, token)
        values = list(tokens_by_original)
    else:
        values = list(dict.fromkeys(originals))
        tokens_by_original = {}
        for token, original in (replacements or {}).items():
            tokens_by_original.setdefault(original, token)
    if isinstance(obj, bytes | bytearray):
        obj = bytes(obj).decode("utf-8", "surrogateescape")
    wanted = [(i, o) for i, o in enumerate(values) if isinstance(o, str) and o and len(o) >= min_length]
    leaks: list[tuple[int, str, int, bool]] = []
    for where, text, is_key in _strings(obj, (), keys):
        for i, original in wanted:
            if original not in text:
                continue
            for at in _occurrences(text, original, whole_words):
                leaks.append((i, json_path(where), at, is_key))
                break
    if not leaks:
        return
    lines = []
    for i, at_path, at, is_key in leaks[:5]:
        token = tokens_by_original.get(values[i])
        who = f"original #{i}" + (f" (token {token})" if token else "")
        place = f"{at_path} (a key)" if is_key else (f"{at_path}, character {at}" if at else at_path)
        lines.append(f"{who} found at {place}")
    more = f"; and {len(leaks) - 5} more" if len(leaks) > 5 else ""
    first, first_path, _, _ = leaks[0]
    raise LeakError("; ".join(lines) + more, path=first_path, token=tokens_by_original.get(values[first]), index=first)


# ---------------------------------------------------------------------------------------------- stream


def _loads(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON


_NOT_JSON = object()


def _text_of(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


class _Normal:
    """One side of a stream, parsed per format: items compared in order, with labels and anonymized sources."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.labels: list[str] = []
        self.sources: list[dict[Path, str]] = []  # per item: path inside the item -> anonymized text there

    def add(self, item: Any, label: str, sources: dict[Path, str] | None = None) -> None:
        self.items.append(item)
        self.labels.append(label)
        self.sources.append(sources or {})


Restore = Callable[[str, bool], str]
"""Restores a text; the flag says it is a JSON text (originals then go in JSON-escaped)."""


def _lines(body: bytes) -> list[tuple[int, bytes]]:
    """``(line number from 1, line without its terminator)``."""
    parts = body.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [(n, line[:-1] if line.endswith(b"\r") else line) for n, line in enumerate(parts, 1)]


def _security(body: bytes, restore: Restore | None, side: str) -> _Normal:
    texts: list[str] = []
    others: list[tuple[Any, str]] = []
    for n, line in _lines(body):
        if not line.strip():
            continue
        obj = _loads(line)
        if isinstance(obj, dict) and obj.get("type") == "content" and isinstance(obj.get("payload"), str):
            texts.append(obj["payload"])
        elif obj is _NOT_JSON:
            text = _text_of(line)
            others.append(({"line": restore(text, False) if restore else text}, f"{side} line {n} (not JSON)"))
        else:
            others.append((obj, f"{side} line {n}"))
    normal = _Normal()
    joined = "".join(texts)
    label = "the content payloads, concatenated"
    normal.add({"payload": restore(joined, False) if restore else joined}, label, {("payload",): joined})
    for item, where in others:
        normal.add(item, where)
    return normal


_ENDS_MESSAGE = frozenset({"chatCompletionMessage", "messageAdd", "chatCompletionError"})


def _observability(body: bytes, restore: Restore | None, side: str) -> _Normal:
    normal = _Normal()
    content: list[str] = []
    args: list[str] = []
    open_since: int | None = None

    def restored(text: str, json_text: bool = False) -> str:
        return restore(text, json_text) if restore else text

    def whole(container: Any, key: str, base: Path, json_text: bool, sources: dict[Path, str]) -> None:
        if isinstance(container, dict) and isinstance(container.get(key), str) and container[key]:
            sources[(*base, key)] = container[key]
            container[key] = restored(container[key], json_text)

    def close(n: int) -> None:
        nonlocal open_since
        if open_since is None:
            return
        c, a = "".join(content), "".join(args)
        normal.add(
            {"message": {"content": restored(c), "function_call": {"arguments": restored(a, True)}}},
            f"the chatCompletionChunk events of {side} lines {open_since}-{n}, concatenated",
            {("message", "content"): c, ("message", "function_call", "arguments"): a},
        )
        content.clear()
        args.clear()
        open_since = None

    last = 0
    for n, line in _lines(body):
        last = n
        if not line.strip():
            continue
        obj = _loads(line)
        if obj is _NOT_JSON:
            text = _text_of(line)
            normal.add({"line": restored(text)}, f"{side} line {n} (not JSON)")
            continue
        kind = obj.get("type") if isinstance(obj, dict) else None
        message = obj.get("message") if isinstance(obj, dict) else None
        if kind == "chatCompletionChunk" and isinstance(message, dict):
            if open_since is None:
                open_since = n
            if isinstance(message.get("content"), str):
                content.append(message["content"])
            call = message.get("function_call")
            if isinstance(call, dict) and isinstance(call.get("arguments"), str):
                args.append(call["arguments"])
            continue
        sources: dict[Path, str] = {}
        if kind in _ENDS_MESSAGE:
            close(n - 1)
        inner: Any = message
        base: Path = ("message",)
        if kind == "messageAdd" and isinstance(message, dict):
            inner, base = message.get("message"), ("message", "message")
        if kind in ("chatCompletionMessage", "messageAdd") and isinstance(inner, dict):
            role = inner.get("role")
            whole(inner, "content", base, role == "function" or (role == "user" and "name" in inner), sources)
            whole(inner.get("function_call"), "arguments", (*base, "function_call"), True, sources)
            whole(inner, "data", base, True, sources)
        elif kind == "chatCompletionError" and isinstance(obj, dict):
            whole(obj.get("error"), "message", ("error",), False, sources)
        elif kind in ("conversationCreate", "conversationUpdate") and isinstance(obj, dict):
            whole(obj.get("conversation"), "title", ("conversation",), False, sources)
        elif kind == "confirmationRequired" and isinstance(obj, dict):
            whole(obj, "functionCallArguments", (), True, sources)
            whole(obj.get("confirmationConfig"), "message", ("confirmationConfig",), False, sources)
        normal.add(obj, f"{side} line {n} ({kind or 'JSON'})", sources)
    close(last)
    return normal


def _sse_data(body: bytes) -> list[tuple[int, bytes]]:
    """``(line number, value)`` of every ``data:`` line: each is parsed on its own, whether events are separated
    by blank lines or follow each other on single newlines."""
    return [
        (n, line[6:] if line.startswith(b"data: ") else line[5:])
        for n, line in _lines(body)
        if line.startswith(b"data:")
    ]


#: The plain-text fields of an OpenAI chunk's delta (function and tool call arguments are JSON texts).
_DELTA_TEXTS = ("content", "refusal", "reasoning_content", "reasoning")


def _sse_fields(delta: dict[str, Any]) -> list[tuple[tuple[str, Any], Path, str]]:
    """``(hold key, JSON path inside a choice, text)`` for every restored text of a delta."""
    out: list[tuple[tuple[str, Any], Path, str]] = []
    for field in _DELTA_TEXTS:
        if isinstance(delta.get(field), str):
            out.append(((field, 0), ("delta", field), delta[field]))
    call = delta.get("function_call")
    if isinstance(call, dict) and isinstance(call.get("arguments"), str):
        out.append((("function_call", 0), ("delta", "function_call", "arguments"), call["arguments"]))
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        for m, tool in enumerate(calls):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                at = tool.get("index", m)
                out.append((("tool_calls", at), ("delta", "tool_calls", at, "function", "arguments"), fn["arguments"]))
    return out


def _openai(body: bytes, restore: Restore | None, side: str) -> _Normal:
    normal = _Normal()
    open_texts: dict[tuple[Any, tuple[str, Any]], tuple[Path, list[str], int]] = {}

    def close(keep: Callable[[Any], bool], n: int) -> None:
        for key in sorted((k for k in open_texts if keep(k[0])), key=repr):
            sub, parts, since = open_texts.pop(key)
            text = "".join(parts)
            path: Path = ("choices", key[0], *sub)
            normal.add(
                {"text": restore(text, key[1][0] not in _DELTA_TEXTS) if restore else text},
                f"{json_path(path)} of {side} events from line {since} to {n}, concatenated",
                {("text",): text},
            )

    last = 0
    for n, value in _sse_data(body):
        last = n
        if value.strip() == b"[DONE]":
            close(lambda _: True, n)
            normal.add({"done": True}, f"{side} event at line {n} ([DONE])")
            continue
        obj = _loads(value)
        if obj is _NOT_JSON:
            text = _text_of(value)
            normal.add({"data": restore(text, False) if restore else text}, f"{side} event at line {n} (not JSON)")
        elif isinstance(obj, dict) and isinstance(obj.get("choices"), list):
            for m, choice in enumerate(obj["choices"]):
                if not isinstance(choice, dict):
                    continue
                index = choice.get("index", m)
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    for hold, sub, text in _sse_fields(delta):
                        entry = open_texts.setdefault((index, hold), (sub, [], n))
                        entry[1].append(text)
                if choice.get("finish_reason") is not None:
                    close(_is(index), n)
        else:
            if isinstance(obj, dict) and "error" in obj:
                close(lambda _: True, n)
            normal.add(obj, f"{side} event at line {n}")
    close(lambda _: True, last)
    return normal


def _is(index: Any) -> Callable[[Any], bool]:
    return lambda i: bool(i == index)


_PARSERS: dict[str, Callable[[bytes, Restore | None, str], _Normal]] = {
    "security.ndjson": _security,
    "observability.ndjson": _observability,
    "openai.sse": _openai,
}


def _check_lines_parse(fmt: str, body: bytes, out: bytes) -> None:
    """Every line (or event) the stream emitted parses, unless the input held as many that did not."""
    if fmt == "openai.sse":

        def bad(data: bytes) -> list[int]:
            return [n for n, value in _sse_data(data) if value.strip() != b"[DONE]" and _loads(value) is _NOT_JSON]
    else:

        def bad(data: bytes) -> list[int]:
            return [n for n, line in _lines(data) if line.strip() and _loads(line) is _NOT_JSON]

    broken_in, broken_out = bad(body), bad(out)
    if len(broken_out) > len(broken_in):
        n = broken_out[0]
        path = f"line {n}"
        raise StreamMismatchError(f"{fmt}: line {n} of the restored stream is not valid JSON", path=path)
    if body.endswith(b"\n") and out and not out.endswith(b"\n"):
        raise StreamMismatchError(f"{fmt}: the restored stream lost its final line terminator", path="end of stream")


def assert_stream_equals_whole(session: Any, fmt: str, body: bytes, chunks: Sequence[bytes]) -> bytes:
    """Feed ``chunks`` to ``session.stream(fmt)``; check the output, parsed per format, equals restoring ``body``
    whole. Return the stream's output.

    >>> from anonymizer import Anonymizer
    >>> from anonymizer.testing import assert_stream_equals_whole
    >>> session = Anonymizer(tokens="placeholder").session()
    >>> token = session.anonymize_data({"user.name": "jdoe"})["user.name"].encode()
    >>> assert_stream_equals_whole(session, "text", b"hi " + token + b"!", [b"hi <USER", token[5:] + b"!"])
    b'hi jdoe!'

    ``chunks`` must concatenate to ``body`` (see :func:`~anonymizer.testing.chunkings`). The expectation is
    computed by :class:`~anonymizer.restore.Restorer` from ``session.replacements``, not by the session:

    * ``text``: the output is the whole text restored;
    * ``security.ndjson``: the content payloads, concatenated, are the concatenated input payloads restored;
      other lines are unchanged;
    * ``observability.ndjson``: the ``chatCompletionChunk`` texts of each message (``message.content``,
      ``message.function_call.arguments``), concatenated, are the input's restored; ``chatCompletionMessage`` and
      ``messageAdd`` carry their message restored whole (``content``, ``function_call.arguments``, ``data``), as
      do ``chatCompletionError`` (``error.message``), ``conversationCreate``/``conversationUpdate``
      (``conversation.title``) and ``confirmationRequired`` (``functionCallArguments``,
      ``confirmationConfig.message``); other events are unchanged;
    * ``openai.sse``: every ``data:`` line on its own (blank-line or single-newline framing); per choice, the
      ``delta`` texts (``content``, ``refusal``, ``reasoning_content``, ``reasoning``, function and tool call
      ``arguments``), concatenated up to the choice's ``finish_reason``, are the input's restored; ``[DONE]``
      and error events are unchanged.

    JSON texts (arguments, ``data``, a function's answer) are expected with the originals JSON-escaped.

    Every line or event the stream emits must parse (unless the input's did not), and a body ending in a line
    terminator must still end in one. Raises :class:`StreamMismatchError` naming the place (a JSON path within
    the format, a line) and the token there, e.g.
    ``security.ndjson: the content payloads, concatenated ($.payload of every content line): expected 12
    characters, got 11; ..., in or next to the original of token <USER_NAME_1>``.
    """
    if b"".join(chunks) != body:
        raise ConfigError("the chunks do not concatenate to the body")
    restorer = Restorer(session.replacements)
    stream = session.stream(fmt)
    out = b"".join([*(stream.feed(chunk) for chunk in chunks), stream.close()])
    if fmt == "text":
        diff = _first_difference(restorer.restore(_text_of(body)), _text_of(out))
        if diff is not None:
            note, token = _token_note(restorer, _text_of(body), diff)
            raise StreamMismatchError(
                f"text: at $, the restored stream differs from restoring the whole body: {diff.how}{note} "
                f"({_chunks(chunks)})",
                path="$",
                token=token,
            )
        return out
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise ConfigError(f"unknown stream format {fmt!r}")
    _check_lines_parse(fmt, body, out)
    escaping = Restorer({t: json.dumps(o, ensure_ascii=False)[1:-1] for t, o in session.replacements.items()})
    expected = parser(body, lambda text, is_json: (escaping if is_json else restorer).restore(text), "input")
    actual = parser(out, None, "output")
    diff = _first_difference(expected.items, actual.items)
    if diff is None:
        return out
    if not diff.path:
        raise StreamMismatchError(
            f"{fmt}: the restored stream has {len(actual.items)} parts (messages, events, texts), the whole body "
            f"{len(expected.items)} ({_chunks(chunks)})",
            path="$",
        )
    item = diff.path[0]
    assert isinstance(item, int)
    inner = diff.path[1:]
    label = expected.labels[item] if item < len(expected.labels) else f"output part {item}"
    source = expected.sources[item].get(inner) if item < len(expected.sources) else None
    note, token = _token_note(restorer, source, diff) if source is not None else ("", None)
    where = f"{label}, at {json_path(inner)}" if inner and inner[0] != "text" else label
    raise StreamMismatchError(
        f"{fmt}: {where}: {diff.how}{note} ({_chunks(chunks)})",
        path=json_path(inner),
        token=token,
    )


def _chunks(chunks: Sequence[bytes]) -> str:
    """``3 chunks of 5/7/1 bytes``: the chunking of a failing example, without its content."""
    sizes = [len(c) for c in chunks]
    shown = "/".join(str(s) for s in sizes[:8]) + ("/..." if len(sizes) > 8 else "")
    return f"{len(sizes)} chunk{'s' if len(sizes) != 1 else ''} of {shown} bytes"
