"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with one character replaced, deleted or inserted."""
    i = draw(st.integers(0, len(text) - 1))
    op = draw(st.sampled_from(["replace", "delete", "insert"]))
    ch = draw(st.characters(codec="utf-8"))
    if op == "replace":
        return text[:i] + ch + text[i + 1 :]
    if op == "delete":
        return text[:i] + text[i + 1 :]
    return text[:i] + ch + text[i:]
