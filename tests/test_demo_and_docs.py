"""`make demo` and the README: both must keep working as written."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from netid.demo import run_demo
from netid.testing.leaks import find_values, personal_value_forms

ROOT = Path(__file__).resolve().parent.parent


def test_demo_answers_and_leaks_nothing(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = run_demo(Console(file=out, width=120), out_dir=str(tmp_path), seed=11)
    over18_and_name, wrong_name, sign_in = summary["answers"]
    assert dict(over18_and_name.predicates) == {"age_over_18": True, "name_equals": True}
    assert dict(wrong_name.predicates) == {"name_equals": False}
    assert sign_in.subject and sign_in.credential_kind == "rp"
    assert summary["leaks"] == []

    written = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    assert set(written) >= {
        "request.jwt",
        "presentation.json",
        "issuer-jwks.json",
        "status-list.jwt",
        "answers.json",
    }

    from netid.testing.cards import make_card

    person = make_card(11).person
    forms = personal_value_forms(personal_number=person.personal_number, date_of_birth=person.date_of_birth)
    # what the app received (the console is the card holder's own view of their card)
    assert find_values(written.values(), forms) == []
    # positive control: the scanner does see through base64url — the name the shop typed is in its request
    assert find_values([written["request.jwt"]], {"full name": person.full_name}) == ["full name"]
    # and the console shows only the masked number
    assert person.personal_number not in out.getvalue()
    assert person.personal_number[:6] + "*" * 12 in out.getvalue()


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


@pytest.mark.parametrize("doc", ["README.md"])
def test_documented_examples_run(doc: str) -> None:
    blocks = _python_blocks((ROOT / doc).read_text(encoding="utf-8"))
    assert blocks, f"{doc} has no python examples"
    namespace: dict[str, object] = {}
    for block in blocks:  # blocks build on each other, as a reader would run them
        exec(compile(block, f"{doc}:example", "exec"), namespace)
