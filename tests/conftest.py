"""Suite-wide settings. Hypothesis runs a bounded number of examples with no per-example deadline:
the machine is shared (2 cores) and timing is what bench/ measures, not tests.

``NETID_HYPOTHESIS=thorough`` runs 20x the examples, for a deliberate hunt before a release. Under mutmut
(``make mutation``, docs/mutation.md), which sets ``MUTANT_UNDER_TEST`` in every process it runs tests
in, the ``mutation`` profile runs 10 fixed examples per property: a mutant is judged by the same examples
each time, and the examples the properties draw cost seconds per mutant instead of tens of seconds."""

import os

import pytest
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
settings.register_profile(
    "mutation",
    max_examples=10,
    deadline=None,
    derandomize=True,  # the same examples for every mutant: its verdict does not depend on the draw
    database=None,  # and no example one mutant failed on is replayed against the next
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
MUTATION_RUN = "MUTANT_UNDER_TEST" in os.environ
if MUTATION_RUN:
    settings.load_profile("mutation")
else:
    settings.load_profile("thorough" if os.environ.get("NETID_HYPOTHESIS") == "thorough" else "netid")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut, cap the properties that ask for more examples themselves (``@settings(max_examples=
    300)``) at the profile's: an explicit setting outranks any profile. Hypothesis keeps a test's settings
    on the test function, where it reads them when the test runs."""
    if not MUTATION_RUN:
        return
    cap = settings.get_profile("mutation").max_examples
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples > cap:
            test._hypothesis_internal_use_settings = settings(own, max_examples=cap)
