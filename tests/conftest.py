"""Suite-wide settings. Hypothesis runs a bounded number of examples with no per-example deadline:
the machine is shared (2 cores) and timing is what bench/ measures, not tests."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "netid",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("netid")
