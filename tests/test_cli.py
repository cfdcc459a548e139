"""The `netid` command as a user runs it: exit codes, what it prints, and what it must never print.

Most tests call :func:`netid.cli.main` in process; the ones that matter for scripts (a forged card's exit
code, ``python -m netid``, the console script) run it as a subprocess, as a CI job would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import netid
from netid.card.backends import registry
from netid.card.backends.registry import Backend, ReaderInfo
from netid.cli import EXIT_CODES, ExitCode, main
from netid.errors import NoCardError, TagLostError
from netid.testing.cards import make_card
from netid.testing.leaks import find_values, personal_value_forms

ROOT = Path(__file__).resolve().parent.parent

Capture = pytest.CaptureFixture[str]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "netid", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _number_forms(seed: int) -> dict[str, str]:
    return personal_value_forms(personal_number=make_card(seed).person.personal_number)


def _missing_backend(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``kind`` look not installed, as on a machine without its package."""
    real = registry._BACKENDS[kind]
    fake = Backend(
        kind, real.description, real.factory, requires="netid_tests_no_such_module", install=real.install
    )
    monkeypatch.setitem(registry._BACKENDS, kind, fake)


# --- reading: verdicts and exit codes ----------------------------------------------------------------------


def test_read_simulated_card_shows_verdicts_and_masks_the_number(capsys: Capture) -> None:
    assert main(["card", "read", "--reader", "sim:3"]) == ExitCode.OK == 0
    out = capsys.readouterr().out
    person = make_card(3).person
    assert "passive auth       passed" in out and "active auth        passed" in out
    assert person.personal_number[:6] + "*" * 12 in out
    assert find_values([out], _number_forms(3)) == []


def test_tampered_card_exits_1(capsys: Capture) -> None:
    assert main(["card", "read", "--reader", "sim:3:tampered-dg11"]) == ExitCode.NOT_VERIFIED == 1
    out = capsys.readouterr().out
    assert "passive auth       FAILED dg_hash (DG11)" in out and "NOT VERIFIED" in out
    assert "Personal data read from the chip" not in out


def test_cloned_chip_exits_1(capsys: Capture) -> None:
    assert main(["card", "read", "--reader", "sim:3:cloned"]) == ExitCode.NOT_VERIFIED
    out = capsys.readouterr().out
    assert "passive auth       passed" in out and "active auth        FAILED" in out and "NOT VERIFIED" in out


@pytest.mark.parametrize(
    ("spec", "code", "words"),
    [
        ("sim:4", 0, "active auth        passed"),
        ("sim:4:tampered-dg11", 1, "passive auth       FAILED dg_hash (DG11)"),
        ("sim:4:tampered-dg1", 1, "passive auth       FAILED dg_hash (DG1)"),
        ("sim:4:cloned", 1, "active auth        FAILED"),
    ],
)
def test_a_script_sees_a_forged_card_fail(spec: str, code: int, words: str) -> None:
    result = _run("card", "read", "--reader", spec)
    assert result.returncode == code, result.stderr
    assert words in result.stdout and "Traceback" not in result.stderr


def test_wrong_mrz_is_a_card_error_with_a_hint(capsys: Capture) -> None:
    assert main(["card", "read", "--reader", "sim:3", "--mrz", "X12345678,900101,300101"]) == ExitCode.CARD
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "MRZ data or CAN" in err and "\nhint: " in err
    assert "Traceback" not in err


class _FailingReader:
    name = "test reader"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def connect(self, timeout: float | None = None) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "words"),
    [(NoCardError("nothing answered"), "No ID card found"), (TagLostError("gone"), "Hold it still")],
)
def test_reader_trouble_exits_3(
    error: Exception, words: str, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    import netid.cli.card

    monkeypatch.setattr(netid.cli.card, "open_reader", lambda spec: _FailingReader(error))
    assert main(["card", "read", "--reader", "pcsc", "--can", "123456"]) == ExitCode.READER
    err = capsys.readouterr().err
    assert words in err and "hint:" in err and "Traceback" not in err


# --- one-line errors, never tracebacks ---------------------------------------------------------------------


def _one_line_error(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["card", "read", "--reader", "sim:abc"],
        ["card", "read", "--reader", "sim:1:bogus"],
        ["card", "read", "--reader", "sim:1:tampered-dg5"],  # the test card has no DG5
        ["card", "read", "--reader", "nonsense"],
        ["card", "read", "--can", "12"],
        ["card", "read", "--timeout", "-1"],
        ["card", "rea"],
        ["fly"],
    ],
)
def test_usage_errors_exit_2_in_one_line(argv: list[str], capsys: Capture) -> None:
    assert main(argv) == ExitCode.USAGE == 2
    _one_line_error(capsys.readouterr().err)


def test_a_real_card_needs_its_access_key(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    import netid.cli.card

    monkeypatch.setattr(netid.cli.card, "open_reader", lambda spec: _FailingReader(NoCardError("-")))
    assert main(["card", "read", "--reader", "pcsc"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "--mrz" in err and "--can" in err
    _one_line_error(err)


@pytest.mark.parametrize(
    ("mrz", "words"),
    [
        ("X,1,2", "YYMMDD"),
        ("only-one-field", "DOCUMENT_NUMBER,YYMMDD"),
        ("D1,900101", "DOCUMENT_NUMBER,YYMMDD"),
        ("E12345678,901301,300101", "901301 is not a date"),  # month 13
        ("E12345678,900230,300101", "900230 is not a date"),  # 30 February
        ("E12345678,900100,300101", "900100 is not a date"),  # day 0
        ("E12345678,900101,301131", "301131 is not a date"),  # 31 November
        ("E1234-678,900101,300101", "document number"),
        ("E" * 23 + ",900101,300101", "document number"),
    ],
)
def test_malformed_mrz_argument(mrz: str, words: str, capsys: Capture) -> None:
    assert main(["card", "read", "--reader", "sim:3", "--mrz", mrz]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert words in err
    _one_line_error(err)


def test_mrz_dates_that_exist_are_accepted(capsys: Capture) -> None:
    person = make_card(3).person
    key = person.access_key
    typed = f" {key.document_number.lower()} , {key.date_of_birth},{key.date_of_expiry} "
    assert main(["card", "read", "--reader", "sim:3", "--mrz", typed]) == ExitCode.OK
    from netid.cli.card import parse_mrz_argument

    assert parse_mrz_argument("E1,000229,400229").date_of_birth == "000229"  # 2000 was a leap year


def test_missing_trust_file(tmp_path: Path, capsys: Capture) -> None:
    assert main(["card", "read", "--trust", str(tmp_path / "nope.pem")]) == ExitCode.FILE
    err = capsys.readouterr().err
    assert "nope.pem" in err and "No such file" in err
    _one_line_error(err)


def test_malformed_trust_files(tmp_path: Path, capsys: Capture) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    der_garbage = tmp_path / "garbage.der"
    der_garbage.write_bytes(b"\x30\x03\x02\x01\x01")
    folder = tmp_path / "folder"
    folder.mkdir()
    not_a_ca = tmp_path / "ds.pem"  # a Document Signer certificate is no CSCA
    from cryptography.hazmat.primitives.serialization import Encoding

    not_a_ca.write_bytes(make_card(3).pki.ds_certificate.public_bytes(Encoding.PEM))
    for path in (garbage, der_garbage, folder, not_a_ca):
        assert main(["card", "read", "--trust", str(path)]) == ExitCode.FILE, path
        err = capsys.readouterr().err
        assert str(path) in err
        _one_line_error(err)


def test_trust_files_in_pem_and_der(tmp_path: Path, capsys: Capture) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    csca = make_card(3).pki.csca_certificate
    (tmp_path / "csca.pem").write_bytes(csca.public_bytes(Encoding.PEM) * 2)
    (tmp_path / "csca.der").write_bytes(csca.public_bytes(Encoding.DER))
    argv = ["card", "read", "--reader", "sim:3", "--trust", str(tmp_path / "csca.pem")]
    assert main([*argv, "--trust", str(tmp_path / "csca.der")]) == ExitCode.OK


def test_demo_to_an_unwritable_place(tmp_path: Path, capsys: Capture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert (
        main(["demo", "--out", str(blocker / "out")]) == ExitCode.FILE
    )  # a file is in the way, even for root
    err = capsys.readouterr().err
    assert "--out" in err
    _one_line_error(err)


def test_a_bug_shows_its_traceback_and_exits_70(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    import netid.cli.card

    def broken(*, probe_usb: bool = True) -> list[ReaderInfo]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(netid.cli.card, "list_readers", broken)
    assert main(["card", "readers"]) == ExitCode.INTERNAL == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug" in err and "please report it" in err


def test_interrupted_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    import netid.cli.card

    def interrupted(*, probe_usb: bool = True) -> list[ReaderInfo]:
        raise KeyboardInterrupt

    monkeypatch.setattr(netid.cli.card, "list_readers", interrupted)
    assert main(["card", "readers"]) == ExitCode.INTERRUPTED == 130
    assert "interrupted" in capsys.readouterr().err


# --- missing packages ---------------------------------------------------------------------------------------


def test_missing_backend_names_its_install_command(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    _missing_backend("pcsc", monkeypatch)
    assert main(["card", "read", "--reader", "pcsc", "--can", "123456"]) == ExitCode.MISSING_PACKAGE
    err = capsys.readouterr().err
    assert "Missing package for the pcsc reader backend: pip install 'netid[pcsc]'" in err  # extras intact
    assert "reported a problem" not in err
    _one_line_error(err)


def test_without_rich_the_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")] + ["rich", "rich.console"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import rich` now fails as if it were not installed
    for name in ("netid.cli.output", "netid.cli.card"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert main(["card", "readers"]) == ExitCode.MISSING_PACKAGE
    err = capsys.readouterr().err
    assert "'rich'" in err and "pip install 'netid[cli]'" in err and "Traceback" not in err
    assert main(["--help"]) == ExitCode.OK  # help needs no rich
    assert main(["--version"]) == ExitCode.OK


# --- listing readers ----------------------------------------------------------------------------------------


def test_readers_lists_the_simulator(capsys: Capture) -> None:
    assert main(["card", "readers"]) == 0
    assert "sim" in capsys.readouterr().out


def test_readers_lists_backends_that_are_not_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    _missing_backend("nfc", monkeypatch)
    _missing_backend("pcsc", monkeypatch)
    assert main(["card", "readers"]) == ExitCode.OK
    out = capsys.readouterr().out
    for kind in ("nfc", "pcsc"):
        assert re.search(rf"{kind} +│ not installed: pip install 'netid\[{kind}\]'", out), out


def test_reader_names_are_text_not_markup(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    import netid.cli.card

    name = "OMNIKEY [smart reader] 00"  # pcsc-lite's names often hold brackets
    found = [ReaderInfo("pcsc", name, f"pcsc:{name}")]
    monkeypatch.setattr(netid.cli.card, "list_readers", lambda: found)
    assert main(["card", "readers"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"│ {name} │ pcsc:{name} │" in out


# --- --json -------------------------------------------------------------------------------------------------


def test_json_read(capsys: Capture) -> None:
    assert main(["card", "read", "--reader", "sim:3", "--json"]) == ExitCode.OK
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout is exactly one JSON document; progress went to stderr
    assert report["verified"] is True
    assert report["passive_authentication"]["result"] == "passed"
    assert report["active_authentication"]["result"] == "passed"
    person = make_card(3).person
    assert report["document"]["personal_number_masked"] == person.personal_number[:6] + "*" * 12
    assert report["document"]["date_of_birth"] == person.date_of_birth.isoformat()
    assert find_values([captured.out, captured.err], _number_forms(3)) == []
    # positive control: the scanner finds the number where it is
    assert find_values([json.dumps({"n": person.personal_number})], _number_forms(3)) != []


@pytest.mark.parametrize(
    ("fault", "passive", "active"),
    [("tampered-dg11", "failed", "not_checked"), ("cloned", "passed", "failed")],
)
def test_json_read_of_a_forged_card(fault: str, passive: str, active: str, capsys: Capture) -> None:
    assert main(["card", "read", "--reader", f"sim:3:{fault}", "--json"]) == ExitCode.NOT_VERIFIED
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] is False and report["document"] is None
    assert report["passive_authentication"]["result"] == passive
    assert report["active_authentication"]["result"] == active
    if fault == "tampered-dg11":
        assert report["passive_authentication"]["check"] == "dg_hash"
        assert report["passive_authentication"]["data_group"] == "DG11"


def test_json_readers(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    _missing_backend("pcsc", monkeypatch)
    assert main(["card", "readers", "--json"]) == ExitCode.OK
    listing = json.loads(capsys.readouterr().out)
    assert {"kind": "sim", "name": "NetID simulator (test card)", "spec": "sim"} in listing["readers"]
    pcsc = next(b for b in listing["backends"] if b["kind"] == "pcsc")
    assert pcsc["installed"] is False and pcsc["install"] == "pip install 'netid[pcsc]'"
    sim = next(b for b in listing["backends"] if b["kind"] == "sim")
    assert sim["installed"] is True and sim["install"] is None


def test_json_errors_are_json_too(capsys: Capture) -> None:
    assert main(["card", "read", "--reader", "sim:abc", "--json"]) == ExitCode.USAGE
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["exit_code"] == 2 and error["kind"] == "usage" and "sim:SEED" in error["message"]
    assert captured.err.startswith("error: ")


# --- help, version, entry points ----------------------------------------------------------------------------


def test_no_arguments_prints_help(capsys: Capture) -> None:
    assert main([]) == ExitCode.OK
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: netid") and "card" in captured.out and "demo" in captured.out
    assert captured.err == ""
    assert main(["card"]) == ExitCode.OK
    assert "readers" in capsys.readouterr().out


def test_help_is_plain_text_with_the_exit_codes(capsys: Capture) -> None:
    assert main(["--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert not re.search(r"``|:mod:|:func:|:class:", out)
    for code in ExitCode:
        assert re.search(rf"^ +{int(code)}  \S", out, flags=re.M), code


def test_version(capsys: Capture) -> None:
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out == f"netid {netid.__version__}\n"


def test_entry_points() -> None:
    result = _run("--version")
    assert (result.returncode, result.stdout) == (0, f"netid {netid.__version__}\n")
    result = _run()
    assert result.returncode == 0 and result.stdout.startswith("usage: netid")
    module_cli = subprocess.run(
        [sys.executable, "-m", "netid.cli", "card", "readers", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert module_cli.returncode == 0 and json.loads(module_cli.stdout)["readers"]
    script = Path(sys.executable).with_name("netid")
    if not script.exists():
        pytest.skip("the netid console script is not installed next to this interpreter")
    console = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert (console.returncode, console.stdout) == (0, f"netid {netid.__version__}\n")


# --- the documented table -----------------------------------------------------------------------------------


def test_exit_codes_are_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.M))
    assert {int(code): text for code, text in rows.items()} == {int(c): t for c, t in EXIT_CODES.items()}
    assert set(EXIT_CODES) == set(ExitCode)
