"""Stream restore: a 1 MB model answer fed to the ``text`` restorer in 64-byte chunks, against a whole restore.

Reports ``stream_vs_whole_64b`` (stream time over whole-text time, target <= 3; the stream keeps its token
report, as ``session.stream("text")`` does), ``stream_vs_whole_64b_no_report`` (the same with ``report=False``),
``stream_vs_whole_with_report_64b`` (the stream with its report against ``restore_with_report`` of the whole text),
``stream_vs_whole_64b_placeholder`` and ``stream_vs_whole_64b_mask`` (``stream_vs_whole_64b`` with those tokens),
``stream_us_per_chunk`` (median cost of one ``feed``, target <= 2 us), ``stream_max_held`` (most characters
held back after a feed) next to ``stream_longest_token``, ``stream_vs_whole_1mb_line_10000`` (a 1 MB single-line
security NDJSON body holding 10,000 placeholder tokens, with the report, against a whole-text restore; target <= 3;
``_first``: the first stream of a fresh session, which builds the restorer's stream tables), ``stream_fast_path``
(``compiled`` when ``anonymizer._speedups`` was built, else ``python``) and, when it was compiled,
``stream_vs_whole_64b_pure_python`` (``stream_vs_whole_64b`` in a fresh interpreter with
``ANONYMIZER_PURE_PYTHON=1``: what a machine without a C compiler gets).
Run alone with ``python benchmarks/bench_stream.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time

from anonymizer import Anonymizer, FieldPolicy, Restorer, stream
from anonymizer.stream import restorer_for

_PROSE = (
    "the host was seen logging on from an internal address after the alert fired and the analyst "
    "checked process tree network events file hashes and the related user sessions before closing it"
)
_WORDS = _PROSE.split()


def _answer(tokens: list[str], size: int, rng: random.Random) -> str:
    """Model-like prose of about ``size`` characters with a token in ~1% of its words."""
    words: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(tokens) if rng.random() < 0.01 else rng.choice(_WORDS)
        words.append(w)
        n += len(w) + 1
    return " ".join(words)


def run(quick: bool) -> dict[str, float | int | str]:
    """Measure and return the figures (medians over several repetitions)."""
    figures = _answer_figures(quick)
    line = _one_line(3 if quick else 7)
    others = {f"stream_vs_whole_64b_{kind}": _other_tokens(kind, 3 if quick else 7) for kind in ("placeholder", "mask")}
    extra: dict[str, float | int | str] = {"stream_fast_path": "compiled" if stream.SPEEDUPS else "python"}
    if stream.SPEEDUPS:
        extra["stream_vs_whole_64b_pure_python"] = _pure_python(quick)
    return {**line, **others, **figures, **extra}


def _pure_python(quick: bool) -> float:
    """``stream_vs_whole_64b`` measured in a fresh interpreter that runs the Python fast path."""
    env = {**os.environ, "ANONYMIZER_PURE_PYTHON": "1"}
    command = [sys.executable, __file__, "--answer-only", *(["--quick"] if quick else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=True)
    figure = json.loads(done.stdout)["stream_vs_whole_64b"]
    assert isinstance(figure, float)
    return figure


def _answer_figures(quick: bool) -> dict[str, float | int | str]:
    """The figures of the 1 MB answer in 64-byte chunks (UUID tokens)."""
    rng = random.Random(7)
    policy = FieldPolicy.from_fields([{"field": "user.name", "allowed": True, "anonymized": True}])
    session = Anonymizer(policy=policy, tokens="uuid").session()
    tokens = [session.token_for(f"user-{i:04d}", field="user.name") for i in range(1000)]
    restorer = session.restorer
    text = _answer(tokens, 1_000_000, rng)
    body = text.encode()
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)]
    reps = 3 if quick else 7

    clock = time.perf_counter_ns

    def whole_once() -> int:
        t0 = clock()
        restorer.restore(text)
        return clock() - t0

    def whole_report_once() -> int:
        t0 = clock()
        restorer.restore_with_report(text)
        return clock() - t0

    def stream_once(report: bool) -> int:
        stream = restorer_for(restorer, "text", report=report)
        feed = stream.feed
        t0 = clock()
        for chunk in chunks:
            feed(chunk)
        stream.close()
        return clock() - t0

    # One pass that also times each feed (and watches the hold-back): slower, so kept apart from the ratios.
    per_feed: list[int] = []
    max_held = 0
    stream = restorer_for(restorer, "text")
    for chunk in chunks:
        t = clock()
        stream.feed(chunk)
        per_feed.append(clock() - t)
        max_held = max(max_held, stream.held)
    stream.close()

    # Interleaved rounds (whole, stream, stream without report): a slow spell of the machine hits all three.
    whole_ns: list[int] = []
    ratios: list[float] = []
    bare_ratios: list[float] = []
    reported_ratios: list[float] = []
    for _ in range(reps):
        whole = statistics.median([whole_once() for _ in range(3)])
        whole_ns.append(whole)
        streamed = stream_once(True)
        ratios.append(streamed / whole)
        bare_ratios.append(stream_once(False) / whole)
        reported_ratios.append(streamed / statistics.median([whole_report_once() for _ in range(3)]))

    whole = statistics.median(whole_ns)
    return {
        "stream_vs_whole_64b": round(statistics.median(ratios), 2),
        "stream_vs_whole_64b_no_report": round(statistics.median(bare_ratios), 2),
        "stream_vs_whole_with_report_64b": round(statistics.median(reported_ratios), 2),
        "stream_us_per_chunk": round(statistics.median(per_feed) / 1000, 3),
        "stream_max_held": max_held,
        "stream_longest_token": restorer.max_token_length,
        "stream_whole_ms_1mb": round(whole / 1e6, 2),
        "stream_chunks_1mb": len(chunks),
    }


def _other_tokens(kind: str, reps: int) -> float:
    """``stream_vs_whole_64b`` with tokens of another kind (``placeholder``, ``mask``): found by other means."""
    policy = FieldPolicy.from_fields([{"field": "user.name", "allowed": True, "anonymized": True}])
    session = Anonymizer(policy=policy, tokens=kind).session()
    tokens = [session.token_for(f"user-{i:04d}", field="user.name") for i in range(1000)]
    restorer = session.restorer
    text = _answer(tokens, 1_000_000, random.Random(7))
    body = text.encode()
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)]
    return _stream_ratio(restorer, text, "text", chunks, max(3, reps // 2))[1]


def _stream_ratio(restorer: Restorer, text: str, fmt: str, chunks: list[bytes], rounds: int) -> tuple[float, float]:
    """The time to stream ``chunks`` (format ``fmt``, with the report) over the time to restore ``text`` whole
    (median of three): the first round's, and the median over ``rounds``."""
    clock = time.perf_counter_ns

    def whole_once() -> int:
        t0 = clock()
        restorer.restore(text)
        return clock() - t0

    ratios = []
    for _ in range(rounds):
        whole = statistics.median([whole_once() for _ in range(3)])
        stream = restorer_for(restorer, fmt)
        t0 = clock()
        for chunk in chunks:
            stream.feed(chunk)
        stream.close()
        ratios.append((clock() - t0) / whole)
    return round(ratios[0], 2), round(statistics.median(ratios), 2)


def _one_line(reps: int) -> dict[str, float]:
    """A 1 MB answer on one line (security NDJSON) holding 10,000 placeholder tokens and many hyphenated words, in
    64-byte chunks with the report, against a whole-text restore of its payload (``stream_vs_whole_1mb_line``);
    ``_first``: the first stream of a fresh session's restorer, which builds its stream tables (a whole-text
    restore of a placeholder map needs none)."""
    session = Anonymizer(tokens="placeholder").session()
    tokens = [session.token_for(f"user-{i:05d}", field="user.name") for i in range(10_000)]
    rng = random.Random(3)
    words = [*_WORDS, "follow-up", "x86-64", "well-known", "re-run", "user_name", "host-01"]
    parts: list[str] = []
    size = 0
    while size < 1_000_000:
        word = tokens[len(parts) // 12 % len(tokens)] if len(parts) % 12 == 0 else rng.choice(words)
        parts.append(word)
        size += len(word) + 1
    text = " ".join(parts)
    body = json.dumps({"payload": text, "type": "content"}).encode() + b"\n"
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)]
    first, ratio = _stream_ratio(session.restorer, text, "security.ndjson", chunks, max(3, reps // 2))
    return {"stream_vs_whole_1mb_line_10000": ratio, "stream_vs_whole_1mb_line_10000_first": first}


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(json.dumps(_answer_figures(quick) if "--answer-only" in sys.argv else run(quick), indent=2))
