"""anonymizer.restore: one literal pass, altered and unknown tokens, piecewise restore for streams."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy, Restorer
from anonymizer.restore import replace_literal, token_spans
from anonymizer.tokens import MASK_PATTERN, PLACEHOLDER_PATTERN, UUID_PATTERN

U1 = "0b6f1c3e-3f5a-4c3e-9d7a-0e6b1f2a3b4c"
U2 = "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
MAP = {
    U1: "alice",
    U2: "bob",
    "<USER_NAME_1>": "jdoe",
    "<USER_NAME_10>": "root",
    "HOST_NAME_" + "a" * 40: "srv",
    "tok-9": "foreign",
}


def test_exact_tokens_are_restored_literally_in_one_pass() -> None:
    """No $-expansion, no chaining: what is inserted is never searched again."""
    r = Restorer({"tok-a": "a$$b $& tok-b", "tok-b": "never"})
    assert r.restore("x tok-a y") == "x a$$b $& tok-b y"


def test_longest_token_wins_at_a_position() -> None:
    """<USER_NAME_10> is not read as <USER_NAME_1> followed by 0."""
    assert Restorer(MAP).restore("<USER_NAME_10> <USER_NAME_1>") == "root jdoe"


def test_altered_tokens_are_restored_when_unambiguous() -> None:
    """Case changed, hyphens dropped, brackets lost or swapped: restored and reported as altered."""
    r = Restorer(MAP)
    text = f"{U1.upper()} {U2.replace('-', '')} USER_NAME_1 [USER_NAME_1] {{user_name_10}} host_name_{'a' * 40}"
    result = r.restore_with_report(text)
    assert result.text == "alice bob jdoe jdoe root srv"
    assert result.report.altered == 6
    assert result.report.restored == 6


def test_altered_forms_must_stand_alone() -> None:
    """A bare name glued to word characters (user_name_1x, xuser_name_1) is not a token."""
    r = Restorer(MAP)
    assert r.restore("user_name_1x xuser_name_1 USER_NAME_100") == "user_name_1x xuser_name_1 USER_NAME_100"


def test_ambiguous_altered_token_is_left_and_reported() -> None:
    """An altered form that fits two tokens is not restored; the report says ambiguous."""
    r = Restorer({"<PERSON_1>": "alice", "<Person_1>": "bob"})
    result = r.restore_with_report("ask person_1")
    assert result.text == "ask person_1"
    assert result.report.ambiguous == 1


def test_unknown_tokens_are_left_and_reported_without_originals() -> None:
    """Token-shaped strings not in the map stay; the report holds positions and found text only."""
    r = Restorer(MAP)
    other = str(uuid.UUID(int=7, version=4))
    result = r.restore_with_report(f"{U1} and {other} and <USER_NAME_7>")
    assert result.text == f"alice and {other} and <USER_NAME_7>"
    assert result.report.unknown == 2
    assert "alice" not in repr(result.report)
    assert result.report.as_dict()["unknown"] == 2


def test_exact_only_restorer_ignores_altered_forms() -> None:
    """altered=False keeps Kibana's literal semantics."""
    assert Restorer(MAP, altered=False).restore(f"{U1.upper()} {U1}") == f"{U1.upper()} alice"


def test_replace_literal_is_leftmost_longest() -> None:
    """The helper behind Kibana's re-anonymization: leftmost, then longest, literal."""
    assert replace_literal("foobar foo f.o", {"foo": "1", "foobar": "2", "f.o": "3"}) == "2 1 3"


MASK = "HOST_NAME_" + "a" * 40
TOKENS = st.sampled_from(
    [U1, U1.upper(), U1.replace("-", ""), U2, "<USER_NAME_1>", "USER_NAME_1", "[USER_NAME_10]", MASK, MASK.lower()]
)
FILLER = st.sampled_from([" ", "a", "deadbeef", "-", "_", "x1", "<", "[", "]", "\n", "é", "0", "tok-", "9", "İ"])


@given(parts=st.lists(st.one_of(TOKENS, FILLER), max_size=30), cuts=st.lists(st.integers(1, 9), max_size=60))
@settings(max_examples=300)
def test_piecewise_restore_equals_whole(parts: list[str], cuts: list[int]) -> None:
    """restore_prefix piece by piece, then restore of the rest, equals restoring the whole text."""
    r = Restorer(MAP)
    text = "".join(parts)
    out: list[str] = []
    buf, before, i = "", "", 0
    sizes = iter(cuts)
    while i < len(text):
        step = next(sizes, 7)
        buf += text[i : i + step]
        i += step
        restored, consumed = r.restore_prefix(buf, before=before)
        out.append(restored)
        assert len(buf) - consumed < r.max_token_length  # the hold-back bound
        if consumed:
            before = buf[consumed - 1]
        buf = buf[consumed:]
    out.append(r.restore(buf, before=before))
    assert "".join(out) == r.restore(text)


@given(text=st.text())
@settings(max_examples=200)
def test_text_without_tokens_is_unchanged_and_cost_is_not_per_token(text: str) -> None:
    """A restorer over 2,000 tokens leaves token-free text untouched."""
    session = Anonymizer(policy=FieldPolicy.anonymize_all()).session()
    for i in range(2000):
        session.token_for(f"value-{i}")
    r = session.restorer
    if not any(t in text for t in session.replacements):
        assert r.restore(text) == text


@pytest.mark.parametrize("tokens", ["mask", "placeholder", "uuid"])
@pytest.mark.parametrize("shape", ["[{}]", "[{lower}]", "{{{bare}}}", "[{bare}]", "<{bare_lower}>", "[<{bare_lower}>]"])
def test_brackets_belong_to_a_token_only_when_its_own_form_has_them(tokens: str, shape: str) -> None:
    """Brackets are consumed only around a bare placeholder name; the stream restores exactly like the whole text."""
    session = Anonymizer(tokens=tokens, key=b"k" * 32).session()
    token = session.anonymize_data({"user.name": "jdoe"})["user.name"]
    bare = token.strip("<>")
    text = shape.format(token, lower=token.lower(), bare=bare, bare_lower=bare.lower())
    whole = session.deanonymize(text)
    stream = session.stream("text")
    pieces = b"".join(stream.feed(bytes([byte])) for byte in text.encode()) + stream.close()
    assert pieces.decode() == whole
    if not token.startswith("<") or shape.startswith("[<"):
        assert whole[0] == text[0] and whole[-1] == text[-1]  # the text's own brackets stay


# The definition token_spans() must agree with: one regex tried at every position of the text.
_OTHER_SHAPES = rf"{PLACEHOLDER_PATTERN}|(?<![0-9A-Za-z_]){MASK_PATTERN}(?![0-9A-Za-z_])"
_ALL_SHAPES = re.compile(rf"(?<![0-9A-Za-z]){UUID_PATTERN}(?![0-9A-Za-z])|{_OTHER_SHAPES}")
_SHAPE_PIECES = [
    *"<>_-AZGx 09faF\n",
    "é",
    "<USER_1>",
    "<HOST_NAME_2_K7Q2X5>",
    "HOST_",
    "deadbeef",
    "0123456789abcdef",
    "-4a3f-",
    "12345678-1234-1234-1234-123456789abc",
]


@settings(max_examples=400)
@given(pieces=st.lists(st.sampled_from(_SHAPE_PIECES), max_size=30), data=st.data())
def test_property_token_spans_match_the_shapes_regex(pieces: list[str], data: st.DataObject) -> None:
    """token_spans() finds exactly the token-shaped strings one regex over the whole text finds (from any start),
    though it only searches around "<" and runs of 32 hex digits."""
    text = "".join(pieces)
    pos = data.draw(st.integers(0, len(text)))
    assert token_spans(text, pos) == [m.span() for m in _ALL_SHAPES.finditer(text, pos)]
    other = re.compile(_OTHER_SHAPES)
    assert token_spans(text, pos, uuids=False) == [m.span() for m in other.finditer(text, pos)]


def test_token_spans_finds_shapes_glued_across_hex_runs() -> None:
    """A mask whose label follows a UUID-like run after a hyphen, and shapes next to each other, are all found."""
    u = "12345678-1234-1234-1234-123456789abc"
    mask = "HOST_NAME_" + "0123456789abcdef" * 2
    text = f"{u} {mask}-{u}<USER_NAME_1>{mask}"
    assert token_spans(text) == [m.span() for m in _ALL_SHAPES.finditer(text)]
    assert len(token_spans(text)) == 5
