"""Token strategies (Kibana's mask vectors, keyed UUIDv8, placeholder numbering) and FieldPolicy parsing."""

from __future__ import annotations

import re

import pytest

from anonymizer import Anonymizer, FieldPolicy, PolicyError
from anonymizer.policy import Action
from anonymizer.tokens import TAG_PATTERN, entity_mask, label_for, placeholder_parts


@pytest.mark.parametrize(
    ("value", "cls", "mask"),
    [
        ("my-server-01", "HOST_NAME", "HOST_NAME_69a3ddb8f26cfd626b9de2cee13de641aa226208"),
        ("jorge21@gmail.com", "EMAIL", "EMAIL_fe101f3ceaedd6b88982eae1a55d21284ed3f4e2"),
        ("jorge@gmail.com", "EMAIL", "EMAIL_6de8d9fba5c5e60ac39395fba7ebce7c2cabd915"),
    ],
)
def test_unkeyed_masks_match_kibanas_vectors(value: str, cls: str, mask: str) -> None:
    """The unkeyed mask is Kibana 8.19/9.1's object-hash SHA-1 (research-note test vectors)."""
    assert entity_mask(value, cls) == mask


def test_keyed_masks_are_32_hex_and_depend_on_key_and_field() -> None:
    """The keyed mask is CLASS_ + 32 hex of HMAC-SHA256; the field defaults to the class."""
    a = entity_mask("jdoe", "USER_NAME", key=b"k1")
    assert re.fullmatch(r"USER_NAME_[0-9a-f]{32}", a)
    assert a == entity_mask("jdoe", "USER_NAME", key=b"k1", field="USER_NAME")
    assert a != entity_mask("jdoe", "USER_NAME", key=b"k2")
    assert a != entity_mask("jdoe", "USER_NAME", key=b"k1", field="/content")


def test_mask_strategy_uses_the_field_as_class() -> None:
    """tokens="mask" gives host.name values Kibana's HOST_NAME mask."""
    session = Anonymizer(tokens="mask").session()
    out = session.anonymize_data({"host.name": "my-server-01"})
    assert out == {"host.name": "HOST_NAME_69a3ddb8f26cfd626b9de2cee13de641aa226208"}


def test_placeholder_numbering_resumes_after_a_stored_map() -> None:
    """A session resumed from a map with <USER_NAME_3_K7Q2X5> numbers the next user name 4, with the same tag."""
    session = Anonymizer(tokens="placeholder").session({"<USER_NAME_3_K7Q2X5>": "alice"})
    assert session.token_for("bob", field="user.name") == "<USER_NAME_4_K7Q2X5>"
    assert session.token_for("alice", field="user.name") == "<USER_NAME_3_K7Q2X5>"


def test_placeholder_numbering_resumes_after_an_untagged_stored_map() -> None:
    """A map minted before tags (<USER_NAME_3>) keeps its tokens; new ones are numbered on, with a fresh tag."""
    session = Anonymizer(tokens="placeholder").session({"<USER_NAME_3>": "alice"})
    token = session.token_for("bob", field="user.name")
    assert placeholder_parts(token) == ("USER_NAME", 4, placeholder_parts(token)[2])  # type: ignore[index]
    assert re.fullmatch(TAG_PATTERN, placeholder_parts(token)[2])  # type: ignore[index, arg-type]
    assert session.token_for("alice", field="user.name") == "<USER_NAME_3>"


def test_keyed_strategy_requires_a_key() -> None:
    """tokens="keyed" without a key is a clear error."""
    with pytest.raises(ValueError, match="key"):
        Anonymizer(tokens="keyed")


def test_label_for() -> None:
    """Labels: entity class first, else the field in upper snake case, always starting with a letter."""
    assert label_for("user.target.name") == "USER_TARGET_NAME"
    assert label_for("_id") == "ID"
    assert label_for("1st.field") == "VALUE_1ST_FIELD"
    assert label_for("user.name", "PERSON") == "PERSON"


def test_policy_first_entry_wins_and_missing_flags_are_false() -> None:
    """As in Kibana: the first entry for a field decides; a missing flag is false."""
    policy = FieldPolicy.from_fields(
        [
            {"field": "a", "allowed": True},
            {"field": "a", "allowed": True, "anonymized": True},
            {"field": "b", "anonymized": True},
        ]
    )
    assert policy.action("a") is Action.KEEP
    assert policy.action("b") is Action.DROP  # anonymized without allowed is dropped
    assert policy.action("c") is Action.DROP


def test_policy_from_find_response_and_errors_name_the_path() -> None:
    """A _find response is accepted; a malformed entry names its path, not its value."""
    policy = FieldPolicy.from_fields({"page": 1, "perPage": 20, "total": 1, "data": [{"field": "x", "allowed": True}]})
    assert policy.action("x") is Action.KEEP
    with pytest.raises(PolicyError, match=r"\$\.data\[1\]\.allowed"):
        FieldPolicy.from_fields({"data": [{"field": "x"}, {"field": "y", "allowed": "secret-yes"}]})
    with pytest.raises(PolicyError) as err:
        FieldPolicy.from_fields([{"field": 42}])
    assert "42" not in str(err.value)


def test_with_anonymized_adds_unlisted_fields() -> None:
    """fields_to_anonymize flips listed fields and adds unlisted ones (deviation 5)."""
    policy = FieldPolicy.from_fields([{"field": "source.ip", "allowed": True}])
    flipped = policy.with_anonymized(["source.ip", "user_id"])
    assert flipped.action("source.ip") is Action.ANONYMIZE
    assert flipped.action("user_id") is Action.ANONYMIZE
    assert policy.action("source.ip") is Action.KEEP  # the original is unchanged


def test_kibana_default_policy() -> None:
    """Kibana's default: 114 fields, all allowed, five anonymized."""
    policy = FieldPolicy.kibana_default()
    assert len(policy) == 114
    assert sorted(policy.anonymized_fields()) == [
        "cloud.account.name",
        "entity.name",
        "host.name",
        "user.name",
        "user.target.name",
    ]
