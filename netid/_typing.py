"""Type aliases shared across the package."""

from collections.abc import Callable

#: a source of random bytes, injected so protocols are deterministic under test (``os.urandom`` in use)
Rng = Callable[[int], bytes]
