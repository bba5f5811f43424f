"""anonymizer.detect security domain: secrets, identities, hosts, network, analytic terms kept, rule limits."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presidio_analyzer import Pattern

from anonymizer import Anonymizer
from anonymizer.detect import (
    DEFAULT_ENTITIES,
    AnalyticTerms,
    PresidioDetector,
    ValuePatternRecognizer,
    default_recognizers,
    from_kibana_rules,
    presidio,
)
from anonymizer.detect.kibana_rules import MAX_PATTERN_SIZE, regex_size
from anonymizer.detect.network import refang
from anonymizer.errors import DetectorError
from benchmarks import detect_eval


@pytest.fixture(scope="module")
def patterns() -> PresidioDetector:
    """The pattern-only detector."""
    return presidio(model=None)


def found(det: PresidioDetector, text: str) -> list[tuple[str, str]]:
    """(class, text) of each finding."""
    return [(f.entity_class, text[f.start : f.end]) for f in det.detect(text)]


# (text, the exact span that must be reported, its class)
CASES = [
    ("key AKIAZ7XQ4MBN2LT6WPRE leaked", "AKIAZ7XQ4MBN2LT6WPRE", "SECRET"),
    (
        "aws_secret_access_key = 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",
        "q8Vd3Lr+Zx0PmW7yTk2Hs9Fa4GjNc6BeU1oRiXtE",
        "SECRET",
    ),
    (
        "tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig_nature-1 ok",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig_nature-1",
        "SECRET",
    ),
    ("Authorization: Bearer abc123DEF456ghi789JKL0", "abc123DEF456ghi789JKL0", "SECRET"),
    ("Authorization: Basic YWRtaW46aHVudGVyMg==", "YWRtaW46aHVudGVyMg==", "SECRET"),
    ("clone https://bot:s3cr3tT0k@git.example.org/x.git", "bot:s3cr3tT0k", "SECRET"),
    ("xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp in chat", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "SECRET"),
    ("glpat-Ab3dE5fG7hJ9kL1mN3pQ was used", "glpat-Ab3dE5fG7hJ9kL1mN3pQ", "SECRET"),
    ("npm_aB3dE5fG7hJ9kL1mN3pQ5sT7vW9xY1zA3bC5 leaked", "npm_aB3dE5fG7hJ9kL1mN3pQ5sT7vW9xY1zA3bC5", "SECRET"),
    ("api_key: 9f2Kq0ZpX4vLm9Rw7Yc3", "9f2Kq0ZpX4vLm9Rw7Yc3", "SECRET"),
    ("password=Winter2024!", "Winter2024!", "PASSWORD"),
    ('{"user": "x", "password": "hunter 2"}', "hunter 2", "PASSWORD"),
    ("her password is Kangaroo42, sadly", "Kangaroo42", "PASSWORD"),
    ("mysql -u app -pS3cret! db", "S3cret!", "PASSWORD"),
    (
        "SID S-1-5-21-3623811015-3361044348-30300820-1013 added",
        "S-1-5-21-3623811015-3361044348-30300820-1013",
        "WINDOWS_SID",
    ),
    ("logon by CORP\\jsmith today", "CORP\\jsmith", "USER_NAME"),
    ("Account Name: mlopez", "mlopez", "USER_NAME"),
    ("Failed password for invalid user oracle from x", "oracle", "USER_NAME"),
    ("ticket for jdoe@CORP.LOCAL issued", "jdoe@CORP.LOCAL", "EMAIL_ADDRESS"),
    ("kinit svc_web@CORP then", "svc_web@CORP", "USER_NAME"),
    ("ran C:\\Users\\hkumar\\Downloads\\x.exe", "hkumar", "USER_NAME"),
    ("cat /home/lwagner/.ssh/id_rsa", "lwagner", "USER_NAME"),
    ("seen on host WS-FIN-042 twice", "WS-FIN-042", "HOST_NAME"),
    ("Workstation Name: LT-7", "LT-7", "HOST_NAME"),
    ("copy to \\\\FS02\\share", "FS02", "HOST_NAME"),
    ("replication from DC02 failed", "DC02", "HOST_NAME"),
    ("beacon to 2001:db8::8a2e:370:7334: every minute", "2001:db8::8a2e:370:7334", "IP_ADDRESS"),
    ("block 185.220.101[.]34 now", "185.220.101[.]34", "IP_ADDRESS"),
    ("visit hxxps://evil[.]com/a today", "hxxps://evil[.]com/a", "URL"),
    ("sender bill[@]paypa1[.]com", "bill[@]paypa1[.]com", "EMAIL_ADDRESS"),
]


@pytest.mark.parametrize(("text", "value", "cls"), CASES)
def test_security_values_are_found(patterns: PresidioDetector, text: str, value: str, cls: str) -> None:
    """Each security shape is reported, exactly its sensitive part with its class, or inside a wider finding
    (a URL that carries credentials is hidden whole)."""
    hits = found(patterns, text)
    assert (cls, value) in hits or any(value in v and c == "URL" for c, v in hits), hits


ANALYTIC_TEXTS = [
    "SHA256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 on CVE-2023-23397 (T1071.001)",
    "Event 4625 from powershell.exe -enc at 2024-11-03 02:14 via port 445",
    "Token for S-1-5-18 and S-1-5-32-544 spawned cmd.exe from C:\\Windows\\System32\\svchost.exe",
    "Run as NT AUTHORITY\\SYSTEM: /usr/bin/python3 then /etc/passwd read on Tuesday at 10:32 AM",
    "The rule Suspicious PowerShell Encoded Command fired; MD5 5d41402abc4b2a76b9719d911017c592",
    "process.name: rundll32.exe event.code: 4688 user.name field and host.name field in ECS",
    "Check HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run and the Sysmon config for Event ID 10",
]


@pytest.mark.parametrize("text", ANALYTIC_TEXTS)
def test_analytic_terms_stay_visible(patterns: PresidioDetector, text: str) -> None:
    """Hashes, CVE/ATT&CK ids, event codes, processes, system paths, well-known SIDs, dates are not hidden."""
    assert found(patterns, text) == []


def test_ner_does_not_hide_products_or_processes() -> None:
    """spaCy's guesses at tool names, cmdlets and processes are vetoed; real names are not."""
    det = presidio()
    text = "Maria Garcia saw Mimikatz and Cobalt Strike; run Get-WinEvent and check powershell.exe on the box."
    assert [(c, v) for c, v in found(det, text) if c == "PERSON"] == [("PERSON", "Maria Garcia")]


def test_keep_none_turns_the_veto_off(patterns: PresidioDetector) -> None:
    """presidio(keep=None) reports what the recognizers found, analytic or not."""
    keep = AnalyticTerms()
    assert keep.is_analytic("CVE-2024-3400", "HOST_NAME")
    assert not keep.is_analytic("CVE-2024-3400", "SECRET")  # secrets are never vetoed
    assert keep.is_analytic("svchost.exe", "URL") and not keep.is_analytic("evil.com", "URL")


def test_recognizers_can_be_picked_disabled_and_extended() -> None:
    """Recognizers are Presidio recognizers: drop one by name, replace the list, add your own."""
    text = "password: Winter2024! on WS-FIN-042, ticket INC123456"
    assert ("HOST_NAME", "WS-FIN-042") not in found(presidio(model=None, disable=["HostNameRecognizer"]), text)
    only = [r for r in default_recognizers() if r.name == "PasswordRecognizer"]
    assert found(presidio(model=None, recognizers=only), text) == [("PASSWORD", "Winter2024!")]
    ticket = ValuePatternRecognizer(
        "TICKET_ID", name="TicketRecognizer", patterns=[Pattern("t", r"(?i:ticket)\s+(?P<value>INC\d{6})", 0.8)]
    )
    det = presidio(model=None, extra_recognizers=[ticket], entities=[*DEFAULT_ENTITIES, "TICKET_ID"])
    assert ("TICKET_ID", "INC123456") in found(det, text)
    with pytest.raises(DetectorError, match="NoSuchRecognizer"):
        presidio(model=None, disable=["NoSuchRecognizer"])


def test_refang() -> None:
    """Defanged indicators refang to what they stand for."""
    assert refang("hxxps://a-b[.]example[.]com/x") == "https://a-b.example.com/x"
    assert refang("10.0.0[.]1") == "10.0.0.1"
    assert refang("a[at]b[dot]com") == "a@b.com"


ALNUM = string.ascii_letters + string.digits
PROSE = st.sampled_from(["the key", "leaked:", "see", "in", "config", "(", ")", ",", "and then", "token"])


@st.composite
def secret_messages(draw: st.DrawFn) -> tuple[str, str]:
    """A message with one generated secret of a well-known shape somewhere in prose."""
    kind = draw(st.sampled_from(["aws", "ghp", "jwt", "stripe", "password"]))
    body = draw(st.text(ALNUM, min_size=40, max_size=40))
    secret = {
        "aws": "AKIA" + body[:16].upper().replace("0", "Q").replace("1", "W").replace("8", "E").replace("9", "R"),
        "ghp": "ghp_" + body[:36],
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJ" + body[:20] + "." + body[20:],
        "stripe": "sk_live_" + body[:24],
        "password": "P@" + body[:10] + "!",
    }[kind]
    shown = f"password={secret}" if kind == "password" else secret
    before = " ".join(draw(st.lists(PROSE, max_size=4)))
    after = " ".join(draw(st.lists(PROSE, max_size=4)))
    return f"{before} {shown} {after}", secret


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret_messages())
def test_generated_secrets_never_reach_the_model(patterns: PresidioDetector, message: tuple[str, str]) -> None:
    """A secret of a known shape anywhere in prose is replaced, and restore gives the exact message back."""
    text, secret = message
    session = Anonymizer(detectors=[patterns]).session()
    safe = session.anonymize_text(text)
    assert secret not in safe
    assert session.deanonymize(safe) == text


def test_dev_set_targets(patterns: PresidioDetector) -> None:
    """On the development set, pattern-only mode hides >= 0.95 of non-person spans and keeps >= 0.95 of terms."""
    dev = detect_eval.load_marked(detect_eval.SECURITY_DEV)
    q = detect_eval.quality(patterns.detect_many([m.text for m in dev]), dev)
    assert q.kept_share >= 0.95
    assert sum(q.hidden.values()) - q.hidden["PERSON"] >= 0.95 * (sum(q.gold.values()) - q.gold["PERSON"])


@pytest.mark.parametrize("pattern", ["((a{1000}){1000}){1000}", "(?:x{500}){500}", "a{50001}", "x" * 10_001])
def test_kibana_regex_too_large_is_refused_before_compiling(pattern: str) -> None:
    """A rule that would compile to a huge program is refused with a DetectorError naming the rule."""
    rules = [
        {"type": "RegExp", "pattern": r"WS-\d+", "entityClass": "HOST", "enabled": True},
        {"type": "RegExp", "pattern": pattern, "entityClass": "X", "enabled": True},
    ]
    with pytest.raises(DetectorError, match=r"^rules\[1\]\.pattern: RegExp rule") as info:
        from_kibana_rules(rules)
    assert "aaaa" not in str(info.value) and "xxxx" not in str(info.value)


@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 60))
def test_regex_size_multiplies_nested_counts(a: int, b: int, c: int) -> None:
    """Nested counted repeats multiply, alternatives and sequences add, escapes and classes are one atom."""
    assert regex_size(f"((a{{{a}}}){{{b}}}){{{c}}}") == a * b * c
    assert regex_size(f"(?:[a-z\\]]|\\d){{{a}}}x") == 2 * a + 1
    assert regex_size(r"\p{L}{3}") == 3


def test_ordinary_rules_stay_under_the_size_limit() -> None:
    """Typical Kibana rules are far below the limit."""
    for p in [r"[\w.+-]+@[\w-]+\.[\w.]+", r"\b(?:\d{1,3}\.){3}\d{1,3}\b", r"WS-[A-Z]{2,4}-\d{3}", r"S-1-5-21(-\d+){4}"]:
        assert regex_size(p) < MAX_PATTERN_SIZE // 100


def test_speedups_off_gives_the_same_findings() -> None:
    """presidio(speedups=False) runs spaCy's and phonenumbers' own code and finds exactly the same."""
    texts = [m.text for m in detect_eval.load_marked(detect_eval.SECURITY_DEV)]
    fast, plain = presidio(), presidio(speedups=False)
    assert plain._batch_analyzer is plain.analyzer and not plain._batch_phones
    assert "_TableAttributeRulerMatch" not in repr(
        vars(plain.analyzer.nlp_engine.nlp["en"].get_pipe("attribute_ruler"))
    )
    assert fast.detect_many(texts) == plain.detect_many(texts) == [plain.detect(t) for t in texts]


@pytest.mark.parametrize(
    "module",
    [
        "analytic",
        "analyzer",
        "hosts",
        "identities",
        "kibana_rules",
        "network",
        "operator",
        "patterns",
        "pipeline",
        "secrets",
        "speedups",
    ],
)
def test_detect_modules_document_their_public_names(module: str) -> None:
    """Every module of the detect package has a docstring, and so has each name in its __all__."""
    import importlib
    import inspect

    mod = importlib.import_module(f"anonymizer.detect.{module}")
    assert mod.__doc__
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module}.{name}"
