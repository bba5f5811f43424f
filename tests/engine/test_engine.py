"""The engine's invariants: round trip, no leak, one token per original, resumption, token hygiene."""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy, PayloadError, ReplacementsError
from anonymizer.engine import MAX_DEPTH
from anonymizer.testing import ecs_data as toolkit_ecs_data
from anonymizer.testing import original_values
from tests.tagless import untag

KEY = b"0123456789abcdef0123456789abcdef"
STRATEGIES = ["uuid", "keyed", "placeholder", "mask"]

# Originals (anonymizer.testing.original_values: "Q" then lowercase letters) can never occur inside a token
# (tokens are hex, upper case or punctuation) or the filler, so the strict "never a substring of the output" check
# below is exact; they are at least 4 characters, above the engine's free-text guard (min_length=3).
ORIGINAL = original_values()
FILLER = st.sampled_from(["the", "host", "ALERT", "42", "at", "-", "logged", "on", "(", ")", ",", "EVT-7"])
FIELD_PART = st.sampled_from(["user", "name", "host", "source", "ip", "process", "args", "os", "target", "id"])
FIELD = st.lists(FIELD_PART, min_size=1, max_size=4).map(".".join)
SCALAR = st.one_of(
    ORIGINAL,
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)


def engine_for(tokens: str, policy: FieldPolicy | None = None, **kw: Any) -> Anonymizer:
    return Anonymizer(policy=policy or FieldPolicy.anonymize_all(), tokens=tokens, key=KEY, **kw)


def ecs_data(leaf: st.SearchStrategy[Any] = SCALAR) -> st.SearchStrategy[dict[str, Any]]:
    """The toolkit's ECS data over free field names: flat, nested, mixed, lists of scalars and of objects, empties."""
    return toolkit_ecs_data(fields=FIELD, values=leaf, min_fields=1, max_fields=5, max_depth=3, empty=True)


def free_text(originals: list[str]) -> st.SearchStrategy[str]:
    words = st.one_of(FILLER, st.sampled_from(originals)) if originals else FILLER
    return st.lists(words, max_size=12).map(" ".join)


def leaves(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in leaves(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in leaves(v)]
    return [obj]


def expected_filter(data: Any, policy: FieldPolicy, wanted: set[str], prefix: str = "") -> Any:
    """An independent oracle of what the policy keeps (dropped fields out, emptied containers out)."""

    def act(field: str) -> int:
        return 2 if field in wanted else int(policy.action(field))

    def seq(items: list[Any], field: str) -> list[Any]:
        out = []
        for v in items:
            if isinstance(v, dict):
                sub = expected_filter(v, policy, wanted, field)
                if sub or not v:
                    out.append(sub)
            elif isinstance(v, list):
                sub2 = seq(v, field)
                if sub2 or not v:
                    out.append(sub2)
            elif act(field):
                out.append(v)
        return out

    out: dict[str, Any] = {}
    for k, v in data.items():
        field = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            if v:
                sub = expected_filter(v, policy, wanted, field)
                if sub:
                    out[k] = sub
            elif act(field):
                out[k] = {}
        elif isinstance(v, list):
            if v:
                items = seq(v, field)
                if items:
                    out[k] = items
            elif act(field):
                out[k] = []
        elif act(field):
            out[k] = v
    return out


MIXED_POLICY = FieldPolicy.from_fields(
    [
        {"field": "user.name", "allowed": True, "anonymized": True},
        {"field": "host", "allowed": True},
        {"field": "host.name", "allowed": True, "anonymized": True},
        {"field": "source.ip", "allowed": True},
        {"field": "process.args", "allowed": True},
        {"field": "id", "allowed": False, "anonymized": True},
    ],
    unknown="keep",
)


@pytest.mark.parametrize("tokens", STRATEGIES)
@given(data=ecs_data(), wanted=st.sets(st.sampled_from(["name", "user.name", "os", "target.id", "ip"])))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_restores_the_policy_filtered_data(tokens: str, data: dict[str, Any], wanted: set[str]) -> None:
    """deanonymize_obj(anonymize_data(d)) equals the policy-filtered d, types included."""
    session = engine_for(tokens, MIXED_POLICY).session()
    out = session.anonymize_data(data, fields_to_anonymize=wanted)
    assert session.deanonymize_obj(out) == expected_filter(data, MIXED_POLICY, wanted)


@pytest.mark.parametrize("tokens", STRATEGIES)
@given(data=ecs_data(leaf=ORIGINAL), st_data=st.data())
@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
def test_no_tokenized_original_appears_in_the_output(tokens: str, data: dict[str, Any], st_data: st.DataObject) -> None:
    """No tokenized original is left anywhere: not as a value, not inside kept free text."""
    policy = FieldPolicy.from_fields([{"field": "message", "allowed": True}], unknown="anonymize")
    session = engine_for(tokens, policy).session()
    originals = sorted({v for v in leaves(data) if isinstance(v, str)})
    data = {**data, "message": st_data.draw(free_text(originals))}
    out = session.anonymize_data(data)
    text = "\n".join(v for v in leaves(out) if isinstance(v, str))  # keys are field names: never rewritten
    for original in session.replacements.values():
        assert original not in text
    assert session.deanonymize_obj(out) == data


@pytest.mark.parametrize("tokens", STRATEGIES)
@given(
    batches=st.lists(ecs_data(leaf=st.one_of(ORIGINAL, st.sampled_from(["jdoe", "srv-01"]))), min_size=1, max_size=4)
)
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
def test_one_token_per_original_across_messages(tokens: str, batches: list[dict[str, Any]]) -> None:
    """The same original gets the same token in every field and message of a session."""
    session = engine_for(tokens).session()
    for data in batches:
        session.anonymize_data(data)
    originals = list(session.replacements.values())
    assert len(originals) == len(set(originals))


@pytest.mark.parametrize("tokens", STRATEGIES)
@given(data=ecs_data(), text_words=st.lists(ORIGINAL, max_size=5))
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
def test_resumed_session_mints_no_new_token(tokens: str, data: dict[str, Any], text_words: list[str]) -> None:
    """A session resumed from session.replacements reuses every stored token and gives the same output."""
    engine = engine_for(tokens)
    first = engine.session()
    out1 = first.anonymize_data(data)
    stored = first.replacements
    second = engine.session(replacements=stored)
    out2 = second.anonymize_data(data)
    assert second.replacements == stored
    assert out1 == out2 or (tokens == "uuid" and _same_up_to_typed(out1, out2))


def _same_up_to_typed(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("tokens", STRATEGIES)
@given(originals=st.lists(st.text(alphabet="0123456789abcdef-<>_ABC", min_size=3, max_size=5), max_size=40))
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
def test_no_token_equals_or_contains_an_original(tokens: str, originals: list[str]) -> None:
    """Tokens never equal or contain an original (3+ characters, made of token characters) of the session."""
    session = engine_for(tokens).session()
    session.anonymize_data({"related": {"user": originals}})
    for token, _ in session.replacements.items():
        for original in session.replacements.values():
            assert original not in token


@pytest.mark.parametrize("tokens", STRATEGIES)
@given(text=st.text())
@settings(max_examples=80)
def test_restore_of_text_without_tokens_is_identity(tokens: str, text: str) -> None:
    """Restoring a text that holds no token of the session changes nothing."""
    session = engine_for(tokens).session()
    session.anonymize_data({"user.name": "jdoe", "host.name": "srv-01", "id": 7})
    assert all(t not in text for t in session.replacements)
    assert session.deanonymize(text) == text


@given(value=st.text(min_size=1))
def test_keyed_tokens_agree_across_engines_with_the_same_key(value: str) -> None:
    """Keyed tokens are equal across engines with the same key and differ with another key."""
    a = Anonymizer(tokens="keyed", key=KEY).session().token_for(value)
    b = Anonymizer(tokens="keyed", key=KEY).session().token_for(value)
    c = Anonymizer(tokens="keyed", key=b"another key, 32 bytes long......").session().token_for(value)
    assert a == b
    assert a != c
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a)


def test_anonymize_data_does_not_mutate_its_input() -> None:
    """anonymize_data leaves its argument untouched, nested lists included."""
    data = {"user": {"name": "jdoe"}, "process": {"args": ["-u", "jdoe"]}, "message": "jdoe here"}
    before = copy.deepcopy(data)
    Anonymizer().session().anonymize_data(data, fields_to_anonymize=["process.args"])
    assert data == before


def test_field_addressing_is_shape_independent() -> None:
    """user.name is found flat, nested, mixed and through lists of objects, with one token."""
    session = Anonymizer(tokens="placeholder").session()
    out = session.anonymize_data(
        {
            "user.name": "jdoe",
            "user": {"name": "jdoe", "target": {"name": "root"}},
            "host": [{"name": "srv-01"}, {"name": "srv-02"}],
        }
    )
    assert untag(out) == {
        "user.name": "<USER_NAME_1>",
        "user": {"name": "<USER_NAME_1>", "target": {"name": "<USER_TARGET_NAME_1>"}},
        "host": [{"name": "<HOST_NAME_1>"}, {"name": "<HOST_NAME_2>"}],
    }


def test_kibana_default_policy_drops_unknown_and_keeps_allowed() -> None:
    """With Kibana's defaults, unknown fields are dropped, allowed ones kept, anonymized ones tokenized."""
    session = Anonymizer(tokens="placeholder").session()
    out = session.anonymize_data({"user.name": "jdoe", "host.os.name": "macOS", "password": "hunter2"})
    assert untag(out) == {"user.name": "<USER_NAME_1>", "host.os.name": "macOS"}


def test_fields_to_anonymize_adds_fields_the_policy_does_not_list() -> None:
    """Deviation 5: a field in fields_to_anonymize that the policy does not list is anonymized, not dropped."""
    session = Anonymizer(tokens="placeholder").session()
    out = session.anonymize_data({"user_id": "user_789"}, fields_to_anonymize=["user_id"])
    assert untag(out) == {"user_id": "<USER_ID_1>"}


def test_short_originals_are_not_propagated_into_free_text() -> None:
    """Originals shorter than min_length are tokenized as values but not hunted inside text."""
    session = Anonymizer(tokens="placeholder").session()
    out = session.anonymize_data({"host.name": "a", "message": "a cat sat on a mat"})
    assert untag(out["host.name"]) == "<HOST_NAME_1>"
    assert session.anonymize_text("a cat") == "a cat"
    assert Anonymizer(tokens="placeholder", min_length=1).session().anonymize_text("a cat") == "a cat"


def test_propagation_matches_whole_words_only() -> None:
    """root is hidden in 'root logged in' but not inside 'rootkit'; an IP not inside a longer IP."""
    session = Anonymizer(tokens="placeholder").session()
    session.anonymize_data({"user.name": "root"}, fields_to_anonymize=["source.ip"])
    session.anonymize_data({"source.ip": "10.1.2.3"}, fields_to_anonymize=["source.ip"])
    text = "root installed a rootkit from 10.1.2.3 and 10.1.2.30"
    assert untag(session.anonymize_text(text)) == "<USER_NAME_1> installed a rootkit from <SOURCE_IP_1> and 10.1.2.30"


def test_propagation_can_be_disabled() -> None:
    """propagate=False leaves free text alone (field values are still tokenized)."""
    session = Anonymizer(tokens="placeholder", propagate=False).session()
    out = session.anonymize_data({"user.name": "jdoe", "message": "hello jdoe, bye"})
    assert out["message"] == "hello jdoe, bye"


def test_existing_tokens_in_text_are_left_intact() -> None:
    """An original inside a token already in the text is never rewritten (multi-turn safety)."""
    session = Anonymizer(tokens="placeholder").session()
    session.anonymize_data({"user.name": "USER"}, fields_to_anonymize=[])
    token = session.token_for("USER")
    assert session.anonymize_text(f"{token} and USER") == f"{token} and {token}"


def test_typed_values_round_trip_and_persist_as_json_text() -> None:
    """Numbers, booleans and null come back typed, also from the stored map, which holds their JSON text."""
    session = Anonymizer(policy=FieldPolicy.anonymize_all(), tokens="placeholder").session()
    data = {"pid": 69516, "ok": True, "none": None, "ratio": 14.5, "same": "69516"}
    out = session.anonymize_data(data)
    assert session.deanonymize_obj(out) == data
    assert set(session.replacements.values()) == {"69516", "true", "null", "14.5"}
    resumed = session.engine.session(session.replacements)
    assert resumed.deanonymize_obj(out) == data


def test_tokens_of_another_session_are_never_restored() -> None:
    """A token minted in one conversation is left as is by another conversation's session."""
    engine = Anonymizer()
    alice = engine.session()
    token = alice.anonymize_data({"user.name": "alice"})["user.name"]
    mallory = engine.session()
    mallory.anonymize_data({"user.name": "mallory"})
    assert mallory.deanonymize(f"who is {token}?") == f"who is {token}?"
    report = mallory.restore(f"who is {token}?").report
    assert report.unknown == 1 and report.restored == 0


def test_merge_conflict_raises_without_echoing_the_original() -> None:
    """Binding a known token to another original raises ReplacementsError that names the token only."""
    token = "0b6f1c3e-3f5a-4c3e-9d7a-0e6b1f2a3b4c"
    session = Anonymizer().session({token: "alice"})
    with pytest.raises(ReplacementsError) as err:
        session.merge_replacements({"<HOST_NAME_1>": "srv", token: "bob-the-secret"})
    assert token in str(err.value)
    assert "bob-the-secret" not in str(err.value) and "alice" not in str(err.value)
    assert session.replacements == {token: "alice"}  # all or nothing: the valid entry was not bound either


def test_a_map_given_the_wrong_way_round_is_not_echoed() -> None:
    """Keys that are not token-shaped (originals, if the map was reversed) are named by position only."""
    session = Anonymizer().session({"0b6f1c3e-3f5a-4c3e-9d7a-0e6b1f2a3b4c": "alice"})
    with pytest.raises(ReplacementsError) as err:
        session.merge_replacements({"jdoe-the-user": 42})  # type: ignore[dict-item]
    assert "jdoe-the-user" not in str(err.value)
    assert "#0" in str(err.value)


def test_deep_nesting_is_rejected_with_a_clear_error() -> None:
    """Data nested deeper than MAX_DEPTH raises PayloadError, not RecursionError."""
    data: dict[str, Any] = {"v": "secret-value"}
    for _ in range(MAX_DEPTH + 5):
        data = {"a": data}
    with pytest.raises(PayloadError) as err:
        Anonymizer().session().anonymize_data(data)
    assert "secret-value" not in str(err.value)


def test_non_json_values_are_rejected_naming_the_field() -> None:
    """A value that is not JSON raises PayloadError naming the field, not the value."""
    with pytest.raises(PayloadError) as err:
        Anonymizer(policy=FieldPolicy.anonymize_all()).session().anonymize_data({"user.name": {"x": object()}})
    assert "user.name.x" in str(err.value)


def test_concurrent_sessions_of_one_engine_are_independent() -> None:
    """One Anonymizer shared by threads: each session keeps one token per original, none shared."""
    engine = Anonymizer(tokens="placeholder")
    results: dict[int, dict[str, str]] = {}

    def work(i: int) -> None:
        session = engine.session()
        for _ in range(50):
            session.anonymize_data({"user.name": f"user{i}", "host.name": "srv-01"})
        results[i] = session.replacements

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, mapping in results.items():
        assert untag(mapping) == {"<USER_NAME_1>": f"user{i}", "<HOST_NAME_1>": "srv-01"}


def test_one_session_shared_by_threads_keeps_one_token_per_original() -> None:
    """Many threads minting in one session never give one original two tokens."""
    session = Anonymizer().session()

    def work() -> None:
        for i in range(200):
            session.token_for(f"user-{i % 37}")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(session.replacements) == 37


def test_mapping_and_sequence_subclasses_are_walked_like_dicts_and_lists() -> None:
    """OrderedDict, MappingProxyType and tuples are addressed and filtered exactly like dicts and lists."""
    from collections import OrderedDict
    from types import MappingProxyType

    session = Anonymizer(tokens="placeholder").session()
    data = {
        "user": MappingProxyType({"name": "jdoe", "password": "x"}),
        "host": OrderedDict(name="srv-01", empty={}),
        "process": {"args": ("-u", "jdoe")},
        "labels": MappingProxyType({}),
    }
    out = session.anonymize_data(data)
    assert untag(out) == {
        "user": {"name": "<USER_NAME_1>"},
        "host": {"name": "<HOST_NAME_1>"},
        "process": {"args": ["-u", "<USER_NAME_1>"]},
    }


def test_sessions_of_one_engine_share_field_plans_without_mixing_them() -> None:
    """The per-shape field plans an engine caches never leak one call's fields_to_anonymize into another's."""
    engine = Anonymizer(tokens="placeholder")
    data = {"source": {"ip": "10.1.2.3"}, "user": {"name": "jdoe"}}
    first = engine.session().anonymize_data(data, fields_to_anonymize=["source.ip"])
    second = engine.session().anonymize_data(data)
    third = engine.session().anonymize_data(data, fields_to_anonymize=("source.ip",))
    assert untag(first) == untag(third) == {"source": {"ip": "<SOURCE_IP_1>"}, "user": {"name": "<USER_NAME_1>"}}
    assert untag(second) == {"source": {"ip": "10.1.2.3"}, "user": {"name": "<USER_NAME_1>"}}  # allowed, not anonymized
