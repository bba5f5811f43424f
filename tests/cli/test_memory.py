"""Peak memory of ``anonymizer redact`` does not grow with input size (the measurement, and the figures at scale:
benchmarks/bench_cli.py)."""

from __future__ import annotations

from benchmarks.bench_cli import measure


def test_peak_memory_is_flat_in_input_size() -> None:
    """Redacting 20,000 records peaks at no more than 1.3x the memory of redacting 2,000."""
    figures = measure(2_000, 20_000)
    assert figures["peak_rss_ratio"] <= 1.3, figures
