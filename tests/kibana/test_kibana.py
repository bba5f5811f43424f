"""Properties and edge cases of :mod:`anonymizer.kibana` (Kibana's own cases are in test_kibana_cases.py)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from anonymizer import kibana
from anonymizer.errors import PayloadError, PolicyError

# Characters that never occur in a canonical lowercase uuid, so no text made of them contains a token.
NOT_IN_UUID = st.characters(blacklist_characters="0123456789abcdef-", blacklist_categories=["Cs"])
originals = st.text(NOT_IN_UUID, min_size=1, max_size=8)
tokens = st.uuids().map(str)


def test_all_is_curated() -> None:
    """The public names are exactly these, sorted."""
    assert kibana.__all__ == sorted(kibana.__all__)
    assert set(kibana.__all__) == {
        "RawData",
        "Replacements",
        "TokenGenerator",
        "chat_complete_messages",
        "default_anonymization_fields",
        "get_anonymized_data",
        "get_anonymized_value",
        "get_anonymized_values",
        "get_csv_from_data",
        "get_is_data_anonymizable",
        "is_allowed",
        "is_anonymized",
        "is_denied",
        "js_string",
        "legacy_anonymization_fields",
        "replace_anonymized_values_with_original_values",
        "replace_original_values_with_uuid_values",
        "transform_raw_data",
    }


# ---------------------------------------------------------------------------------------------------- round trip


@given(
    st.lists(st.tuples(tokens, originals), min_size=1, max_size=8, unique_by=lambda pair: pair[0]),
    st.lists(st.one_of(originals, st.text(NOT_IN_UUID, max_size=5)), max_size=12),
    st.randoms(use_true_random=False),
)
def test_reanonymize_then_restore_is_identity(
    pairs: list[tuple[str, str]], filler: list[str], rnd: random.Random
) -> None:
    """Originals -> uuid tokens -> originals gives back the text, whatever the overlaps between originals."""
    replacements = dict(pairs)
    pieces = [original for _, original in pairs] + filler
    rnd.shuffle(pieces)
    text = "".join(pieces)
    hidden = kibana.replace_original_values_with_uuid_values(text, replacements)
    assert kibana.replace_anonymized_values_with_original_values(hidden, replacements) == text


@given(st.dictionaries(tokens, st.text(NOT_IN_UUID.filter(lambda c: c != " "), min_size=1), min_size=1, max_size=6))
def test_reanonymize_hides_every_whole_original(replacements: dict[str, str]) -> None:
    """Originals separated by spaces each become the first token mapped to them."""
    text = " ".join(replacements.values())
    hidden = kibana.replace_original_values_with_uuid_values(text, replacements)
    first_token: dict[str, str] = {}
    for token, original in replacements.items():
        first_token.setdefault(original, token)
    assert hidden.split(" ") == [first_token[original] for original in replacements.values()]


@given(st.text(), st.dictionaries(tokens, st.text(min_size=1), max_size=5))
def test_restore_leaves_text_without_tokens_unchanged(text: str, replacements: dict[str, str]) -> None:
    """Restoring text that holds no token changes nothing (no $ expansion, no empty-token insertion)."""
    assume(not any(token in text for token in replacements))
    assert kibana.replace_anonymized_values_with_original_values(text, replacements) == text


@given(st.text(), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=6))
def test_restore_is_one_leftmost_longest_pass(text: str, replacements: dict[str, str]) -> None:
    """Restoring equals a reference one-pass, leftmost-longest scan (lone surrogates included)."""
    expected, i = [], 0
    keys = sorted((k for k in replacements if k), key=len, reverse=True)
    while i < len(text):
        hit = next((k for k in keys if text.startswith(k, i)), None)
        if hit is None:
            expected.append(text[i])
            i += 1
        else:
            expected.append(replacements[hit])
            i += len(hit)
    assert kibana.replace_anonymized_values_with_original_values(text, replacements) == "".join(expected)


# ---------------------------------------------------------------------------------------------------- CSV


keys_without_newline = st.text(st.characters(blacklist_characters="\n\r"), max_size=6)
values_without_newline = st.lists(st.text(st.characters(blacklist_characters="\n"), max_size=5), max_size=4)


@given(st.dictionaries(keys_without_newline, values_without_newline, max_size=8))
def test_csv_has_one_line_per_key(data: dict[str, list[str]]) -> None:
    """Without newlines in keys or values, the CSV has exactly one line per key, in UTF-16 key order."""
    csv = kibana.get_csv_from_data(data)
    lines = csv.split("\n") if csv else []
    assert len(lines) == len(data)
    order = sorted(data, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
    for key, line in zip(order, lines, strict=True):
        assert line == key + "," + ",".join(data[key])


def test_csv_sorts_astral_before_high_bmp() -> None:
    """Key order follows UTF-16 code units, not code points: an emoji sorts before U+FF5E."""
    assert kibana.get_csv_from_data({"\uff5e": ["a"], "\U0001f600": ["b"], "z": []}) == "z,\n\U0001f600,b\n\uff5e,a"


# ---------------------------------------------------------------------------------------------------- js_string


@given(st.integers())
def test_js_string_of_int_is_json(value: int) -> None:
    """An int is written in decimal, as JSON writes it."""
    assert kibana.js_string(value) == json.dumps(value)


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_js_string_of_integral_float_is_json_of_the_int(value: int) -> None:
    """An integral float within 2**53 prints like the integer (14.0 -> "14"), as JavaScript does."""
    assert kibana.js_string(float(value)) == json.dumps(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_string_of_float_round_trips(value: float) -> None:
    """JavaScript's number text parses back to the same float, and never has a trailing '.0'."""
    text = kibana.js_string(value)
    assert float(text) == value
    assert not text.endswith(".0")
    assert "e" not in text or abs(value) >= 1e21 or abs(value) < 1e-6


@given(st.recursive(st.none() | st.text(",", max_size=0) | st.text("xy", max_size=2), st.lists, max_leaves=8))
def test_js_string_of_nested_list_matches_flattened_join(value: object) -> None:
    """Nested arrays join recursively, with null elements as empty strings."""

    def flat(v: object) -> str:
        if isinstance(v, list):
            return ",".join(flat(x) for x in v)
        return "" if v is None else str(v)

    if isinstance(value, list):
        assert kibana.js_string(value) == flat(value)
    else:
        assert kibana.js_string(value) == ("null" if value is None else value)


def test_js_string_rejects_other_types_without_the_value() -> None:
    """A value that is not JSON-like is refused with its type, not its content."""
    with pytest.raises(TypeError, match="bytes") as caught:
        kibana.js_string(b"secret")
    assert "secret" not in str(caught.value)


# ---------------------------------------------------------------------------------------------------- tokens


def test_default_generator_makes_lowercase_uuid4() -> None:
    """A new token is a canonical lowercase uuid4."""
    token = kibana.get_anonymized_value(current_replacements=None, raw_value="alice")
    assert str(uuid.UUID(token)) == token
    assert uuid.UUID(token).version == 4


fields_ab = [
    {"field": "a", "allowed": True, "anonymized": True},
    {"field": "b", "allowed": True, "anonymized": True},
    {"field": "c", "allowed": True, "anonymized": False},
]
scalars = st.one_of(st.text(max_size=4), st.integers(-3, 3), st.booleans(), st.none(), st.floats(0, 3))


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.lists(scalars, max_size=4)))
def test_one_token_per_original_and_replacements_invert_data(raw: dict[str, list[object]]) -> None:
    """Default generator: each distinct original gets one token (deviation 1), and the map inverts the data."""
    data, replacements = kibana.get_anonymized_data(
        raw_data=raw, anonymization_fields=fields_ab, current_replacements={}
    )
    assert set(data) == set(raw) - {"d"}
    assert len(set(replacements.values())) == len(replacements)
    for field, values in data.items():
        strings = [kibana.js_string(v) for v in raw[field]]
        if field == "c":
            assert values == strings
        else:
            assert [replacements[t] for t in values] == strings


def test_generator_sees_tokens_made_earlier_in_the_call() -> None:
    """The generator gets the caller's map plus the call's own tokens, and the caller's map is not mutated."""
    seen: list[dict[str, str]] = []

    def generator(*, current_replacements: object, raw_value: str) -> str:
        assert isinstance(current_replacements, dict)
        seen.append(dict(current_replacements))
        return f"T{len(seen)}"

    current = {"T0": "zero"}
    kibana.get_anonymized_data(
        raw_data={"a": ["x"], "b": ["y"]},
        anonymization_fields=fields_ab,
        current_replacements=current,
        get_anonymized_value=generator,
    )
    assert seen == [{"T0": "zero"}, {"T0": "zero", "T1": "x"}]
    assert current == {"T0": "zero"}


def test_transform_calls_back_once_per_call() -> None:
    """on_new_replacements runs exactly once for object data, with the call's replacements."""
    calls: list[dict[str, str]] = []
    csv = kibana.transform_raw_data(
        raw_data={"a": ["x", "x"], "b": []},
        anonymization_fields=fields_ab,
        current_replacements=None,
        on_new_replacements=calls.append,
    )
    assert len(calls) == 1
    ((token, original),) = calls[0].items()
    assert original == "x"
    assert csv == f"a,{token},{token}\nb,"


def test_raw_data_field_must_be_a_list() -> None:
    """A scalar where a list of values is expected is a PayloadError naming the field, not the value."""
    with pytest.raises(PayloadError) as caught:
        kibana.get_anonymized_data(
            raw_data={"a": "secret-user"}, anonymization_fields=fields_ab, current_replacements={}
        )
    assert "$.a" in str(caught.value)
    assert "secret-user" not in str(caught.value)


# ---------------------------------------------------------------------------------------------------- fields


@dataclass
class Entry:
    field: str
    allowed: bool | None = None
    anonymized: bool | None = None


@pytest.mark.parametrize(
    "entries",
    [
        [Entry("u", True, True)],
        [SimpleNamespace(field="u", allowed=True, anonymized=True)],
        [{"field": "u", "allowed": True, "anonymized": True, "id": "x", "namespace": "default"}],
    ],
)
def test_entries_may_be_dicts_or_objects(entries: list[object]) -> None:
    """Anonymization fields are read from mappings or from attributes, extra keys ignored."""
    assert kibana.is_allowed("u", entries)
    assert kibana.is_anonymized("u", entries)
    assert not kibana.is_denied("u", entries)
    assert not kibana.is_allowed("U", entries)


def test_missing_attribute_flags_count_as_false() -> None:
    """An object without allowed/anonymized attributes neither allows nor anonymizes."""
    entry = SimpleNamespace(field="u")
    assert kibana.is_denied("u", [entry])
    assert not kibana.is_anonymized("u", [entry])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"field": "u"}, "$: expected a list of anonymization fields"),
        ("u", "$: expected a list of anonymization fields"),
        ([7], "$[0]: expected an anonymization field with a 'field' key or attribute"),
        ([{"field": "u"}, {"field": "v", "anonymized": "secret-flag"}], "$[1].anonymized: expected a boolean, got str"),
        ([{"allowed": True}], "$[0].field: required"),
    ],
)
def test_malformed_fields_raise_policy_error_with_path(fields: object, message: str) -> None:
    """A malformed anonymization-field list is a PolicyError naming the position and never the value."""
    with pytest.raises(PolicyError) as caught:
        kibana.is_allowed("u", fields)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert "secret" not in str(caught.value)


def test_default_fields_are_fresh_and_match_kibana() -> None:
    """Each call returns new dicts; 114 fields, all allowed, five anonymized, no duplicates."""
    first = kibana.default_anonymization_fields()
    first[0]["allowed"] = False
    first.append({"field": "extra"})
    second = kibana.default_anonymization_fields()
    assert len(second) == 114
    assert len({e["field"] for e in second}) == 114
    assert all(e["allowed"] is True for e in second)
    assert {e["field"] for e in second if e["anonymized"]} == {
        "cloud.account.name",
        "entity.name",
        "host.name",
        "user.name",
        "user.target.name",
    }
    assert "host.ip" not in {e["field"] for e in second}
    assert second[0] == {"field": "_id", "allowed": True, "anonymized": False}


def test_legacy_fields_match_kibana_8_14() -> None:
    """The legacy list has 66 fields, all allowed, 12 anonymized, _id among them."""
    legacy = kibana.legacy_anonymization_fields()
    assert len(legacy) == 66
    assert sum(bool(e["anonymized"]) for e in legacy) == 12
    assert legacy[0] == {"field": "_id", "allowed": True, "anonymized": True}
