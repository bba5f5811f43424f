"""Benchmark of ``anonymizer redact``: records/s and the peak-memory ratio between two export sizes.

Full mode: 10,000 vs 100,000 records (SPEC §9: peak memory flat in input size). Quick mode: 2,000 vs 20,000,
reported under the same keys with ``sizes`` saying which were used.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cli_memory import measure


def run(quick: bool) -> dict[str, float | int | str]:
    """Redact two exports in a subprocess; records/s (of the larger) and the peak-RSS ratio large/small."""
    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    figures = measure(small, large)
    return {
        "redact_records_per_s": round(float(figures["large_records_per_s"]), 1),
        "redact_peak_rss_ratio_10k_100k": round(float(figures["peak_rss_ratio"]), 3),
        "redact_peak_rss_kib": int(figures["large_peak_rss_kib"]),
        "sizes": f"{small} vs {large} records" + (" (quick mode)" if quick else ""),
    }


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
