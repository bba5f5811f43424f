"""Token safety: injection safety across conversations, tokens that never contain an original, linear minting."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, ArgumentTypeError, FieldPolicy, TokenContext, TokenError
from anonymizer._mint import Minter
from anonymizer.tokens import TAG_PATTERN, UuidTokens, placeholder_parts, strategy_for

KEY = b"k" * 32
STRATEGIES = ["uuid", "keyed", "placeholder", "mask"]
EVERYTHING = FieldPolicy.from_fields([], unknown="anonymize")
FIELDS = ["user.name", "host.name", "source.ip", "event.code"]

# originals that make tokens collide across conversations if anything does: short names, numbers, and
# values of every field (several fields share labels' numbers)
_values = st.one_of(
    st.sampled_from(["jdoe", "alice", "srv-01", "10.1.2.3", "root", "NAME", "4608"]),
    st.text("abcdefghij0123456789", min_size=3, max_size=8),
    st.integers(0, 10**6),
    st.booleans(),
)
_data = st.dictionaries(st.sampled_from(FIELDS), st.lists(_values, min_size=1, max_size=4), min_size=1)


def _engine(strategy: str) -> Anonymizer:
    key = KEY if strategy in ("keyed", "mask") else None
    return Anonymizer(policy=EVERYTHING, tokens=strategy, key=key)


def _forms(token: str) -> list[str]:
    """A token as a model may write it back: exact, lower case, without or with other brackets."""
    forms = [token, token.lower(), token.upper()]
    if token.startswith("<"):
        forms += [token[1:-1], f"[{token[1:-1]}]", f"{{{token[1:-1].lower()}}}"]
    if "-" in token:
        forms.append(token.replace("-", ""))
    return forms


def _originals(session_map: dict[str, str]) -> set[str]:
    return set(session_map.values())


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ours=_data, theirs=_data, resume=st.booleans())
def test_another_sessions_tokens_never_restore_to_this_sessions_originals(
    strategy: str, ours: dict[str, Any], theirs: dict[str, Any], resume: bool
) -> None:
    """Another conversation's tokens (exact or altered) never restore here: random and tagged tokens are left as
    they are; value-derived tokens (keyed, mask) restore only to the very same value, which this session holds."""
    engine = _engine(strategy)
    this, other = engine.session(), engine.session()
    this.anonymize_data(ours)
    other.anonymize_data(theirs)
    if resume:  # a stateless server resumes both from their stored maps, and the next turn mints more tokens
        this, other = engine.session(this.replacements), engine.session(other.replacements)
        this.anonymize_data({"user.name": "next-turn-user"})
        other.anonymize_data({"user.name": "next-turn-user"})
    mine = this.replacements
    for token, original in other.replacements.items():
        for form in _forms(token):
            text = f"ask {form} now"
            restored = this.deanonymize(text)
            if strategy in ("uuid", "placeholder"):
                assert token not in mine
                assert restored == text, (form, restored)
                assert this.restore(text).report.restored == 0
            else:  # the same value gives the same token in every conversation, by design
                assert restored == text or (restored == f"ask {original} now" and mine.get(token) == original)


def test_placeholder_tokens_carry_the_conversation_tag() -> None:
    """Placeholders are <LABEL_N_TAG>; two conversations have different tags; the regression of issue 15 item 6:
    another conversation's <USER_NAME_1_...> is reported unknown, not restored."""
    engine = Anonymizer(tokens="placeholder")
    a, b = engine.session(), engine.session()
    ta = a.anonymize_data({"user.name": "alice"})["user.name"]
    tb = b.anonymize_data({"user.name": "mallory"})["user.name"]
    pa, pb = placeholder_parts(ta), placeholder_parts(tb)
    assert pa is not None and pb is not None
    assert pa[:2] == pb[:2] == ("USER_NAME", 1)
    assert re.fullmatch(TAG_PATTERN, pa[2]) and re.fullmatch(TAG_PATTERN, pb[2])
    assert pa[2] != pb[2]
    restored = a.restore(f"{tb} and <USER_NAME_1>")
    assert restored.text == f"{tb} and <USER_NAME_1>"
    assert restored.report.unknown == 2 and restored.report.restored == 0


def test_a_resumed_session_keeps_its_tokens_and_its_tag() -> None:
    """A session resumed from its stored map restores the stored tokens and mints new ones with the same tag."""
    engine = Anonymizer(tokens="placeholder")
    first = engine.session()
    token = first.token_for("alice", field="user.name")
    resumed = engine.session(first.replacements)
    new = resumed.token_for("bob", field="user.name")
    assert placeholder_parts(new) == ("USER_NAME", 2, placeholder_parts(token)[2])  # type: ignore[index]
    assert resumed.deanonymize(f"{token} {new}") == "alice bob"


# ------------------------------------------------------------------------------ a token never contains an original


def test_placeholder_label_holding_an_original_falls_back_without_jumping() -> None:
    """user.name "NAME": no <USER_NAME_32> holding it; <VALUE_1_TAG>, and the next user gets <VALUE_2_TAG>."""
    session = Anonymizer(tokens="placeholder").session()
    out = session.anonymize_data({"user.name": "NAME"})["user.name"]
    assert "NAME" not in out
    assert placeholder_parts(out)[:2] == ("VALUE", 1)  # type: ignore[index]
    nxt = session.token_for("bob", field="user.name")
    assert placeholder_parts(nxt)[:2] == ("VALUE", 2)  # type: ignore[index]


def test_placeholder_numbers_skip_only_numbers_holding_an_original() -> None:
    """Numbers go 1, 2, 3, ...: the one number whose token would contain the original "110" is passed over."""
    session = Anonymizer(tokens="placeholder").session()
    names = ["110"] + [f"user-{i}" for i in range(120)]
    out = session.anonymize_data({"user.name": names})["user.name"]
    numbers = sorted(placeholder_parts(t)[1] for t in out)  # type: ignore[index]
    assert numbers == [n for n in range(1, 123) if n != 110]
    assert not any("110" in t for t in out)


class _Greedy:
    """A strategy whose first token holds an original of the same call (a number), then plain ones."""

    name = "greedy"
    alphabet = frozenset("T0123456789-")

    def mint(self, original: str, context: TokenContext) -> str:
        return "T4608" if context.attempt == 0 else f"T-{context.ordinal('T')}"


def test_numbers_of_the_same_call_are_checked_before_tokens_are_minted() -> None:
    """{"file": "combase.dll", "code": 4608}: the file's token may not contain 4608 (a number of the same call)."""
    session = Anonymizer(policy=EVERYTHING, tokens=_Greedy()).session()
    out = session.anonymize_data({"file": "combase.dll", "code": 4608})
    assert not any("4608" in token for token in out.values())
    assert session.deanonymize_obj(out) == {"file": "combase.dll", "code": 4608}


def test_detector_findings_of_the_same_call_are_checked_before_tokens_are_minted() -> None:
    """Two findings in one text: the first one's token may not contain the second one."""
    from anonymizer import Finding

    class Both:
        def detect(self, text: str, /) -> list[Finding]:
            return [Finding(0, 3, "X"), Finding(4, 8, "Y")]

    session = Anonymizer(tokens=_Greedy(), detectors=[Both()]).session()
    out = session.anonymize_text("abc 4608")
    assert "4608" not in out
    assert session.deanonymize(out) == "abc 4608"


class _Stubborn:
    """A strategy that can only give tokens holding the original."""

    name = "stubborn"
    alphabet = None

    def mint(self, original: str, context: TokenContext) -> str:
        return f"tok-{original}-{context.attempt}"


def test_no_silent_give_up_after_many_attempts() -> None:
    """When no attempt gives a usable token, TokenError (naming the field), never a token holding the original."""
    session = Anonymizer(policy=EVERYTHING, tokens=_Stubborn()).session()
    with pytest.raises(TokenError) as caught:
        session.anonymize_data({"user.name": "jdoe"})
    assert caught.value.path == "user.name"
    assert "jdoe" not in str(caught.value)
    assert session.replacements == {}


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(
        st.lists(st.one_of(st.text("0123456789abcdef-", min_size=3, max_size=6), st.integers(100, 99999)), max_size=6),
        min_size=1,
        max_size=4,
    )
)
def test_no_token_contains_an_original_known_when_it_was_minted(strategy: str, calls: list[list[Any]]) -> None:
    """Every token avoids every original (3+ characters) of its conversation known at mint time, this call's
    numbers included; short hex and digit originals are the ones a UUID can hold."""
    session = _engine(strategy).session()
    known: set[str] = set()
    for values in calls:
        before = set(session.replacements)
        session.anonymize_data({"labels.v": values})
        known |= {v if isinstance(v, str) else str(v) for v in values}
        for token in set(session.replacements) - before:
            assert not any(len(o) >= 3 and o in token for o in known), token


# ------------------------------------------------------------------------------------------------ linear minting


def test_minting_for_many_numeric_originals_does_linear_work() -> None:
    """20,000 numeric user names: the containment check looks up a bounded number of substrings per token
    (checking every original against every new token was quadratic: 36 s)."""
    minter = Minter(UuidTokens())
    originals = [str(10_000 + i) for i in range(20_000)]
    for original in originals:
        minter.expect(original)
    bound: dict[str, str] = {}
    for original in originals:
        bound[minter.mint(original, "user.name", None, bound)] = original
    assert len(bound) == len(originals)
    # one attempt looks at 32 windows of 5 characters; a quadratic check would look at 20,000 originals per token
    assert minter.checks <= 4 * 32 * len(originals)


def test_one_call_with_many_numeric_user_names_is_tokenized() -> None:
    """Sized so that the quadratic check would take minutes: 50,000 numeric user names in one call."""
    session = Anonymizer(tokens="uuid").session()
    names = [str(100_000 + i) for i in range(50_000)]
    out = session.anonymize_data({"user.name": names})["user.name"]
    assert len(set(out)) == len(names)
    assert session.deanonymize_obj(out) == names


# ------------------------------------------------------------------------ value kinds through a stored str -> str map

_typed = st.one_of(
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["4608", "true", "null", "1.5", "jdoe"]),
)


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_typed, min_size=1, max_size=8))
def test_a_resumed_session_gives_numbers_and_booleans_back_typed(strategy: str, values: list[Any]) -> None:
    """deanonymize_obj in a session resumed from the stored map (str -> str, as Kibana stores it) gives back
    numbers, booleans and null with their type, and strings that look like them as strings."""
    engine = _engine(strategy)
    session = engine.session()
    data = {"labels.v": values, "event.code": values[0]}
    out = session.anonymize_data(data)
    stored = session.replacements
    assert all(isinstance(t, str) and isinstance(o, str) for t, o in stored.items())
    resumed = engine.session(stored)
    restored = resumed.deanonymize_obj(out)
    assert restored == data
    assert [type(v) for v in restored["labels.v"]] == [type(v) for v in values]


def test_uuid_tokens_of_numbers_stay_valid_uuid4() -> None:
    """Tokens of numbers are still random UUIDv4s (Kibana's shape); only a check in their last 8 hex digits
    says what they stand for."""
    import uuid

    session = Anonymizer(policy=EVERYTHING).session()
    out = session.anonymize_data({"event.code": 4608, "user.name": "jdoe"})
    for token in out.values():
        assert uuid.UUID(token).version == 4 and str(uuid.UUID(token)) == token


def test_uuid_tokens_are_random_rfc_uuid4s() -> None:
    """Minted UUID tokens are RFC 9562 version-4 UUIDs in canonical form, all distinct, and every digit that is
    not the version or variant varies (no digit is stuck)."""
    import uuid

    session = Anonymizer(policy=EVERYTHING, tokens="uuid").session()
    tokens = [session.token_for(f"user-{i}", field="user.name") for i in range(2000)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        parsed = uuid.UUID(token)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, token)
    digits = [t.replace("-", "") for t in tokens]
    for position in range(32):
        seen = {d[position] for d in digits}
        expected = {"4"} if position == 12 else set("89ab") if position == 16 else set("0123456789abcdef")
        assert seen == expected, position


def test_a_map_minted_by_kibana_comes_back_as_strings() -> None:
    """Kibana stores every value as text under a random UUID: a resumed session gives those back as strings."""
    import uuid

    stored = {str(uuid.uuid4()): text for text in ("4608", "true", "null", "1.5")}
    session = Anonymizer().session(stored)
    assert session.deanonymize_obj(list(stored)) == list(stored.values())


@pytest.mark.parametrize("tokens", ["keyed", "mask"])
def test_an_engine_holding_a_key_refuses_to_be_pickled(tokens: str) -> None:
    """Pickling a keyed engine, session or strategy raises instead of writing the key into the pickle."""
    key = b"secret-key-bytes-0123456789abcdef"
    engine = Anonymizer(tokens=tokens, key=key)
    for obj in (engine, engine.session(), strategy_for(tokens, key)):
        with pytest.raises(ArgumentTypeError, match="cannot be pickled") as info:
            pickle.dumps(obj)
        assert key.decode() not in str(info.value)


def test_strategies_without_a_key_still_pickle() -> None:
    """Unkeyed strategies round-trip through pickle (nothing secret in them)."""
    for tokens in ("uuid", "placeholder", "mask"):
        strategy = strategy_for(tokens)
        assert type(pickle.loads(pickle.dumps(strategy))) is type(strategy)
