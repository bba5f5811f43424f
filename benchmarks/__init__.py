"""Benchmarks (``python benchmarks/run.py``) and the measurement code they share with the tests: the detection
evaluation sets and scores (:mod:`detect_eval`), the generated batch export (:mod:`batch_export`) and the CLI's
peak-memory measurement (:mod:`bench_cli`). Tests import these from here; nothing outside ``tests/`` imports
from ``tests/``."""
