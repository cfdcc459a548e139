"""What a new user installs and reads must be true: the package metadata, the extras the README names, the
Makefile's installs, the figures and file lists the documents give."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _make_rule(target: str) -> tuple[str, list[str]]:
    """(prerequisites, recipe lines) of ``target`` in the Makefile."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n?)*)", makefile, flags=re.M)
    assert match, f"no {target} rule"
    return match[1], match[2].splitlines()


# --- packaging ------------------------------------------------------------------------------------------


def test_license_is_apache_2_in_full_and_in_the_metadata() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) > 150  # the text, not a notice
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression: setuptools warns about the table form
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]  # superseded by the SPDX id
    requires = _pyproject()["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires)


def test_rich_only_in_the_cli_extra() -> None:
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("rich")]
    assert [d for d in extras["cli"] if d.startswith("rich")]
    assert "netid[cli,nfc]" in extras["test-core"]  # the tests drive the command


def test_test_extras_split_on_system_packages() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    assert not [d for d in extras["test-core"] if d.lower().startswith("pyscard")]
    assert extras["test"] == ["netid[test-core,pcsc]"]
    assert "qr" not in extras  # nothing in netid renders a QR code; the tests use segno directly


def test_every_extra_the_docs_name_exists() -> None:
    extras = set(_pyproject()["project"]["optional-dependencies"])
    named: set[str] = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for group in re.findall(r"netid\[([a-z0-9,-]+)\]", doc.read_text(encoding="utf-8")):
            named |= set(group.split(","))
    assert named and named <= extras, named - extras


def test_the_install_section_lists_every_extra() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for cell in re.findall(r"^\| ((?:`[a-z0-9-]+`(?:, )?)+) \|", section, flags=re.M):
        listed |= set(re.findall(r"`([a-z0-9-]+)`", cell))
    assert listed == set(_pyproject()["project"]["optional-dependencies"])


def test_make_demo_installs_the_command() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    base = re.search(r"^\$\(BASE_STAMP\):.*\n\t(.*)", makefile, flags=re.M)
    assert base and "-e '.[cli]'" in base[1]
    _, recipe = _make_rule("demo")
    assert any("-m netid demo" in line for line in recipe)


def test_make_test_fast_needs_no_system_packages() -> None:
    prerequisites, recipe = _make_rule("test-fast")
    assert "TEST_STAMP" not in prerequisites and "system-deps" not in prerequisites
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    fast = re.search(r"^\$\(FAST_STAMP\):.*\n((?:\t.*\n)*)", makefile, flags=re.M)
    assert fast and "ensure-system-deps" not in fast[1] and ".[test-core,dev]" in fast[1]
    assert any(line.strip().startswith("NETID_TEST_FAST=1 ") for line in recipe)
    test_prerequisites, _ = _make_rule("test")
    assert "system-deps" in test_prerequisites  # make test keeps failing without the stack


# --- documents ------------------------------------------------------------------------------------------


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", _doc_files(), ids=lambda p: p.name)
def test_no_issue_status_lines(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert not re.search(r"\b(issue|ticket)\s*#?\d+", text, flags=re.I)


def _full_read_apdus() -> tuple[int, int, int, int]:
    """(PACE extended, BAC extended, PACE short, BAC short) for the test card bench/card_read.py reads."""
    from netid.card.icao.read_document import read_document
    from netid.card.simulator import SimulatedCard, SimulatorReader
    from netid.testing.cards import make_card

    extended_atr = bytes.fromhex("80" + "730000C0" + "829000")  # as bench/card_read.py: BAC chips announce it
    pace, bac = make_card(seed=1), make_card(seed=1, pace_parameter_ids=())
    counts = []
    for extended in (True, False):
        for card in (pace, bac):
            image = card.image.replace(extended_length=extended)
            if extended and card is bac:
                image = image.replace(historical_bytes=extended_atr)
            readout = read_document(
                SimulatorReader(SimulatedCard(image)).connect(), pace.access_key, aa_challenge=bytes(8)
            )
            assert readout.extended_length is extended
            counts.append(readout.apdu_count)
    return counts[0], counts[1], counts[2], counts[3]


@pytest.mark.parametrize("doc", ["README.md", "docs/hardware.md"])
def test_documented_apdu_counts_are_those_of_a_read(doc: str) -> None:
    text = " ".join((ROOT / doc).read_text(encoding="utf-8").split())
    found = re.search(
        r"\*\*(\d+) APDUs\*\* with PACE and extended length, (\d+) with BAC; (\d+) / (\d+) with short APDUs",
        text,
    )
    assert found, f"{doc} does not give the full-read APDU counts"
    assert tuple(int(n) for n in found.groups()) == _full_read_apdus()


def test_provenance_lists_every_vector_file() -> None:
    folder = ROOT / "specs" / "vectors"
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"PROVENANCE.md"}
    provenance = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    listed = re.findall(r"^- `([^`]+)` — \S", provenance, flags=re.M)
    assert len(listed) == len(set(listed))
    assert set(listed) == files
