"""Test kit placeholder."""
