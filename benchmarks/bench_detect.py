"""Free-text detection: our batch path against Presidio's ``AnalyzerEngine.analyze`` called per message.

Both sides use the same recognizers, entities and threshold; the baseline is Presidio's own
``SpacyNlpEngine`` with the full pipeline (parser included), called once per message, as Presidio users do.
Ours is ``PresidioDetector.detect_many``: distinct texts once, ``nlp.pipe`` with a batch size, no parser.
The findings must be identical (the run raises otherwise).

``detect_pattern_only_speedup_vs_presidio`` times ``presidio(model=None).detect_many`` against the same
per-message baseline; its findings must equal the baseline's pattern findings (all but spaCy's NER) in span
and class (scores differ: without a model there are no lemmas for Presidio's context words).

The messages are security-assistant traffic: alerts (the same rule firing on the same host and user gives the
same text again), analyst questions and model answers (unique). ``detect_speedup_vs_presidio`` is measured on
that mix; ``detect_speedup_distinct`` on as many messages that are all distinct (batching and the pipeline cut
alone, no deduplication).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from anonymizer.detect import DEFAULT_MODEL, PresidioDetector, presidio
from anonymizer.findings import Finding

HOSTS = ["WS-FIN-042", "srv-db-01", "dc01.corp.local", "exch02.corp.local", "vpn-gw.branch.lan", "LAPTOP-7QK2M"]
USERS = ["jdoe", "svc_backup", "a.johnson", "mgarcia", "wchen"]
IPS = ["10.0.4.17", "192.168.1.105", "203.0.113.45", "185.220.101.34", "fe80::1ff:fe23:4567:890a"]
RULES = ["Brute Force Attempt", "Suspicious PowerShell Encoded Command", "Unusual Network Connection"]
PEOPLE = ["Alice Johnson", "Rahul Mehta", "Maria Garcia", "Wei Chen", "John Smith", "Emily Brown", "Tom Becker"]
MAILS = ["alice.johnson@acme.com", "jdoe@corp.local", "secops@acme.example", "helpdesk@it.internal"]
URLS = ["https://wiki.corp.local/display/SEC/Runbook", "http://malicious-updates.xyz/payload.bin"]

ALERT = "Alert: {rule} on host {host} (user {user}, source IP {ip}). Severity high."
QUESTION = (
    "Can you check why {person} logged in to {host} from {ip} at {hh:02d}:{mm:02d} UTC? {n} failed attempts "
    "before that; the account is {user} and the owner is {mail}. The script in C:\\Users\\{user}\\Downloads "
    "had password={secret} and key {key}."
)
SECRETS = ["Winter2024!", "P@ssw0rd#77", "Tr0ub4dor&3"]
KEYS = ["AKIAZ7XQ4MBN2LT6WPRE", "ghp_R7tYk2LmQ9xW4zVb8NcP0sJdF3hG6aUe1iKo", "sk_live_51Mz8QkLp2Xw7RtYv4NcBd9Hf"]
ANSWER = (
    "I recommend isolating {host} and resetting the password of {user}. {person} should review the runbook "
    "at {url} before re-enabling the account; traffic from {ip} ({n} connections) should be blocked."
)


def messages(count: int, *, distinct: bool, seed: int = 7) -> list[str]:
    """``count`` messages: 60% alerts (repeating), 40% questions and answers; all unique when ``distinct``."""
    rng = random.Random(seed)
    # A few noisy (rule, host, user, ip) combinations raise most alerts: draw alert sources Zipf-like.
    sources = [(r, h, u, ip) for r in RULES for h in HOSTS for u in USERS for ip in IPS]
    rng.shuffle(sources)
    weights = [1 / (rank + 1) for rank in range(len(sources))]
    out: list[str] = []
    for i in range(count):
        rule, host, user, ip = rng.choices(sources, weights)[0]
        values = {
            "rule": rule,
            "host": host,
            "user": user,
            "ip": ip,
            "person": rng.choice(PEOPLE),
            "mail": rng.choice(MAILS),
            "url": rng.choice(URLS),
            "secret": rng.choice(SECRETS),
            "key": rng.choice(KEYS),
            "hh": rng.randrange(24),
            "mm": rng.randrange(60),
            "n": rng.randrange(2, 500),
        }
        kind = rng.random()
        if kind < 0.6:
            text = ALERT.format(**values)
            if distinct:
                text += f" Event {i}."
        else:
            text = (QUESTION if kind < 0.8 else ANSWER).format(**values)
            if distinct:
                text += f" Ref {i}."
        out.append(text)
    return out


def _timed(fn: Callable[[], list[list[Finding]]]) -> tuple[float, list[list[Finding]]]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _spans(found: list[list[Finding]]) -> list[list[tuple[int, int, str]]]:
    return [[(f.start, f.end, f.entity_class) for f in per_text] for per_text in found]


def _check_equal(ours: list[list[Finding]], base: list[list[Finding]], *, spans_only: bool = False) -> None:
    if spans_only:  # without a model there are no lemmas, so Presidio's context words raise no score
        ours, base = _spans(ours), _spans(base)  # type: ignore[assignment]
    if ours != base:
        bad = next(i for i, (a, b) in enumerate(zip(ours, base, strict=True)) if a != b)
        raise AssertionError(f"detect_many differs from per-message analyze at message {bad}")


def _ratios(
    baseline: Callable[[str], list[Finding]],
    contenders: dict[str, tuple[PresidioDetector, Callable[[str], list[Finding]] | None]],
    texts: Sequence[str],
    rounds: int,
) -> dict[str, tuple[float, float]]:
    """Median over interleaved rounds of (baseline time / contender time, contender time) per contender.

    Each round times the per-message baseline, then every contender, back to back, so a slow spell of a shared
    machine hits both sides of each ratio. Every contender's findings are checked against its reference (the
    baseline's own findings when ``None``).
    """
    for det, _ in contenders.values():
        det.detect_many(texts[:20])  # warm-up
    for t in texts[:20]:
        baseline(t)
    per: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(rounds):
        base_s, base = _timed(lambda: [baseline(t) for t in texts])
        for name, (det, reference) in contenders.items():
            ours_s, ours = _timed(lambda det=det: det.detect_many(texts))  # type: ignore[misc]
            expected = base if reference is None else [reference(t) for t in texts]
            _check_equal(ours, expected, spans_only=reference is not None)
            per[name].append((base_s / ours_s, ours_s))
    return {name: sorted(values)[len(values) // 2] for name, values in per.items()}


def run(quick: bool) -> dict[str, float | int | str]:
    """Time both paths on the same messages (1,000; 300 when ``quick``) and check identical findings."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    count = 300 if quick else 1000
    det = presidio()
    # Presidio's own engine: it loads the full installed pipeline itself (it is installed, so no download).
    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": DEFAULT_MODEL}],
        ner_model_configuration=det.analyzer.nlp_engine.ner_model_configuration,
    )
    stock = AnalyzerEngine(registry=det.analyzer.registry, nlp_engine=nlp_engine, supported_languages=["en"])

    def baseline(text: str) -> list[Finding]:
        results = stock.analyze(text, language="en", entities=det.entities, score_threshold=det.score_threshold)
        return det.to_findings(results, text=text)

    # Pattern-only mode against the same per-message baseline: its findings must be the baseline's pattern
    # findings (what the two have in common: every recognizer but spaCy's NER).
    patterns = presidio(model=None)
    ner_classes = {"PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"}

    def baseline_patterns(text: str) -> list[Finding]:
        # spaCy's recognizer comes last in both registries, so the pattern recognizers' rule numbers agree.
        results = stock.analyze(text, language="en", entities=det.entities, score_threshold=det.score_threshold)
        return det.to_findings([r for r in results if r.entity_type not in ner_classes], text=text)

    rounds = 3
    mixed = messages(count, distinct=False)
    on_mixed = _ratios(baseline, {"ner": (det, None), "patterns": (patterns, baseline_patterns)}, mixed, rounds)
    distinct = messages(count, distinct=True)
    on_distinct = _ratios(baseline, {"ner": (det, None)}, distinct, rounds)
    return {
        "detect_messages": count,
        "detect_rounds": rounds,
        "detect_distinct_share": round(len(set(mixed)) / count, 3),
        "detect_speedup_vs_presidio": round(on_mixed["ner"][0], 2),
        "detect_msgs_per_s_ours": round(count / on_mixed["ner"][1], 1),
        "detect_msgs_per_s_presidio": round(count / (on_mixed["ner"][0] * on_mixed["ner"][1]), 1),
        "detect_speedup_distinct": round(on_distinct["ner"][0], 2),
        "detect_pattern_only_speedup_vs_presidio": round(on_mixed["patterns"][0], 2),
        "detect_msgs_per_s_pattern_only": round(count / on_mixed["patterns"][1], 1),
        "detect_model": DEFAULT_MODEL,
    }


if __name__ == "__main__":
    import sys

    for key, value in run(quick="--quick" in sys.argv).items():
        print(f"{key}: {value}")
