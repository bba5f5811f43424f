"""Minting: the per-token cost of tokenizing many digit-only originals stays flat as their number grows.

Digit-only originals (numeric user names, ids) are made of characters a UUID can hold, so every new token is
checked against them. Reports ``mint_numeric_growth_1000_to_20000``: the cost per token of one call with 20,000
numeric user names over that of a call with 1,000, in the same process (a check against every original would make
it about 20; linear is about 1). ``mint_numeric_us_per_token`` is the per-token cost at 20,000.
Run alone with ``python benchmarks/bench_tokens.py [--quick]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from anonymizer import Anonymizer


def _per_token(engine: Anonymizer, names: list[str], calls: int) -> float:
    """Seconds per token of ``calls`` calls, each in a new conversation tokenizing every name."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        engine.session().anonymize_data({"user.name": names})
    return (time.perf_counter_ns() - start) / 1e9 / calls / len(names)


def run(quick: bool) -> dict[str, float]:
    """Median of interleaved rounds: a 20,000-name call against twenty 1,000-name calls."""
    small, big = 1_000, 20_000
    rounds = 3 if quick else 7
    engine = Anonymizer(tokens="uuid")
    small_names = [str(100_000 + i) for i in range(small)]
    big_names = [str(100_000 + i) for i in range(big)]
    ratios: list[float] = []
    big_s: list[float] = []
    for _ in range(rounds):
        a = _per_token(engine, small_names, big // small)
        b = _per_token(engine, big_names, 1)
        ratios.append(b / a)
        big_s.append(b)
    return {
        "mint_numeric_growth_1000_to_20000": round(statistics.median(ratios), 2),
        "mint_numeric_us_per_token": round(statistics.median(big_s) * 1e6, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv)))
