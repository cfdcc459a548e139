"""Suite-wide settings. Hypothesis runs a bounded number of examples with no per-example deadline:
the machine is shared (2 cores) and timing is what bench/ measures, not tests.

``NETID_HYPOTHESIS=thorough`` runs 20x the examples, for a deliberate hunt before a release."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "netid",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("thorough" if os.environ.get("NETID_HYPOTHESIS") == "thorough" else "netid")
