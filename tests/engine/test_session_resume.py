"""Sessions resumed from a stored map: about a dict build, the same answers as a session built token by token."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy, Restorer
from anonymizer.errors import ReplacementsError
from anonymizer.restore import uuid_tokens
from tests.tagless import untag

ENGINE = Anonymizer(policy=FieldPolicy.anonymize_all())


def _uuids(draw: Any, n: int) -> list[str]:
    return [str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)) for _ in range(n)]


@st.composite
def maps_and_texts(draw: st.DrawFn) -> tuple[dict[str, str], str]:
    """A uuid map (sometimes with an upper-case or foreign token) and a text quoting its tokens, exact or altered."""
    tokens = _uuids(draw, draw(st.integers(1, 6)))
    if draw(st.booleans()):
        tokens[0] = tokens[0].upper()
    if draw(st.booleans()):
        tokens.append(draw(st.sampled_from(["<USER_NAME_1>", "tok-9", "HOST_NAME_" + "a" * 40])))
    mapping = {t: f"original-{i}" for i, t in enumerate(tokens)}
    pieces = []
    for _ in range(draw(st.integers(0, 8))):
        token = draw(st.sampled_from([*tokens, *_uuids(draw, 1)]))
        form = draw(st.sampled_from(["exact", "upper", "bare", "glued"]))
        pieces.append(
            {"exact": token, "upper": token.upper(), "bare": token.replace("-", ""), "glued": "x" + token}[form]
        )
        pieces.append(draw(st.sampled_from([" ", ", ", "-", "", "\n"])))
    return mapping, "".join(pieces)


@settings(max_examples=300, deadline=None)
@given(case=maps_and_texts())
def test_resumed_session_restores_like_a_compiled_restorer(case: tuple[dict[str, str], str]) -> None:
    """Restoring through a resumed session (no index built) gives the text and report a compiled restorer gives."""
    mapping, text = case
    compiled = Restorer(mapping)
    compiled._compile()
    resumed = ENGINE.session(mapping)
    assert resumed.deanonymize(text) == compiled.restore(text)
    assert resumed.restore(text) == compiled.restore_with_report(text)


def test_resuming_a_uuid_map_builds_no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored map of uuid tokens is restored from the map alone: no automaton, no per-token index."""
    tokens = [str(uuid.uuid4()) for _ in range(2000)]
    mapping = {t: f"user-{i}" for i, t in enumerate(tokens)}

    def no_compile(self: Restorer) -> None:
        raise AssertionError("the restorer compiled an index")

    monkeypatch.setattr(Restorer, "_compile", no_compile)
    session = ENGINE.session(mapping)
    text = f"{tokens[5]} and {tokens[1999].upper()} and {tokens[7].replace('-', '')} and {uuid.uuid4()}"
    assert session.deanonymize(text).startswith("user-5 and user-1999 and user-7 and ")
    assert session.restore(text).report.unknown == 1


def test_uuid_tokens_tells_lower_case_uuids_from_the_rest() -> None:
    """Only maps whose every token is a lower-case UUID take the index-free path."""
    u = [str(uuid.uuid4()) for _ in range(1500)]
    assert uuid_tokens(u)
    assert not uuid_tokens([*u, u[0].upper()])
    assert not uuid_tokens([*u[:700], "<USER_NAME_1>", *u[700:]])
    assert not uuid_tokens([*u[:-1], u[-1][:-1] + "-"])
    assert not uuid_tokens([])
    with pytest.raises(TypeError):
        uuid_tokens([*u, 7])  # type: ignore[list-item]


def test_binding_after_restoring_leaves_the_earlier_restorer_unchanged() -> None:
    """The restorer shares the session's map until the next token is bound; then the session copies it."""
    session = ENGINE.session({"<USER_NAME_1>": "jdoe"})
    before = session.restorer
    token = session.token_for("root")
    assert token not in before.replacements
    assert before.restore(token) == token
    assert session.deanonymize(token) == "root"
    assert session.replacements == {"<USER_NAME_1>": "jdoe", token: "root"}


def test_resumed_session_keeps_stored_tokens_and_counts_placeholders_on() -> None:
    """Anonymizing in a resumed session reuses stored tokens, and new placeholders number after the stored ones."""
    engine = Anonymizer(policy=FieldPolicy.anonymize_all(), tokens="placeholder")
    session = engine.session({"<USER_NAME_3>": "jdoe", "<USER_NAME_1>": "root", "<USER_NAME_9>": "jdoe"})
    out = session.anonymize_data({"user.name": ["jdoe", "alice"]})
    assert untag(out) == {"user.name": ["<USER_NAME_3>", "<USER_NAME_10>"]}
    assert session.anonymize_text("root and jdoe") == "<USER_NAME_1> and <USER_NAME_3>"
    assert session.deanonymize("<USER_NAME_9>") == "jdoe"


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"<A_1>": "a", "<A_2>": 2, "<A_3>": "c"}, "replacements['<A_2>']"),
        ({"<A_1>": "a", 5: "b"}, "replacements entry #1"),
        ({"<A_1>": "a", "": "b"}, "replacements entry #1"),
    ],
)
def test_a_malformed_stored_map_is_rejected_naming_the_entry(bad: dict[Any, Any], where: str) -> None:
    """The fast check of a stored map falls back to the entry-by-entry one, whose error names the entry."""
    with pytest.raises(ReplacementsError, match=re.escape(where)):
        ENGINE.session(bad)


@st.composite
def placeholder_maps_and_texts(draw: st.DrawFn) -> tuple[dict[str, str], str, str]:
    """A map of placeholders as minted and a text quoting them exactly, altered, bracketed, glued or unknown."""
    labels = ["USER_NAME", "HOST", "A", "X_1"]
    count = draw(st.integers(1, 6))
    tokens = list(dict.fromkeys(f"<{draw(st.sampled_from(labels))}_{draw(st.integers(1, 12))}>" for _ in range(count)))
    mapping = {t: f"original-{i}" for i, t in enumerate(tokens)}
    pieces = []
    for _ in range(draw(st.integers(0, 8))):
        token = draw(st.sampled_from([*tokens, "<USER_NAME_99>"]))
        name = token[1:-1]
        forms = [token, token.lower(), name, name.lower(), f"[{name}]", "{" + name.lower() + "}", "x" + token]
        forms += [name + "x", f"<{name}]", f"[{token.lower()}]"]
        pieces.append(draw(st.sampled_from(forms)))
        pieces.append(draw(st.sampled_from([" ", "", "_", "-", "\n", "é", "0"])))
    return mapping, "".join(pieces), draw(st.sampled_from(["", "a", " "]))


@settings(max_examples=300, deadline=None)
@given(case=placeholder_maps_and_texts())
def test_placeholders_found_by_shape_restore_like_the_compiled_restorer(case: tuple[dict[str, str], str, str]) -> None:
    """A map of minted placeholders is restored by shape (no automaton) exactly as the compiled restorer does."""
    mapping, text, before = case
    compiled = Restorer(mapping)
    compiled._placeholders = False  # the automata, not the shape path (the automata are built for it)
    compiled._compile()
    by_shape = Restorer(mapping)
    assert by_shape.restore_with_report(text, before=before) == compiled.restore_with_report(text, before=before)
    exact = Restorer(mapping, altered=False)
    exact_compiled = Restorer(mapping, altered=False)
    exact_compiled._placeholders = False
    exact_compiled._compile()
    assert exact.restore(text) == exact_compiled.restore(text)


def test_a_report_over_twenty_thousand_tokens_is_not_quadratic() -> None:
    """Each token-shaped string is checked against the tokens found by bisection (all pairs: ~4e8 checks)."""
    tokens = [f"<USER_NAME_{i}>" for i in range(1, 20_001)]
    mapping = {t: f"u{i}" for i, t in enumerate(tokens)}
    text = " ".join(tokens) + " <HOST_NAME_7>"
    report = Restorer(mapping).restore_with_report(text).report
    assert report.restored == 20_000
    assert report.unknown == 1


_TABLES = ("_lower_targets", "_keys", "_held_keys", "_alphabet", "_run", "_run_map", "_max_len", "_hex_only", "_uuids")


@settings(max_examples=200, deadline=None)
@given(case=st.one_of(maps_and_texts(), placeholder_maps_and_texts()), altered=st.booleans())
def test_a_minted_map_compiles_in_bulk_to_the_tables_of_the_token_by_token_loop(
    case: tuple[Any, ...], altered: bool
) -> None:
    """The restorer of a map of UUIDs or of placeholders as minted derives its keys in bulk (no per-token loop, no
    automaton: a resumed session's first stream starts sooner); the tables are those the general loop builds."""
    mapping = case[0]
    bulk = Restorer(mapping, altered=altered)
    bulk._compile()
    loop = Restorer(mapping, altered=altered)
    loop._plain = loop._placeholders = False  # neither shape known: the general loop
    loop._compile()
    for name in _TABLES:
        assert getattr(bulk, name) == getattr(loop, name), name
