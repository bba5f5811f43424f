"""Suite-wide Hypothesis settings: no per-example deadline (CI machines are shared and their speed varies; speed is
measured in benchmarks/, never asserted here), and the too-slow health check off for the same reason.

Set HYPOTHESIS_PROFILE=thorough for many more examples per property.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile(
    "thorough", parent=settings.get_profile("ci"), max_examples=2000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
