"""Input formats, streaming readers and writers, and the conversations inside a record.

Formats (sniffed from the first non-space bytes and the first record; output keeps the input's format):

* ``ndjson``: one JSON value per line (a conversation, an Elasticsearch hit or ``_source``, or a ``_find`` page).
* ``array``: one JSON array of such values, read element by element (constant memory).
* ``json``: one or more pretty-printed JSON documents one after the other (e.g. a saved ``_find`` response).

A *record* is one top-level value; it holds one conversation, or several for a ``_find`` page. Conversations
in the API form have ``replacements`` as an object; Elasticsearch documents (snake_case, ``@timestamp``) hold
them as ``[{uuid, value}]``; both forms are handled by looking at the value itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import IO, Any, Literal

import orjson

from anonymizer.errors import Issue, PayloadError, ReplacementsError

__all__ = [
    "Format",
    "JsonValues",
    "RecordWriter",
    "apply_patches",
    "conversations_in",
    "diff",
    "dumps",
    "loads",
    "read_records",
    "replacements_of",
    "rebuild_replacements",
    "sniff",
    "string_leaves",
    "text_slots",
]

Format = Literal["ndjson", "array", "json"]
Path = list[str | int]

#: The largest single record read from an array or a JSON document (a guard against a broken file).
MAX_RECORD_CHARS = 256 * 1024 * 1024
_WS = " \t\r\n"


def loads(raw: bytes | str) -> Any:
    """Parse JSON with orjson; integers beyond 64 bits and lone surrogates fall back to the standard library."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise exc from None


def _unreadable(line: int, message: str) -> PayloadError:
    """Why the input cannot be read on from ``line`` (``.line``; the message never quotes the input)."""
    return PayloadError([Issue((), message)], kind="input", line=line)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """Serialize JSON (UTF-8, compact or indented by 2); values orjson cannot write use the standard library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if pretty else 0)
    except TypeError:
        return json.dumps(value, indent=2 if pretty else None, separators=None if pretty else (",", ":")).encode()


def sniff(head: bytes) -> Format:
    """The format of an input from its first bytes (at least the first line when there is one)."""
    text = head.decode("utf-8", "ignore").lstrip(_WS)
    if text.startswith("["):
        return "array"
    first = text.split("\n", 1)[0].rstrip()
    if not first:
        return "ndjson"
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        # A pretty-printed document opens with "{" alone or a line cut after ",", ":" or an opening bracket;
        # anything else is a broken NDJSON line (rejected on its own, the rest goes on).
        if first[-1] in "{[,:" and "\n" in text:
            return "json"
        return "ndjson"
    return "ndjson"


def read_records(stream: IO[bytes], fmt: Format) -> Iterator[tuple[int, bytes | str]]:
    """``(line number, raw text)`` of each record of ``stream``; blank lines of NDJSON are skipped."""
    if fmt == "ndjson":
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line
        return
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict")
    yield from JsonValues(text, array=fmt == "array")


class JsonValues:
    """The top-level values of a JSON array (its elements) or of consecutive JSON documents, one at a time.

    Works on a bounded buffer with :meth:`json.JSONDecoder.raw_decode`: only the value being read is held, so
    memory does not grow with the input. Yields ``(line number, text of the value)``. A structural error raises
    :class:`~anonymizer.errors.PayloadError` whose ``.line`` is where reading stopped.
    """

    def __init__(self, stream: IO[str], *, array: bool, chunk: int = 1 << 16) -> None:
        self._stream = stream
        self._array = array
        self._chunk = chunk
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._line = 1
        self._eof = False

    def _fill(self, at_least: int) -> bool:
        """Read more input; ``False`` at the end of the stream."""
        if self._eof:
            return False
        data = self._stream.read(max(at_least, self._chunk))
        if not data:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def _advance(self, end: int) -> None:
        self._line += self._buf.count("\n", self._pos, end)
        self._pos = end

    def _peek(self) -> str:
        """The next non-space character ('' at the end), consuming the spaces before it."""
        while True:
            buf, pos = self._buf, self._pos
            n = len(buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self._advance(pos)
            if pos < n:
                return buf[pos]
            if not self._fill(0):
                return ""

    def _value(self) -> tuple[int, str]:
        line = self._line
        want = self._chunk
        while True:
            try:
                _, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError:
                end = -1
            except RecursionError:
                raise _unreadable(line, "value nested too deeply") from None
            # A value ending exactly at the end of the buffer may be cut (a number): read on to be sure.
            if (end < 0 or end == len(self._buf)) and self._fill(want):
                want *= 2
                if len(self._buf) > MAX_RECORD_CHARS:
                    raise _unreadable(line, f"a record is larger than {MAX_RECORD_CHARS} characters")
                continue
            if end < 0:
                raise _unreadable(line, "invalid JSON")
            text = self._buf[self._pos : end]
            self._advance(end)
            return line, text

    def __iter__(self) -> Iterator[tuple[int, str]]:
        if not self._array:
            while self._peek():
                yield self._value()
            return
        if self._peek() != "[":
            raise _unreadable(self._line, "expected a JSON array")
        self._advance(self._pos + 1)
        first = True
        while True:
            ch = self._peek()
            if ch == "]":
                self._advance(self._pos + 1)
                break
            if not first:
                if ch != ",":
                    raise _unreadable(self._line, "expected ',' or ']' in the array")
                self._advance(self._pos + 1)
                if not self._peek():
                    raise _unreadable(self._line, "the array is not closed")
            elif not ch:
                raise _unreadable(self._line, "the array is not closed")
            first = False
            yield self._value()
        if self._peek():
            raise _unreadable(self._line, "unexpected data after the array")


class RecordWriter:
    """Writes records (serialized JSON) in the input's format: NDJSON lines, one array, or documents."""

    def __init__(self, out: IO[bytes], fmt: Format) -> None:
        self._out = out
        self._fmt = fmt
        self._count = 0

    def write(self, record: bytes) -> None:
        """Append one record."""
        if self._fmt == "array":
            self._out.write(b"[\n" if self._count == 0 else b",\n")
        self._out.write(record)
        if self._fmt != "array":
            self._out.write(b"\n")
        self._count += 1

    def close(self) -> None:
        """Finish the output (closes the array)."""
        if self._fmt == "array":
            self._out.write(b"\n]\n" if self._count else b"[]\n")


# --- conversations inside a record ---------------------------------------------------------------------------


def conversations_in(record: Any) -> list[tuple[Path, dict[str, Any], str | None]]:
    """``(path, conversation, id)`` of each conversation of a record: itself, a hit's ``_source``, a page's data."""
    if not isinstance(record, dict):
        raise PayloadError([Issue((), "Expected object")], kind="record")
    source = record.get("_source")
    if isinstance(source, dict):
        ident = source.get("id", record.get("_id"))
        return [(["_source"], source, ident if isinstance(ident, str) else None)]
    data = record.get("data")
    if isinstance(data, list) and ("perPage" in record or "page" in record or "total" in record):
        out: list[tuple[Path, dict[str, Any], str | None]] = []
        for i, conv in enumerate(data):
            if not isinstance(conv, dict):
                raise PayloadError([Issue(("data", i), "Expected object")], kind="conversation.find")
            ident = conv.get("id")
            out.append((["data", i], conv, ident if isinstance(ident, str) else None))
        return out
    ident = record.get("id")
    return [([], record, ident if isinstance(ident, str) else None)]


def replacements_of(conv: dict[str, Any]) -> tuple[dict[str, str], str, int, int]:
    """A conversation's map (token -> original), its form (``object``/``list``/``absent``), key position, size."""
    if "replacements" not in conv:
        return {}, "absent", -1, 0
    position = list(conv).index("replacements")
    value = conv["replacements"]
    if isinstance(value, dict):
        return value, "object", position, len(value)
    if not isinstance(value, list):
        raise PayloadError([Issue(("replacements",), "Expected object or array")], kind="conversation")
    mapping: dict[str, str] = {}
    for i, item in enumerate(value):
        if not (isinstance(item, dict) and isinstance(item.get("uuid"), str) and isinstance(item.get("value"), str)):
            raise PayloadError([Issue(("replacements", i), "Expected {uuid, value} strings")], kind="conversation")
        if mapping.setdefault(item["uuid"], item["value"]) != item["value"]:
            raise ReplacementsError(f"replacements[{i}]: the token is bound to two originals")
    return mapping, "list", position, len(value)


def rebuild_replacements(conv: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """``conv`` with its ``replacements`` put back in the form and at the key position it had."""
    form = entry.get("form")
    if form not in ("object", "list"):
        return conv
    items = list(entry["replacements"].items())[: entry.get("count", 0)]
    value: Any = dict(items) if form == "object" else [{"uuid": t, "value": v} for t, v in items]
    pairs = [(k, v) for k, v in conv.items() if k != "replacements"]
    pairs.insert(min(max(entry.get("position", 0), 0), len(pairs)), ("replacements", value))
    return dict(pairs)


def text_slots(conv: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    """The free-text parts of a conversation: ``title``, each message ``content``, ``summary.content``."""
    title = conv.get("title")
    if isinstance(title, str):
        yield ["title"], title
    messages = conv.get("messages")
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                yield ["messages", i, "content"], message["content"]
    summary = conv.get("summary")
    if isinstance(summary, dict) and isinstance(summary.get("content"), str):
        yield ["summary", "content"], summary["content"]


def string_leaves(value: Any, path: Path | None = None) -> Iterator[tuple[Path, str]]:
    """Every string value of a JSON value with its path (keys are not included)."""
    path = path or []
    stack: list[tuple[Path, Any]] = [(path, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, dict):
            stack.extend(([*where, k], v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(([*where, i], v) for i, v in reversed(list(enumerate(node))))


# --- exact restore: patches ----------------------------------------------------------------------------------


def diff(original: Any, restored: Any, path: Path | None = None, out: list[list[Any]] | None = None) -> list[list[Any]]:
    """The patches that turn ``restored`` into ``original``: ``["set", path, value]`` and ``["del", path]``."""
    path = path or []
    out = [] if out is None else out
    if type(original) is not type(restored):
        out.append(["set", path, original])
    elif isinstance(original, dict):
        for key, value in original.items():
            if key in restored:
                diff(value, restored[key], [*path, key], out)
            else:
                out.append(["set", [*path, key], value])
        out.extend(["del", [*path, key]] for key in restored if key not in original)
    elif isinstance(original, list):
        if len(original) != len(restored):
            out.append(["set", path, original])
        else:
            for i, (a, b) in enumerate(zip(original, restored, strict=True)):
                diff(a, b, [*path, i], out)
    elif original != restored:
        out.append(["set", path, original])
    return out


def apply_patches(value: Any, patches: list[list[Any]]) -> Any:
    """Apply :func:`diff` patches to ``value`` (in place where possible); returns the patched value."""
    for patch in patches:
        op, path = patch[0], patch[1]
        if not path:
            if op == "set":
                value = patch[2]
            continue
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        if op == "set":
            parent[path[-1]] = patch[2]
        else:
            del parent[path[-1]]
    return value
