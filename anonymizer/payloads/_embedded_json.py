"""Rewrite the string values inside a JSON text without touching anything else of it.

Observability payloads carry JSON *inside* strings (``function_call.arguments``, ``message.data``, a function
response's ``content``). Re-serializing them would change their formatting, so a restored payload would no longer
equal the original. Instead, only the string literals whose value changes are spliced, in place, with correct
JSON escaping; keys, numbers, whitespace and unchanged literals stay byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import orjson

from anonymizer._text import escape_lone_surrogates

__all__ = ["rewrite_json_strings"]

# A JSON string literal (unrolled loop: linear time, no backtracking blow-up). In valid JSON text, quotes only
# occur in string literals, so scanning left to right meets every literal exactly once.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_AFTER_KEY = re.compile(r"[ \t\r\n]*:")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def rewrite_json_strings(text: str, replace: Callable[[str], str]) -> str:
    """Apply ``replace`` to every string *value* in the JSON ``text`` (keys are left alone), keeping formatting.

    Raises :class:`ValueError` when ``text`` is not valid JSON. A literal is rewritten only when its value
    changes; the new literal is escaped in the style of the old one (``\\uXXXX`` for non-ASCII if the old
    literal was pure ASCII but held non-ASCII characters, raw UTF-8 otherwise), so that rewriting there and
    back gives the identical text.

    >>> rewrite_json_strings('{"user": "alice",  "n": 1}', str.upper)
    '{"user": "ALICE",  "n": 1}'
    """
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError("not a JSON text") from None
    out: list[str] = []
    last = 0
    for match in _STRING.finditer(text):
        if _AFTER_KEY.match(text, match.end()):
            continue
        literal = match.group()
        value = _decode(literal)
        new = replace(value)
        if new == value:
            continue
        out.append(text[last : match.start()])
        out.append(_encode(new, ascii_only=_NON_ASCII.search(literal) is None and not value.isascii()))
        last = match.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _decode(literal: str) -> str:
    if "\\" not in literal:
        return literal[1:-1]
    value: str = json.loads(literal)
    return value


def _encode(value: str, *, ascii_only: bool) -> str:
    literal = json.dumps(value, ensure_ascii=ascii_only)
    # A lone surrogate must stay an escape: a raw one would make the text unencodable as UTF-8.
    return escape_lone_surrogates(literal)
