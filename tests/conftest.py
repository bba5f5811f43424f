"""Suite-wide settings.

Hypothesis: no per-example deadline (CI machines are shared and their speed varies; speed is measured in
benchmarks/, never asserted here), and the too-slow health check off for the same reason. Set
HYPOTHESIS_PROFILE=thorough for many more examples per property.

Tests that need a real service or runtime carry a marker (``redis``: a ``redis-server`` binary; ``spark``: PySpark
and a Java runtime; ``dask``: a Dask LocalCluster). A developer without one sees them skipped; under CI (the ``CI``
environment variable set) such a skip is a failure, so CI always runs them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile(
    "thorough", parent=settings.get_profile("ci"), max_examples=2000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: Markers of tests that need a real service or runtime; skipping one of them fails the run under CI.
REQUIRED_IN_CI = frozenset({"redis", "spark", "dask"})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    """Under CI, a skipped test that needs a real service is reported as failed: CI must run it."""
    outcome = yield
    report = outcome.get_result()
    if not os.environ.get("CI") or not report.skipped:
        return
    needs = sorted(REQUIRED_IN_CI.intersection(mark.name for mark in item.iter_markers()))
    if needs and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: needs {', '.join(needs)}, which CI must provide, but it was skipped"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, None, None]:
    """Under CI, a whole test module skipped at import (``pytest.importorskip``) is a failure too."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid}: skipped at collection, but CI must run every test module"


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """Under tests/, only ``test_*.py`` modules are collected: helper scripts are not imported for doctests."""
    if collection_path.suffix == ".py" and collection_path.name != "conftest.py":
        return not collection_path.name.startswith("test_") or None
    return None
