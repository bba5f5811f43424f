"""Hostile input through the engine: surrogates, NUL, RTL marks, huge and many values, look-alike tokens."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy, PayloadError
from tests.tagless import untag

EVERYTHING = FieldPolicy.anonymize_all()
KEEP_MESSAGE = FieldPolicy.from_fields([{"field": "message", "allowed": True}], unknown="anonymize")


@pytest.mark.parametrize("tokens", ["uuid", "placeholder", "mask"])
def test_lone_surrogates_and_nul_round_trip(tokens: str) -> None:
    """Originals and texts with lone surrogates, NUL and RTL marks are hidden and restored exactly."""
    session = Anonymizer(policy=KEEP_MESSAGE, tokens=tokens).session()
    hostile = ["ab\ud800cd", "nul\x00byte", "\u202eevil\u202c", "zero\u200bwidth"]
    data = {"user": {"name": hostile}, "message": " | ".join(hostile)}
    out = session.anonymize_data(data)
    text = "\n".join([out["message"], *out["user"]["name"]])
    for value in hostile:
        assert value not in text
    assert session.deanonymize_obj(out) == data
    answer = " ".join(out["user"]["name"])
    assert session.deanonymize(answer) == " ".join(hostile)


def test_values_that_look_like_tokens_are_tokenized_like_any_value() -> None:
    """A value shaped like a token gets its own token and comes back as the same literal text."""
    session = Anonymizer(policy=EVERYTHING, tokens="placeholder").session()
    first = session.anonymize_data({"user.name": "jdoe"})["user.name"]
    assert untag(first) == "<USER_NAME_1>"
    for lookalike in (first, "<USER_NAME_1>"):
        out = session.anonymize_data({"user.name": lookalike})
        assert out["user.name"] != first
        assert session.deanonymize_obj(out) == {"user.name": lookalike}


def test_originals_that_are_substrings_of_each_other() -> None:
    """The longest original wins at a position; shorter ones inside it are not split out."""
    session = Anonymizer(policy=KEEP_MESSAGE, tokens="placeholder").session()
    data = {"user.name": ["admin", "administrator", "admin-backup"], "message": "administrator and admin-backup, admin"}
    out = session.anonymize_data(data)
    assert untag(out["message"]) == "<USER_NAME_2> and <USER_NAME_3>, <USER_NAME_1>"
    assert session.deanonymize_obj(out) == data


def test_huge_string_value_is_handled() -> None:
    """A 5 MB passed-through string is scanned and restored without trouble."""
    session = Anonymizer(policy=KEEP_MESSAGE, tokens="uuid").session()
    blob = ("lorem ipsum jdoe dolor " * 230_000)[:5_000_000]
    out = session.anonymize_data({"user.name": "jdoe", "message": blob})
    assert "jdoe" not in out["message"]
    assert session.deanonymize(out["message"]) == blob


def test_many_fields() -> None:
    """Ten thousand fields in one message: every one tokenized, one token per distinct value."""
    session = Anonymizer(policy=EVERYTHING, tokens="placeholder").session()
    data = {f"labels.f{i}": f"value-{i % 500}" for i in range(10_000)}
    out = session.anonymize_data(data)
    assert len(session.replacements) == 500
    assert session.deanonymize_obj(out) == data


def test_deep_nesting_raises_payload_error_not_recursion_error() -> None:
    """10,000 levels of nesting give PayloadError."""
    data: dict[str, object] = {"leaf": "x"}
    for _ in range(10_000):
        data = {"n": data}
    with pytest.raises(PayloadError):
        Anonymizer(policy=EVERYTHING).session().anonymize_data(data)


@given(st.text(min_size=1, max_size=40), st.text(max_size=200))
@settings(max_examples=150)
def test_any_unicode_original_round_trips(original: str, around: str) -> None:
    """Any original (any code points, surrogates included) in any text restores exactly."""
    session = Anonymizer(policy=KEEP_MESSAGE, tokens="uuid").session()
    data = {"user.name": original, "message": around + original + around}
    out = session.anonymize_data(data)
    assert session.deanonymize_obj(out) == data
    assert out["user.name"] != original


def test_replacements_never_echo_values_in_errors() -> None:
    """A malformed stored map raises without quoting the original."""
    from anonymizer import ReplacementsError

    with pytest.raises(ReplacementsError) as err:
        Anonymizer().session({"tok": 12345})  # type: ignore[dict-item]
    assert "12345" not in str(err.value)


def test_output_is_json_serializable() -> None:
    """What anonymize_data returns always serializes to JSON."""
    session = Anonymizer(policy=EVERYTHING).session()
    out = session.anonymize_data({"a": 1.5, "b": [True, None, {"c": "x"}], "d": (1, 2)})
    json.dumps(out)
    assert session.deanonymize_obj(out) == {"a": 1.5, "b": [True, None, {"c": "x"}], "d": [1, 2]}
