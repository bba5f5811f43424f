"""anonymizer.detect inside the engine: detector hits are tokenized, restored, and share tokens with data."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer
from anonymizer.detect import DEFAULT_MODEL, PresidioDetector, from_kibana_rules, presidio

PEOPLE = ["Alice Johnson", "Rahul Mehta", "Maria Garcia", "John Smith"]
FRAGMENTS = [
    *PEOPLE,
    "jdoe@corp.local",
    "ops@acme.com",
    "10.0.4.17",
    "2001:db8::7334",
    "https://wiki.corp.local/display/SEC",
    "http://malicious-updates.xyz/payload.bin",
    "dc01.corp.local",
    "logged in from",
    "please check",
    "on host",
    "Severity high.",
    "and",
    ",",
]
TEXTS = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=10).map(" ".join)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def detector() -> PresidioDetector:
    """The default detector with the installed spaCy pipeline."""
    return presidio(model=DEFAULT_MODEL)


@pytest.fixture(scope="module", params=["uuid", "placeholder", "mask"])
def engine(request: pytest.FixtureRequest, detector: PresidioDetector) -> Anonymizer:
    """An engine with the detector, for each token strategy that needs no key."""
    return Anonymizer(detectors=[detector], tokens=request.param)


@SETTINGS
@given(TEXTS)
def test_detector_hits_never_leak_and_restore_exactly(
    engine: Anonymizer, detector: PresidioDetector, text: str
) -> None:
    """No span the detector found survives in anonymize_text's output, and deanonymize gives the text back."""
    session = engine.session()
    out = session.anonymize_text(text)
    for f in detector.detect(text):
        assert text[f.start : f.end] not in out
    assert session.deanonymize(out) == text


@SETTINGS
@given(st.lists(TEXTS, min_size=1, max_size=6))
def test_batched_texts_equal_one_by_one(engine: Anonymizer, texts: list[str]) -> None:
    """anonymize_texts (detect_many) tokenizes the same originals as anonymize_text per text, and restores."""
    a, b = engine.session(), engine.session()
    batched = a.anonymize_texts(texts)
    singly = [b.anonymize_text(t) for t in texts]
    assert sorted(a.replacements.values()) == sorted(b.replacements.values())
    assert [a.deanonymize(o) for o in batched] == texts
    assert [b.deanonymize(o) for o in singly] == texts


@SETTINGS
@given(st.sampled_from(PEOPLE), TEXTS, st.booleans())
def test_one_token_per_person_across_data_and_text(
    engine: Anonymizer, detector: PresidioDetector, name: str, rest: str, data_first: bool
) -> None:
    """A person named in data (user.name) and found in text by the detector gets one token."""
    text = f"Please ask {name} about the alert. {rest}"
    if not any(text[f.start : f.end] == name for f in detector.detect(text)):
        return  # the model did not tag the name in this context: nothing to unify
    session = engine.session()
    if data_first:
        data = session.anonymize_data({"user.name": name})
        out = session.anonymize_text(text)
    else:
        out = session.anonymize_text(text)
        data = session.anonymize_data({"user.name": name})
    token = data["user.name"]
    assert token in out
    assert name not in out
    assert [t for t, o in session.replacements.items() if o == name] == [token]


def test_person_in_text_only_is_tokenized(engine: Anonymizer) -> None:
    """A name only the NER model knows about is replaced and restored."""
    session = engine.session()
    text = "Maria Garcia logged in from 10.0.4.17 and mailed jdoe@corp.local."
    out = session.anonymize_text(text)
    for value in ("Maria Garcia", "10.0.4.17", "jdoe@corp.local"):
        assert value not in out
    assert session.deanonymize(out) == text


def test_kibana_rules_detector_in_the_engine() -> None:
    """A Kibana RegExp rule's entity class shapes placeholder tokens."""
    rules = [{"type": "RegExp", "pattern": r"WS-[A-Z]+-\d+", "entityClass": "HOST_NAME", "enabled": True}]
    session = Anonymizer(detectors=[from_kibana_rules(rules)], tokens="placeholder").session()
    out = session.anonymize_text("Isolate WS-FIN-042 now; WS-FIN-042 beacons.")
    assert "WS-FIN-042" not in out
    assert "HOST_NAME" in out
    assert session.deanonymize(out) == "Isolate WS-FIN-042 now; WS-FIN-042 beacons."
