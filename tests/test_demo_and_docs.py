"""`make demo` and the README: both must keep working as written."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from rich.console import Console

from netid.demo import port_open, run_demo
from netid.testing.cards import make_card
from netid.testing.leaks import find_values, personal_value_forms

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() if Path("/proc").is_dir() else True


def test_demo_over_http_answers_leaks_nothing_and_leaves_nothing_running(tmp_path: Path) -> None:
    """``make demo`` end to end: a real issuer and the example shop as servers, a wallet enrolled from a
    simulated card, four checks through the shop's pages. Not marked slow: it needs only Python, and a
    few seconds."""
    out = io.StringIO()
    summary = run_demo(Console(file=out, width=120), out_dir=str(tmp_path), seed=11)

    # the answers the shop got, as its pages and its session say
    checks = summary["checks"]
    sign_in, age, wrong, real = (checks[k] for k in ("sign_in", "age", "wrong_name", "real_name"))
    assert sign_in.session["signed_in"] and len(sign_in.session["subject"]) >= 22
    assert sign_in.session["answers"]["doc_valid"] is True and sign_in.landing == "/account"
    assert sign_in.session["assurance"] == {"level": "substantial", "chip_auth": "aa", "mode": "pin"}
    assert sign_in.outcome.subject_shared and sign_in.outcome.rp_credentials > 0  # first contact
    assert age.session["answers"]["age_over_18"] is True and (age.landing, age.landing_status) == (
        "/age",
        200,
    )
    assert wrong.session["answers"]["name_equals"] is False and wrong.outcome.disclosed == frozenset()
    assert real.session["answers"]["name_equals"] is True and real.outcome.disclosed == {"name"}
    assert real.session["subject"] == sign_in.session["subject"]  # still signed in, one pairwise subject

    # the leak scan and its positive controls
    assert summary["leaks"] == [] and summary["issuer_leaks"] == []
    assert summary["controls"] and all(summary["controls"].values())

    # what crossed the wire, written where the docs say
    written = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir() if p.is_file()}
    assert set(written) == set(summary["files"]) >= {
        "request.jwt", "request-uri.txt", "presentation.json", "rp-certificate.jwt", "issuer-jwks.json",
        "status-list.jwt", "answers.json", "wire.jsonl",
    }  # fmt: skip
    assert written["request-uri.txt"].startswith("openid4vp://?client_id=verifier_attestation%3Ashop.example")
    assert written["request.jwt"].count(".") == 2
    assert json.loads(written["presentation.json"])["posted"].startswith("response=")  # direct_post.jwt
    assert "vp_token" in json.loads(written["presentation.json"])["received"]
    assert {k["netid_purpose"] for k in json.loads(written["issuer-jwks.json"])["keys"]} >= {"netcert"}
    assert (
        json.loads(written["answers.json"])["wrong_name"]["shop_session"]["answers"]["name_equals"] is False
    )
    wire = [json.loads(line) for line in written["wire.jsonl"].splitlines()]
    assert {e["who"] for e in wire} == {"browser", "wallet"}
    assert any(e["method"] == "POST" and "/netid/response/" in e["url"] for e in wire)
    kept = {name: tmp_path / name for name in (
        "issuer/issuer.db", "issuer/issuer.log", "shop/shop.db", "shop/shop.log", "wallet/wallet.json",
    )}  # fmt: skip
    assert all(path.stat().st_size > 0 for path in kept.values())
    issuer_log = kept["issuer/issuer.log"].read_text(encoding="utf-8").splitlines()
    assert issuer_log and all(json.loads(line)["level"] for line in issuer_log)  # JSON lines

    # our own scan of what the demo wrote and the shop and the issuer logged: no ID number, no birth date
    person = make_card(11).person
    forms = personal_value_forms(personal_number=person.personal_number, date_of_birth=person.date_of_birth)
    logs = [kept[name].read_text(encoding="utf-8") for name in ("issuer/issuer.log", "shop/shop.log")]
    assert find_values([*written.values(), *logs], forms) == []
    # positive control: the scan finds the name where the shop typed it (its name-check request, on the
    # wire), and not in the sign-in request, which never asked
    assert find_values([written["wire.jsonl"]], {"full name": person.full_name}) == ["full name"]
    assert find_values([written["request.jwt"]], {"full name": person.full_name}) == []
    # the console shows the demo's steps, never the ID number
    assert person.personal_number not in out.getvalue() and "the shop learned" in out.getvalue()

    # nothing left running: both servers exited cleanly, their processes are gone, their ports closed
    assert summary["services"] == {"shop": 0, "issuer": 0}
    assert len(summary["pids"]) == 2 and not any(_alive(pid) for pid in summary["pids"])
    assert len(summary["ports"]) == 2 and not any(port_open(port) for port in summary["ports"])
    assert summary["seconds"] < 60


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


@pytest.mark.parametrize("doc", ["README.md"])
def test_documented_examples_run(doc: str) -> None:
    blocks = _python_blocks((ROOT / doc).read_text(encoding="utf-8"))
    assert blocks, f"{doc} has no python examples"
    namespace: dict[str, object] = {}
    for block in blocks:  # blocks build on each other, as a reader would run them
        exec(compile(block, f"{doc}:example", "exec"), namespace)


# a path in backquotes (Markdown's single or reStructuredText's double), optionally with a test name:
# `tests/x.py`, ``tests/x.py::test_y``, `docs/issuer.md`
_CITED = re.compile(
    r"``?((?:tests|specs|docs|netid|issuer_service|relying_party_example|bench|scripts)/[\w./-]+)(?:::(\w+))?``?"
)
_DOCUMENTS = [
    "README.md",
    "CHANGELOG.md",
    *(f"{d}/{p.name}" for d in ("specs", "docs") for p in sorted((ROOT / d).glob("*.md"))),
]
_SOURCE_TREES = ("netid", "issuer_service", "relying_party_example", "tests", "bench", "scripts")


def cited_paths(text: str) -> list[tuple[str, str | None]]:
    """Every repository path (and ``::test`` name) a document or docstring cites in backquotes."""
    return [(m.group(1).rstrip("."), m.group(2)) for m in _CITED.finditer(text)]


def _missing(text: str) -> list[str]:
    missing = []
    for path, test in cited_paths(text):
        target = ROOT / path
        if not target.exists():
            missing.append(path)
        elif test is not None and not re.search(rf"^\s*(?:async )?def {test}\(", target.read_text(), re.M):
            missing.append(f"{path}::{test}")
    # the design brief the project started from is not in the repository: cite the spec that replaced it
    missing += [
        f"the design brief ({m.group(0)})" for m in re.finditer(r"DESIGN(?:\.md)?`*\s*§\s*[\d.]+", text)
    ]
    return missing


def test_the_citation_finder_sees_paths_and_test_names() -> None:
    text = "see `tests/a.py::test_b`, ``docs/c.md`` and `netid/verifier/`; not `pip install x` or `tests`"
    assert cited_paths(text) == [("tests/a.py", "test_b"), ("docs/c.md", None), ("netid/verifier/", None)]
    assert _missing("`tests/no_such_file.py` and `tests/test_layers.py::test_no_such_test`") == [
        "tests/no_such_file.py",
        "tests/test_layers.py::test_no_such_test",
    ]
    assert _missing("as ``DESIGN.md`` §7.5 says, and DESIGN §6") == [
        "the design brief (DESIGN.md`` §7.5)",
        "the design brief (DESIGN §6)",
    ]


@pytest.mark.parametrize("doc", _DOCUMENTS)
def test_every_cited_file_and_test_exists(doc: str) -> None:
    # the privacy table of specs/protocol.md §8 names the test of each property: a renamed or moved test
    # must not leave a property pointing at nothing
    assert _missing((ROOT / doc).read_text(encoding="utf-8")) == [], (
        f"{doc} cites what is not in the repository"
    )


def test_every_file_a_docstring_cites_exists() -> None:
    this = Path(__file__).resolve()  # its examples cite missing files on purpose
    sources = [p for tree in _SOURCE_TREES for p in sorted((ROOT / tree).rglob("*.py")) if p != this]
    missing = {str(p.relative_to(ROOT)): m for p in sources if (m := _missing(p.read_text(encoding="utf-8")))}
    assert missing == {}
