"""Free-text hiding of known originals: leftmost-longest whole-word matches, in any case, linear in the text."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy
from anonymizer._freetext import FreeTextFinder, build

POLICY = FieldPolicy.from_fields(
    [
        {"field": "user.name", "allowed": True, "anonymized": True},
        {"field": "host.name", "allowed": True, "anonymized": True},
        {"field": "message", "allowed": True, "anonymized": False},
    ]
)
ENGINE = Anonymizer(policy=POLICY, tokens="placeholder")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _reference(text: str, originals: list[str]) -> list[tuple[int, int, str]]:
    """Every whole-word match of every original in any case (brute force), then leftmost-longest selection."""
    low = text.lower()
    found = []
    for o in originals:
        key = o.lower()
        at = low.find(key)
        while at != -1:
            end = at + len(key)
            left_ok = not _is_word(key[0]) or at == 0 or not _is_word(text[at - 1])
            right_ok = not _is_word(key[-1]) or end == len(text) or not _is_word(text[end])
            if left_ok and right_ok:
                found.append((at, end))
            at = low.find(key, at + 1)
    out = []
    last = 0
    for start, end in sorted(found, key=lambda s: (s[0], -s[1])):
        if start >= last:
            out.append((start, end, text[start:end]))
            last = end
    return out


class CountingDict(dict[str, str]):
    """A dict that counts its lookups (the finder's work)."""

    lookups = 0

    def get(self, key: str, default: Any = None) -> Any:
        CountingDict.lookups += 1
        return super().get(key, default)


def _finder(originals: list[str]) -> FreeTextFinder:
    mapping = {o: f"<T_{i}>" for i, o in enumerate(dict.fromkeys(originals))}
    return build(mapping, {}, 1)


ORIGINAL = st.text(alphabet="ab-. X1", min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(originals=st.lists(ORIGINAL, min_size=1, max_size=8), text=st.text(alphabet="ab-. X1AB", max_size=60))
def test_matches_are_the_leftmost_longest_whole_word_ones_in_any_case(originals: list[str], text: str) -> None:
    """The finder keeps exactly what collecting every match and selecting leftmost-longest would keep."""
    finder = _finder(originals)
    got = [(s, e, text[s:e]) for s, e, _ in finder.spans(text, lambda found, _o: found)]
    assert got == _reference(text, originals)


@settings(max_examples=100, deadline=None)
@given(originals=st.lists(ORIGINAL, min_size=1, max_size=8), texts=st.lists(st.text(alphabet="ab-. X1", max_size=20)))
def test_many_texts_searched_at_once_match_each_searched_alone(originals: list[str], texts: list[str]) -> None:
    """Texts joined for one search give each text the spans it gets on its own."""
    finder = _finder(originals)
    keep = lambda found, _o: found  # noqa: E731
    assert finder.spans_many(texts, keep) == [finder.spans(t, keep) for t in texts]


def test_twenty_originals_of_a_against_a_megabyte_of_a_take_no_lookup() -> None:
    """1 MB of 'a' is one run, which no original is: nothing is collected per overlap (that took 3 GB)."""
    session = ENGINE.session()
    for n in range(3, 23):
        session.token_for("a" * n)
    text = "a" * 1_000_000
    finder = session._free_text_finder()
    counting = CountingDict(finder._index)
    finder._index = counting
    CountingDict.lookups = 0
    assert session.anonymize_text(text) == text
    assert CountingDict.lookups == 0


def test_work_is_bounded_by_candidates_times_lengths_on_a_spaced_worst_case() -> None:
    """'a a a ...' against originals that all start with 'a' and never match: a lookup per length per run."""
    originals = [" ".join(["a"] * k + ["b"]) for k in range(1, 21)]
    finder = _finder(originals)
    counting = CountingDict(finder._index)
    finder._index = counting
    CountingDict.lookups = 0
    text = "a " * 200_000
    assert finder.spans(text, lambda found, _o: found) == []
    assert CountingDict.lookups <= 20 * 200_000


def test_case_variants_of_known_originals_are_hidden_with_their_own_tokens() -> None:
    """JDOE and SRV-01 are hidden when jdoe and srv-01 are known; each variant has its own token."""
    session = ENGINE.session()
    data = {"user.name": "jdoe", "host.name": "srv-01", "message": "Logon by CORP\\JDOE on SRV-01, then Jdoe"}
    out = session.anonymize_data(data)
    message = out["message"]
    for variant in ("JDOE", "SRV-01", "Jdoe", "jdoe", "srv-01"):
        assert variant not in message
    assert session.deanonymize(message) == data["message"]
    tokens = session.replacements
    assert len(set(tokens.values())) == len(tokens) == 5
    assert session.case_variants() == [
        (out["user.name"], *[t for t, o in tokens.items() if o in ("JDOE", "Jdoe")]),
        (out["host.name"], *[t for t, o in tokens.items() if o == "SRV-01"]),
    ]


def test_variants_keep_whole_word_guards_and_min_length() -> None:
    """JDOEX is no variant of jdoe, and originals below min_length are not hunted in any case."""
    session = Anonymizer(policy=POLICY, tokens="placeholder", min_length=4).session()
    session.anonymize_data({"user.name": "jdoe", "host.name": "db1"})
    text = "JDOEX xJDOE DB1 db1 Jdoe"
    hidden = session.anonymize_text(text)
    assert hidden.startswith("JDOEX xJDOE DB1 db1 <USER_NAME_")
    assert session.deanonymize(hidden) == text


def test_a_token_in_another_case_is_left_as_it_is() -> None:
    """Text quoting a token in another case keeps it (no original is rewritten inside it)."""
    session = ENGINE.session()
    token = session.token_for("name_1")
    text = f"{token.lower()} and NAME_1"
    hidden = session.anonymize_text(text)
    assert hidden.startswith(f"{token.lower()} and <")
    assert session.deanonymize(hidden) == f"{session.deanonymize(token.lower())} and NAME_1"


WORDS = st.text(alphabet="abcXY01-", min_size=3, max_size=8).filter(lambda w: _is_word(w[0]) and _is_word(w[-1]))


@settings(max_examples=150, deadline=None)
@given(originals=st.lists(WORDS, min_size=1, max_size=5, unique_by=str.lower), data=st.data())
def test_no_case_variant_of_a_known_original_leaks_and_restore_is_exact(originals: list[str], data: Any) -> None:
    """Free text quoting known originals in any case holds none of them, and restores to itself exactly."""
    session = ENGINE.session()
    session.anonymize_data({"user.name": originals})
    pieces = []
    for _ in range(data.draw(st.integers(1, 10))):
        o = data.draw(st.sampled_from(originals))
        flips = data.draw(st.lists(st.booleans(), min_size=len(o), max_size=len(o)))
        pieces.append("".join(c.swapcase() if f else c for c, f in zip(o, flips, strict=True)))
        pieces.append(data.draw(st.sampled_from([" ", ", ", "\\", " (", ") "])))
    text = "".join(pieces)
    hidden = session.anonymize_text(text)
    for o in originals:
        assert not re.search(rf"(?<![\w]){re.escape(o)}(?![\w])", hidden, re.IGNORECASE)
    assert session.deanonymize(hidden) == text
