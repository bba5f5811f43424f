"""Stream restorers' fast paths and reports: the same answers whatever the chunking and the path taken."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy, Restorer, Session, StreamError
from anonymizer.restore import TokenEvent, token_spans
from anonymizer.stream import restorer_for

POLICY = FieldPolicy.from_fields(
    [
        {"field": "user.name", "allowed": True, "anonymized": True},
        {"field": "host.name", "allowed": True, "anonymized": True},
    ]
)
KEY = b"0123456789abcdef0123456789abcdef"


def session_for(tokens: str) -> Session:
    session = Anonymizer(policy=POLICY, tokens=tokens, key=KEY).session()
    for i, original in enumerate(["jdoe", "srv-01", "Zoë", "emoji 😀", "a-b_c"]):
        session.token_for(original, field="host.name" if i % 2 else "user.name")
    return session


SESSIONS = {name: session_for(name) for name in ("uuid", "placeholder", "mask")}
OTHER = session_for("uuid")  # tokens of another conversation: unknown here
# A map mixing every shape with tokens of no known shape (found by the literal automaton).
MIXED = Restorer(
    {
        **SESSIONS["uuid"].replacements,
        **SESSIONS["placeholder"].replacements,
        **SESSIONS["mask"].replacements,
        "TOK-9": "nine",
        "Σx": "sigma",
        "[[x]]": "brackets",
    }
)
RESTORERS = {**{name: s.restorer for name, s in SESSIONS.items()}, "mixed": MIXED}
# Characters that make the fast paths' shortcuts go wrong if they are wrong: case mappings that change length
# or depend on context (İ, Σ, the Kelvin sign), openers, hex digits in both cases, "_" and "-", non-ASCII.
FILLER = st.sampled_from(
    [" ", "the ", "e", "E", "de", "<", "[", "{", "]", ">", "-", "_", "USER_", "x", "0f", "İ", "Σ", "\u212a", "é", "😀"]
)

# Token shapes of no map here (placeholders and masks; other conversations' UUIDs are OTHER's tokens)
UNKNOWN_SHAPES = ["<USER_NAME_77>", "<HOST_NAME_3_A1B2C3>", "HOST_NAME_" + "0a" * 16, "USER_NAME_" + "f1" * 20]


def _altered(token: str) -> str:
    if token.startswith("<"):
        return "[" + token[1:-1] + "]"
    return token.upper() if token[0].isdigit() or token[0] in "abcdef" else token.lower()


@st.composite
def model_text(draw: st.DrawFn, restorer: Restorer) -> str:
    tokens = st.sampled_from(list(restorer.replacements))
    part = st.one_of(
        tokens,
        tokens.map(_altered),
        tokens.map(lambda t: t[: len(t) // 2]),
        tokens.map(lambda t: t.replace("-", "")),
        st.sampled_from(list(OTHER.replacements)),
        st.sampled_from(UNKNOWN_SHAPES),
        FILLER,
        st.text(max_size=3),
    )
    return "".join(draw(st.lists(part, max_size=12)))


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> list[bytes]:
    if draw(st.booleans()) and len(body) < 300:
        return [body[i : i + 1] for i in range(len(body))]
    points = sorted(draw(st.lists(st.integers(0, len(body)), max_size=10)))
    return [body[a:b] for a, b in itertools.pairwise([0, *points, len(body)])]


PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_prefix(restorer: Restorer, text: str, before: str) -> tuple[str, int]:
    """restore_prefix() as it was written before its fast paths: the hold-back first, then every match."""
    if not restorer.replacements or not text:
        return text, len(text)
    cut = len(text) - restorer.holdback(text)
    parts: list[str] = []
    pos = 0
    for start, end, original, _ in restorer._scan(text, before):
        if start >= cut:
            break
        parts.append(text[pos:start])
        parts.append(original)
        pos = end
        if end > cut:
            rest = text[end:]
            cut = len(text) - restorer.holdback(rest) if rest else end
    parts.append(text[pos:cut])
    return "".join(parts), cut


@PROFILE
@given(st.sampled_from(sorted(RESTORERS)), st.data())
def test_restore_prefix_matches_reference(name: str, data: st.DataObject) -> None:
    """The fast paths of restore_prefix() (no token in the text; memoized hold-back of a short ASCII tail)
    give what the plain algorithm gives."""
    restorer = RESTORERS[name]
    text = data.draw(model_text(restorer))
    before = data.draw(st.sampled_from(["", " ", "a", "[", "_"]))
    for _ in range(2):  # the second time through, from the memo
        assert restorer.restore_prefix(text, before=before) == reference_prefix(restorer, text, before)
        for i in range(len(text)):
            assert restorer.restore_prefix(text[i:], before=before) == reference_prefix(restorer, text[i:], before)


@PROFILE
@given(st.sampled_from(sorted(RESTORERS)), st.data())
def test_text_stream_report_does_not_depend_on_chunking(name: str, data: st.DataObject) -> None:
    """The text stream gives the same output and the same report (unknown tokens included) however the body
    is cut; restored, altered and ambiguous tokens are those of the whole-text report."""
    restorer = RESTORERS[name]
    text = data.draw(model_text(restorer))
    body = text.encode()
    if data.draw(st.booleans()):
        body = b"\xff" + body + b"\xe2\x82"
    whole = restorer_for(restorer, "text")
    want = whole.feed(body) + whole.close()
    stream = restorer_for(restorer, "text")
    out = b"".join(stream.feed(chunk) for chunk in data.draw(chunked(body))) + stream.close()
    assert out == want
    assert stream.report == whole.report
    text = body.decode("utf-8", "surrogateescape")
    known = [e for e in restorer.restore_with_report(text).report.events if e.kind != "unknown"]
    assert [e for e in stream.report.events if e.kind != "unknown"] == known
    # unknown: the token shapes of the input that overlap none of those tokens
    unknown = [(s, e) for s, e in token_spans(text) if not any(s < k.end and k.start < e for k in known)]
    assert [(e.start, e.end) for e in stream.report.events if e.kind == "unknown"] == unknown


def test_report_positions_across_fast_and_slow_chunks() -> None:
    """Events found in chunks of either path carry offsets into the whole input text."""
    session = SESSIONS["uuid"]
    token = session.token_for("jdoe")
    foreign = next(iter(OTHER.replacements))
    text = f"plain prose here {token} more prose {foreign} and {token.upper()} end é {token}"
    stream = session.stream("text")
    body = text.encode()
    out = b"".join(stream.feed(body[i : i + 7]) for i in range(0, len(body), 7)) + stream.close()
    assert out.decode() == session.restorer.restore(text)
    starts = [text.index(token), text.index(foreign), text.index(token.upper()), text.rindex(token)]
    assert stream.report.events == (
        TokenEvent(starts[0], starts[0] + 36, "restored", token),
        TokenEvent(starts[1], starts[1] + 36, "unknown", foreign),
        TokenEvent(starts[2], starts[2] + 36, "altered", token.upper()),
        TokenEvent(starts[3], starts[3] + 36, "restored", token),
    )


def test_ambiguous_token_reported_without_another_restored() -> None:
    """An ambiguous altered token is reported even in a piece where nothing else was restored."""
    restorer = Restorer({"<USER_NAME_1>": "a", "<user_name_1>": "b"})
    stream = restorer_for(restorer, "text")
    body = b"see [USER_NAME_1] here"
    assert stream.feed(body) + stream.close() == body
    assert [(e.start, e.end, e.kind) for e in stream.report.events] == [(4, 17, "ambiguous")]
    assert restorer.restore_with_report(body.decode()).report.ambiguous == 1


def test_a_four_megabyte_line_in_small_chunks_is_linear() -> None:
    """An NDJSON line of 4 MB fed in 64-byte chunks is gathered in place (re-joining it per chunk: ~128 GB copied)."""
    session = Anonymizer(tokens="placeholder").session()
    tokens = [session.token_for(f"user-{i}", field="user.name") for i in range(2000)]
    payload = " ".join(f"{tokens[i % 2000]} re-run x86-64" for i in range(150_000))
    body = json.dumps({"payload": payload, "type": "content"}).encode() + b"\n"
    assert len(body) > 4_000_000
    stream = restorer_for(session.restorer, "security.ndjson")
    out = b"".join(stream.feed(body[i : i + 64]) for i in range(0, len(body), 64)) + stream.close()
    restored = "".join(json.loads(line)["payload"] for line in out.splitlines())
    assert restored == session.deanonymize(payload)
    assert stream.report.restored == 150_000


def test_report_read_mid_stream_holds_what_was_restored() -> None:
    """Unknown token shapes are searched in batches: reading the report searches what was restored so far."""
    session = SESSIONS["uuid"]
    token = session.token_for("jdoe")
    foreign = next(iter(OTHER.replacements))
    stream = session.stream("text")
    out = stream.feed(f"{token} met {foreign} and ".encode())
    assert out.decode() == f"jdoe met {foreign} and "
    assert [e.kind for e in stream.report.events] == ["restored", "unknown"]
    stream.feed(f"{foreign} again".encode())
    stream.close()
    assert [e.kind for e in stream.report.events] == ["restored", "unknown", "unknown"]


@PROFILE
@given(st.sampled_from(sorted(RESTORERS)), st.data())
def test_text_stream_takes_any_bytes_like_chunk_and_empty_ones(name: str, data: st.DataObject) -> None:
    """Chunks as bytearray or memoryview, and empty chunks anywhere (while text is held too), give the output and
    report of the same body fed as plain bytes; feeding after close() raises."""
    restorer = RESTORERS[name]
    body = data.draw(model_text(restorer)).encode()
    chunks = data.draw(chunked(body))
    plain = restorer_for(restorer, "text")
    want = b"".join(plain.feed(c) for c in chunks) + plain.close()
    kinds = data.draw(
        st.lists(st.sampled_from([bytes, bytearray, memoryview]), min_size=len(chunks) * 2, max_size=len(chunks) * 2)
    )
    stream = restorer_for(restorer, "text")
    out = bytearray()
    for i, chunk in enumerate(chunks):
        out += stream.feed(kinds[2 * i](b""))
        out += stream.feed(kinds[2 * i + 1](chunk))
    out += stream.close()
    assert bytes(out) == want
    assert stream.report == plain.report
    with pytest.raises(StreamError):
        stream.feed(b"more")


@PROFILE
@given(st.sampled_from(sorted(RESTORERS)), st.data())
def test_hold_back_known_by_a_piece_end_is_the_hold_back(name: str, data: st.DataObject) -> None:
    """What ``Pieces.ends`` knows of a piece's last five characters is what ``tail`` decides for it, however the
    dictionary was filled (as text or as bytes)."""
    restorer = RESTORERS[name]
    pieces = restorer.pieces()
    texts = [t for t in data.draw(st.lists(model_text(restorer), min_size=1, max_size=8)) if t]
    for text in texts:
        for piece in (text, text.encode()) if text.isascii() else (text,):
            mapped = (piece if isinstance(piece, bytes) else piece.encode("ascii", "replace")).translate(pieces.run_map)
            if pieces.run in mapped.decode() or mapped.endswith(b" "):
                continue
            known = pieces.ends.get(piece[-5:])
            held = pieces.tail(piece, mapped.decode())
            assert known is None or known == held
            assert pieces.ends.get(piece[-5:], held) == held
