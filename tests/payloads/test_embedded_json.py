"""rewrite_json_strings: only changed string values are spliced; formatting, keys and escapes stay valid."""

from __future__ import annotations

import json
import string
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from anonymizer.payloads import rewrite_json_strings


def _swap(a: str, b: str) -> tuple[Any, Any]:
    return (lambda s: s.replace(a, b)), (lambda s: s.replace(b, a))


def test_formatting_and_keys_are_kept() -> None:
    """Whitespace, key order, numbers and keys (even one equal to a value) survive byte for byte."""
    text = '{\n  "alice" : "alice",\t"n": 1.50, "l": [ "alice" , true ]\n}'
    assert rewrite_json_strings(text, lambda s: s.replace("alice", "TOK")) == (
        '{\n  "alice" : "TOK",\t"n": 1.50, "l": [ "TOK" , true ]\n}'
    )


def test_inserted_values_are_escaped() -> None:
    """A replacement holding quotes, backslashes and control characters yields valid JSON with that value."""
    text = '{"a": "x"}'
    out = rewrite_json_strings(text, lambda s: 'q"\\\n\x01' if s == "x" else s)
    assert json.loads(out) == {"a": 'q"\\\n\x01'}


def test_unchanged_literals_keep_their_escapes() -> None:
    """A literal whose value does not change keeps its original spelling (``\\u0061`` stays)."""
    text = '["\\u0061b", "cd"]'
    assert rewrite_json_strings(text, lambda s: s.replace("cd", "X")) == '["\\u0061b", "X"]'


def test_ascii_escaped_style_is_followed() -> None:
    """A literal written with ``\\uXXXX`` escapes for non-ASCII gets the new value in the same style."""
    text = json.dumps({"k": "café alice"})  # ensure_ascii: "caf\u00e9 alice"
    out = rewrite_json_strings(text, lambda s: s.replace("alice", "bob"))
    assert out == json.dumps({"k": "café bob"})
    assert rewrite_json_strings(out, lambda s: s.replace("bob", "alice")) == text


def test_top_level_string_is_a_value() -> None:
    """A JSON text that is just a string literal is rewritten as a value."""
    assert rewrite_json_strings('"alice"', str.upper) == '"ALICE"'


@pytest.mark.parametrize("text", ["", "alice", "{'a': 1}", '{"a": }', '"\\ud800"', "[1,]"])
def test_invalid_json_raises_value_error(text: str) -> None:
    """Text that is not strict JSON raises ValueError (the adapter then falls back to text handling)."""
    with pytest.raises(ValueError):
        rewrite_json_strings(text, str.upper)


def test_lone_surrogate_replacement_stays_escaped() -> None:
    """A replacement with a lone surrogate is written as a ``\\ud800`` escape, so the text stays UTF-8-safe."""
    out = rewrite_json_strings('["x"]', lambda s: "\ud800")
    assert out == '["\\ud800"]'


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
    max_leaves=20,
)
_words = st.text(string.ascii_lowercase, min_size=4, max_size=8)


@settings(max_examples=200, deadline=None)
@given(_json_values, st.sampled_from([None, 0, 2]), st.booleans(), _words, _words)
def test_round_trip_gives_back_the_identical_text(
    value: Any, indent: int | None, ascii_only: bool, original: str, token: str
) -> None:
    """Rewriting original->token then token->original returns the exact text, valid JSON at every step."""
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    forward, back = _swap(original, token)
    leaves: list[str] = []
    _leafwise(value, leaves.append)
    assume(original != token and all(back(forward(s)) == s for s in leaves))
    hidden = rewrite_json_strings(text, forward)
    hidden_leaves: list[str] = []
    _leafwise(orjson.loads(hidden), hidden_leaves.append)
    assert not any(original in leaf for leaf in hidden_leaves)
    assert rewrite_json_strings(hidden, back) == text


@settings(max_examples=200, deadline=None)
@given(_json_values, st.sampled_from([None, 2]), st.booleans())
def test_parsed_result_equals_leafwise_transform(value: Any, indent: int | None, ascii_only: bool) -> None:
    """The rewritten text parses to the value with ``replace`` applied to every string value (keys untouched)."""
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    out = rewrite_json_strings(text, lambda s: s[::-1] + 'é"')
    assert json.loads(out) == _leafwise(value, lambda s: s[::-1] + 'é"')


def _leafwise(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_leafwise(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _leafwise(v, fn) for k, v in value.items()}
    return value
