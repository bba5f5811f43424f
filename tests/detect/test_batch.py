"""anonymizer.detect batch path: each shortcut gives exactly what stock Presidio, phonenumbers and spaCy give.

- phone numbers: the digit-count prefilter is a necessary condition of a valid number (exhaustive over short
  digit strings, Hypothesis over mixed text), and remembered candidate verdicts change no match, not even when
  the matcher's tries budget runs out;
- the attribute ruler's table lookup gives the stock ``Matcher``'s sorted match list;
- the batch context enhancer's skipped deep copy is safe: every recognizer makes fresh results;
- end to end, ``detect_many`` equals Presidio's stock engine (full pipeline) message by message on phone-heavy text.
"""

from __future__ import annotations

import itertools

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberMatcher
from phonenumbers.phonenumbermatcher import Leniency
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import PhoneRecognizer
from spacy.pipeline import AttributeRuler

from anonymizer.detect import DEFAULT_MODEL, PresidioDetector, load_pipeline, presidio
from anonymizer.detect.analyzer import _makes_fresh_results
from anonymizer.detect.speedups import (
    _PHONE_CHARS,
    _BatchPhoneRecognizer,
    _phone_min_chars,
    _RememberingPhoneNumberMatcher,
    _TableAttributeRulerMatch,
)
from benchmarks import detect_eval

REGIONS = PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# What the prefilter counts: digits (ASCII, Arabic-Indic, full-width, superscript), letters, and any non-ASCII
# character (en dash, no-break space, euro sign); and the ASCII characters phone numbers and security text put
# between them, which it does not count.
DIGITISH = [*"0123456789", "\u0663", "\u0661", "\uff11", "\uff15", "\u00b2", *"abcxyzEXT", "\u2013", "\u00a0", "\u20ac"]
PUNCT = [*" +()-./[]~:#;,%$", "\t", "\n"]

PHONE_FRAGMENTS = [
    "+1 212 555 0100",
    "(212) 555-0100",
    "020 7946 0958",
    "+44 20 7946 0958",
    "+49 30 901820",
    "030 1234567",
    "+33 1 23 45 67 89",
    "01 23 45 67 89",
    "+91 98765 43210",
    "98765 43210",
    "(11) 91234-5678",
    "+972-3-1234567",
    "03-1234567",
    "1-800-555-0199",
    "4155550132",
    "555-0100/0101",
    "ext. 1234",
    "x22",
    "2024-01-02 08:00",
    "12:30",
    "10.0.4.17",
    "192.168.1.105 (339",
    "fe80::1ff:fe23:4567:890a",
    "$5551234567",
    "abc8005001234",
    "8005001234def",
    "3/10/2011",
    "211-227 (2003)",
    "call",
    "phone:",
    "at",
    "from",
    ",",
    "\n",
]
PHONE_TEXTS = st.lists(st.sampled_from(PHONE_FRAGMENTS), min_size=1, max_size=8).map(" ".join)


def phone_chars(text: str) -> int:
    return len(_PHONE_CHARS.findall(text))


@st.composite
def below_bound(draw: st.DrawFn, region: str) -> str:
    """Text with fewer digit-like characters than the region's bound, anywhere among punctuation."""
    digits = draw(st.lists(st.sampled_from(DIGITISH), max_size=_phone_min_chars(region) - 1))
    out = []
    for d in digits:
        out.append(draw(st.text(alphabet=PUNCT, max_size=3)))
        out.append(d)
    out.append(draw(st.text(alphabet=PUNCT, max_size=3)))
    return "".join(out)


# ------------------------------------------------------------------------------------ phone prefilter


def test_phone_bound_from_the_metadata() -> None:
    """The bound phonenumbers' metadata gives: 3 to 5 digit-like characters for the default regions."""
    bounds = {region: _phone_min_chars(region) for region in REGIONS}
    assert all(3 <= b <= 5 for b in bounds.values()), bounds
    assert _phone_min_chars("ZZ") >= 3  # numbers with a + only


@pytest.mark.parametrize("region", REGIONS)
def test_short_digit_strings_are_never_valid_numbers(region: str) -> None:
    """Exhaustive: no string of fewer digits than the bound, with or without +, ( or an IDD, is a valid number."""
    bound = _phone_min_chars(region)
    for prefix in ("", "+", "(", "0", "00", "+0"):
        for n in range(bound - len(prefix.strip("+("))):
            for digits in itertools.product("0123456789", repeat=n):
                candidate = prefix + "".join(digits)
                assert phone_chars(candidate) < bound
                try:
                    number = phonenumbers.parse(candidate, region, keep_raw_input=True)
                except phonenumbers.NumberParseException:
                    continue
                assert not phonenumbers.is_valid_number(number), (region, candidate)


@pytest.mark.parametrize("region", REGIONS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_text_below_the_bound_has_no_phone_number(region: str, data: st.DataObject) -> None:
    """The prefilter is a necessary condition: the stock matcher (VALID) finds nothing in such text."""
    text = data.draw(below_bound(region))
    assert phone_chars(text) < _phone_min_chars(region)
    assert list(PhoneNumberMatcher(text, region, leniency=Leniency.VALID)) == []
    assert PhoneRecognizer(supported_regions=(region,)).analyze(text, ["PHONE_NUMBER"]) == []


# ------------------------------------------------------------------------------- remembered verdicts


def phone_results(recognizer: PhoneRecognizer, text: str) -> list[tuple[object, ...]]:
    return sorted(
        (
            r.entity_type,
            r.start,
            r.end,
            r.score,
            r.analysis_explanation.textual_explanation,
            str(r.recognition_metadata),
        )
        for r in recognizer.analyze(text, ["PHONE_NUMBER"])
    )


@pytest.fixture(scope="module")
def phones() -> tuple[PhoneRecognizer, _BatchPhoneRecognizer]:
    """A stock phone recognizer and its batch copy, with one memo open for every example of the module."""
    stock = PhoneRecognizer()
    batch = _BatchPhoneRecognizer(stock)
    batch.begin_batch()
    return stock, batch


@SETTINGS
@given(PHONE_TEXTS)
def test_batch_phone_recognizer_equals_stock(phones: tuple[PhoneRecognizer, _BatchPhoneRecognizer], text: str) -> None:
    """Same results (spans, scores, explanations, recognizer id) as Presidio's recognizer, memo shared."""
    stock, batch = phones
    assert batch.id == stock.id
    assert phone_results(batch, text) == phone_results(stock, text)


@pytest.mark.parametrize("region", ["US", "GB", "DE"])
def test_remembered_verdicts_keep_the_tries_budget(region: str) -> None:
    """With any tries budget, even one that runs out mid-text, matches equal the stock matcher's."""
    text = " ".join(PHONE_FRAGMENTS * 3)
    memo: dict[tuple[object, ...], object] = {}
    list(_RememberingPhoneNumberMatcher(text, region, Leniency.VALID, memo))  # type: ignore[arg-type]
    assert memo
    for budget in range(40):
        stock = [(m.start, m.end) for m in PhoneNumberMatcher(text, region, leniency=Leniency.VALID, max_tries=budget)]
        ours = _RememberingPhoneNumberMatcher(text, region, Leniency.VALID, memo)  # type: ignore[arg-type]
        ours._max_tries = budget
        assert [(m.start, m.end) for m in ours] == stock, budget


# ----------------------------------------------------------------------------------- attribute ruler

WORDS = [
    "I",
    "ai",
    "n't",
    "not",
    "gon",
    "na",
    "is",
    "'s",
    "are",
    "'re",
    "was",
    "do",
    "does",
    "did",
    "have",
    "'ve",
    "that",
    "if",
    "nothin'",
    "y'",
    "y",
    "the",
    "a",
    "which",
    "to",
    "host",
    "logged",
    "running",
    "better",
    "Alice",
    "10.0.4.17",
    " ",
    "  ",
    "\n",
    ".",
    ",",
    "?",
    "'",
    "n\u2019t",
    "wanna",
    "gotta",
    "'d",
    "'m",
    "am",
    "be",
    "been",
    "nuthin'",
    "c'm",
    "on",
    "let",
    "got",
    "ta",
    "all",
    "there",
    "This",
]


@pytest.fixture(scope="module")
def pipeline() -> object:
    """The detector's own pipeline (attribute ruler with the table lookup)."""
    return load_pipeline(DEFAULT_MODEL)


def ruler_of(nlp: object) -> AttributeRuler:
    ruler = nlp.get_pipe("attribute_ruler")  # type: ignore[attr-defined]
    assert isinstance(vars(ruler)["match"], _TableAttributeRulerMatch)
    return ruler  # type: ignore[no-any-return]


def test_attribute_ruler_table_equals_matcher_on_the_corpora(pipeline: object) -> None:
    """On the labelled corpus, the sorted match list is the stock matcher's, doc by doc."""
    ruler = ruler_of(pipeline)
    texts = [str(r["text"]) for r in detect_eval.load_corpus()]
    docs = list(pipeline.pipe(texts, disable=["attribute_ruler", "lemmatizer", "ner"]))  # type: ignore[attr-defined]
    assert all(vars(ruler)["match"](d) == AttributeRuler.match(ruler, d) for d in docs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join))
def test_attribute_ruler_table_equals_matcher(pipeline: object, text: str) -> None:
    """Contractions, multi-token rules, spaces: same matches, and the same lemmas and POS after the ruler."""
    ruler = ruler_of(pipeline)
    doc = next(iter(pipeline.pipe([text], disable=["attribute_ruler", "lemmatizer", "ner"])))  # type: ignore[attr-defined]
    assert vars(ruler)["match"](doc) == AttributeRuler.match(ruler, doc)


@pytest.mark.filterwarnings("ignore:.*W108")  # the cleared ruler no longer sets POS
def test_attribute_ruler_falls_back_when_rules_change() -> None:
    """Rules added after loading are honoured: the stock matcher runs."""
    nlp = load_pipeline(DEFAULT_MODEL)
    ruler = ruler_of(nlp)
    ruler.add([[{"LOWER": "zorblax"}]], {"LEMMA": "zorb"})
    assert nlp("the zorblax")[-1].lemma_ == "zorb"
    rules = len(ruler.attrs)
    ruler.clear()  # as many rules again, different ones
    ruler.add_patterns([{"patterns": [[{"LOWER": "the"}]], "attrs": {"LEMMA": "THE"}}] * rules)
    assert nlp("the zorblax")[0].lemma_ == "THE"


# ---------------------------------------------------------------------------------- fresh results


@pytest.fixture(scope="module")
def ner() -> PresidioDetector:
    """The default detector on the installed spaCy pipeline."""
    return presidio(model=DEFAULT_MODEL)


def test_recognizers_make_fresh_results(ner: PresidioDetector) -> None:
    """Every recognizer of the batch engine returns new result objects on each call (no cache to corrupt)."""
    text = (
        "Alice Johnson mailed a@b.com from 10.0.0.1 via https://x.example/a on dc01.corp.local; call "
        "+1 212 555 0100; card 4111 1111 1111 1111; IBAN GB82 WEST 1234 5698 7654 32; mac 00:1A:2B:3C:4D:5E; "
        "ssn 536-22-1234; btc 1BoatSLRHtKNngkdXEeobR76b53LETtpyT; key AKIAZ7XQ4MBN2LT6WPRE, jwt "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl, ghp_R7tYk2LmQ9xW4zVb8NcP0sJdF3hG6aUe1iKo, "
        "Authorization: Bearer tk_8f2Kq0ZpX4vLm9Rw7Yc3Tn6B, -----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEF "
        "password=Hunter2x! S-1-5-21-1-2-3-500 CORP\\jdoe C:\\Users\\jdoe\\x.txt 1.2.3[.]4 user=jdoe on host WS-042"
    )
    artifacts = ner._artifacts(text)
    recognizers = ner._batch_analyzer.registry.recognizers
    assert all(_makes_fresh_results(r) or type(r).__name__ == "_BatchPhoneRecognizer" for r in recognizers)
    for r in recognizers:
        first = r.analyze(text, ner.entities, artifacts)
        second = r.analyze(text, ner.entities, artifacts)
        assert first, type(r).__name__
        assert not {id(x) for x in first} & {id(x) for x in second}


# ----------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def stock(ner: PresidioDetector) -> AnalyzerEngine:
    """Presidio's own engine on the full pipeline, with the detector's (stock) recognizers."""
    engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": DEFAULT_MODEL}],
        ner_model_configuration=ner.analyzer.nlp_engine.ner_model_configuration,
    )
    return AnalyzerEngine(registry=ner.analyzer.registry, nlp_engine=engine, supported_languages=["en"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PHONE_TEXTS, min_size=1, max_size=10))
def test_batch_equals_stock_engine_on_phone_text(
    ner: PresidioDetector, stock: AnalyzerEngine, texts: list[str]
) -> None:
    """detect_many over phone-heavy messages equals stock analyze per message (full pipeline)."""
    expected = [
        ner.to_findings(
            stock.analyze(t, language="en", entities=ner.entities, score_threshold=ner.score_threshold), text=t
        )
        for t in texts
    ]
    assert ner.detect_many(texts) == expected


@pytest.mark.parametrize("region", ["US", "GB", "DE", "IN"])
def test_shared_candidate_search_equals_the_stock_matcher(region: str) -> None:
    """One candidate search shared by every region's matcher of a text gives each region the stock matches."""
    text = " ".join(PHONE_FRAGMENTS * 2)
    searches: dict[int, tuple[int, int] | None] = {}
    for other in ("US", "GB", "DE", "IN", "FR"):  # the searches filled by the other regions first
        list(_RememberingPhoneNumberMatcher(text, other, Leniency.VALID, {}, searches))  # type: ignore[arg-type]
    assert searches
    ours = _RememberingPhoneNumberMatcher(text, region, Leniency.VALID, {}, searches)  # type: ignore[arg-type]
    stock = PhoneNumberMatcher(text, region, leniency=Leniency.VALID)
    assert [(m.start, m.end, m.raw_string) for m in ours] == [(m.start, m.end, m.raw_string) for m in stock]
